package faq

import (
	"embed"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/grounding"
	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
)

// The prompts are files so they are reviewed as prompts, and their hash,
// recorded on every record, changes exactly when they do.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	paraphrasePrompt = prompt.Must(templateFS, "paraphrase")
	answerPrompt     = prompt.Must(templateFS, "answer")
	retryPrompt      = prompt.Must(templateFS, "retry")
)

// DefaultPersona is the answering model's role when the config sets no system prompt.
const DefaultPersona = "You are a helpful customer-support assistant."

type paraphraseData struct {
	Nonce     string `doc:"a nonce derived from the entry, for the markers around it"`
	Question  string `doc:"the entry's question"`
	Answer    string `doc:"the entry's answer"`
	K         int    `doc:"how many ways to ask the question"`
	FollowUps int    `doc:"how many follow-up questions the answer also answers (0: none)"`
}

type answerData struct {
	Nonce    string `doc:"a nonce derived from the entry, for the markers around it"`
	Persona  string `doc:"the assistant's persona: the stage's system setting, or a support assistant"`
	Question string `doc:"the entry's question"`
	Answer   string `doc:"the entry's answer"`
}

type retryData struct {
	Problem   string `doc:"why the last reply could not be used"`
	FollowUps int    `doc:"how many follow-ups the reply must hold (0: no follow_ups list)"`
}

// The prompts a user may replace under `prompts:`.
var (
	kindParaphrase = prompt.Kind{Name: "paraphrase",
		Doc: `Asks for .K ways to ask the entry's question and .FollowUps follow-ups; the reply must be the JSON object {"questions": [...], "follow_ups": [...]} (follow_ups only when asked for).`,
		Samples: []any{
			paraphraseData{Nonce: "9c1e", Question: "How do I get a refund?", Answer: "Within 30 days.", K: 3, FollowUps: 2},
			paraphraseData{Nonce: "9c1e", Question: "How do I get a refund?", Answer: "Within 30 days.", K: 1, FollowUps: 1},
			paraphraseData{Nonce: "9c1e", Question: "How do I get a refund?", Answer: "Within 30 days.", K: 1},
		}}
	kindAnswer = prompt.Kind{Name: "answer",
		Doc:     "The system prompt of the answering requests: the persona, the rules, and the entry as reference data.",
		Samples: []any{answerData{Nonce: "9c1e", Persona: DefaultPersona, Question: "How do I get a refund?", Answer: "Within 30 days."}}}
	kindRetry = prompt.Kind{Name: "retry",
		Doc:     "The follow-up after a paraphrase reply that did not parse, asking for the JSON object again.",
		Samples: []any{retryData{Problem: "text after the JSON object", FollowUps: 2}, retryData{Problem: "the reply is empty"}}}
	kinds = []prompt.Kind{kindParaphrase, kindAnswer, kindRetry}
)

func init() { prompt.Declare("faq", kinds...) }

// prompts are a stage's templates: the embedded ones or the user's.
type prompts struct{ paraphrase, answer, retry *prompt.Template }

var embedded = &prompts{paraphrasePrompt, answerPrompt, retryPrompt}

func loadPrompts(files prompt.Files) (*prompts, error) {
	ps := &prompts{}
	if err := files.PickAll(templateFS, "", prompt.Slot{Dst: &ps.paraphrase, Kind: kindParaphrase},
		prompt.Slot{Dst: &ps.answer, Kind: kindAnswer}, prompt.Slot{Dst: &ps.retry, Kind: kindRetry}); err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	return ps, nil
}

// ParaphrasePrompt asks for k ways to ask e's question and followUps
// follow-up questions that e's answer also answers.
func ParaphrasePrompt(e Entry, k, followUps int) string {
	return must(embedded.paraphrasePrompt(e, k, followUps))
}

// AnswerSystem is the system prompt of the answering requests: the persona,
// the rules, and the entry as delimited reference data.
func AnswerSystem(e Entry, persona string) string {
	return must(embedded.answerSystem(e, persona))
}

func retryText(problem string, followUps int) string { return embedded.retryText(problem, followUps) }

// must is for the embedded templates, which the golden tests render.
func must(s string, err error) string {
	if err != nil {
		panic(err)
	}
	return s
}

func (ps *prompts) paraphrasePrompt(e Entry, k, followUps int) (string, error) {
	return ps.paraphrase.Render(paraphraseData{grounding.Nonce(e.Question, e.Answer), e.Question, e.Answer, k, followUps})
}

func (ps *prompts) answerSystem(e Entry, persona string) (string, error) {
	if persona == "" {
		persona = DefaultPersona
	}
	return ps.answer.Render(answerData{grounding.Nonce(e.Question, e.Answer), persona, e.Question, e.Answer})
}

// retryText renders the follow-up, which must be sent.
func (ps *prompts) retryText(problem string, followUps int) string {
	return ps.retry.RenderOr(retryPrompt, retryData{problem, followUps})
}

// Evidence is what an answer is checked against: the entry itself.
func Evidence(e Entry) string {
	return "Question: " + e.Question + "\nAnswer: " + e.Answer
}

// TemplateHashes returns the hash of each prompt template by name.
func TemplateHashes() map[string]string {
	return map[string]string{"paraphrase": paraphrasePrompt.Hash, "answer": answerPrompt.Hash, "retry": retryPrompt.Hash,
		"grounding": grounding.TemplateHash()}
}

// paraphraseSchema is the paraphrase reply's JSON schema, asked for with
// structured on: follow_ups only when the dialogues have more turns.
func paraphraseSchema(followUps bool) *structured.Schema {
	if followUps {
		return structured.MustCompile(`{"type":"object","properties":{"questions":{"type":"array","items":{"type":"string"}},`+
			`"follow_ups":{"type":"array","items":{"type":"string"}}},"required":["questions","follow_ups"],"additionalProperties":false}`, "faq_paraphrases")
	}
	return structured.MustCompile(`{"type":"object","properties":{"questions":{"type":"array","items":{"type":"string"}}},`+
		`"required":["questions"],"additionalProperties":false}`, "faq_paraphrases")
}

// Paraphrases is a parsed paraphrase reply.
type Paraphrases struct {
	Questions []string `json:"questions"`
	FollowUps []string `json:"follow_ups"`
}

// ParseParaphrases reads a paraphrase reply strictly: one JSON object with a
// non-empty "questions" list of strings (and, when wantFollowUps, a non-empty
// "follow_ups" list) and nothing else, except one Markdown code fence around
// it. Unknown keys and trailing text are errors.
func ParseParaphrases(s string, wantFollowUps bool) (Paraphrases, error) {
	var p Paraphrases
	var r struct {
		Questions *[]string `json:"questions"`
		FollowUps *[]string `json:"follow_ups"`
	}
	if err := prompt.DecodeJSON(s, &r); err != nil {
		return p, err
	}
	if r.Questions == nil || len(*r.Questions) == 0 {
		return p, errors.New(`no "questions" list, or an empty one`)
	}
	p.Questions = *r.Questions
	if wantFollowUps {
		if r.FollowUps == nil || len(*r.FollowUps) == 0 {
			return p, errors.New(`no "follow_ups" list, or an empty one`)
		}
		p.FollowUps = *r.FollowUps
	}
	return p, nil
}
