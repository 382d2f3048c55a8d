package faq

import (
	"embed"
	"encoding/json"
	"errors"

	"github.com/synthloop/synthloop/grounding"
	"github.com/synthloop/synthloop/internal/prompt"
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

// ParaphrasePrompt asks for k ways to ask e's question and followUps
// follow-up questions that e's answer also answers.
func ParaphrasePrompt(e Entry, k, followUps int) string {
	return paraphrasePrompt.MustRender(struct {
		Nonce, Question, Answer string
		K, FollowUps            int
	}{grounding.Nonce(e.Question, e.Answer), e.Question, e.Answer, k, followUps})
}

// AnswerSystem is the system prompt of the answering requests: the persona,
// the rules, and the entry as delimited reference data.
func AnswerSystem(e Entry, persona string) string {
	if persona == "" {
		persona = DefaultPersona
	}
	return answerPrompt.MustRender(struct{ Nonce, Persona, Question, Answer string }{
		grounding.Nonce(e.Question, e.Answer), persona, e.Question, e.Answer})
}

func retryText(problem string, followUps int) string {
	return retryPrompt.MustRender(struct {
		Problem   string
		FollowUps int
	}{problem, followUps})
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

func schema(followUps bool) json.RawMessage {
	if followUps {
		return json.RawMessage(`{"type":"object","properties":{"questions":{"type":"array","items":{"type":"string"}},` +
			`"follow_ups":{"type":"array","items":{"type":"string"}}},"required":["questions","follow_ups"],"additionalProperties":false}`)
	}
	return json.RawMessage(`{"type":"object","properties":{"questions":{"type":"array","items":{"type":"string"}}},` +
		`"required":["questions"],"additionalProperties":false}`)
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
