package docqa

import (
	"embed"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/grounding"
	"github.com/synthloop/synthloop/ingest"
	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
)

// The prompts are files so they are reviewed as prompts, and their hash,
// recorded on every record, changes exactly when they do.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	generatePrompt = prompt.Must(templateFS, "generate")
	retryPrompt    = prompt.Must(templateFS, "retry")
)

type generateData struct {
	Nonce  string `doc:"a nonce derived from the chunk: the document's markers are <document-NONCE> and </document-NONCE>, which the text cannot forge"`
	Source string `doc:"the document's file name"`
	Part   string `doc:"which chunk of the document this is, e.g. 2 of 5"`
	Text   string `doc:"the chunk's text"`
	N      int    `doc:"the number of pairs to ask for"`
}

type retryData struct {
	Problem string `doc:"why the last reply could not be used"`
	N       int    `doc:"the number of pairs to ask for"`
}

// The prompts a user may replace under `prompts:`.
var (
	kindGenerate = prompt.Kind{Name: "generate",
		Doc: `Asks for .N question-answer pairs about the chunk; the reply must be the JSON object {"pairs": [{"question", "answer", "evidence"}]}, evidence quoted from the chunk.`,
		Samples: []any{
			generateData{Nonce: "3f2a9c", Source: "handbook.md", Part: "1 of 2", Text: "Returns are free within 30 days.", N: 3},
			generateData{Nonce: "3f2a9c", Source: "handbook.md", Part: "2 of 2", Text: "Shipping takes two days.", N: 1},
		}}
	kindRetry = prompt.Kind{Name: "retry",
		Doc:     "The follow-up after a reply that did not parse, asking for the JSON object again.",
		Samples: []any{retryData{Problem: "text after the JSON object", N: 3}, retryData{Problem: "the reply is empty", N: 1}}}
	kinds = []prompt.Kind{kindGenerate, kindRetry}
)

func init() { prompt.Declare("docqa", kinds...) }

// prompts are a stage's templates: the embedded ones or the user's.
type prompts struct{ generate, retry *prompt.Template }

func loadPrompts(files prompt.Files) (*prompts, error) {
	ps := &prompts{}
	if err := files.PickAll(templateFS, "", prompt.Slot{Dst: &ps.generate, Kind: kindGenerate}, prompt.Slot{Dst: &ps.retry, Kind: kindRetry}); err != nil {
		return nil, fmt.Errorf("docqa: %w", err)
	}
	return ps, nil
}

// Prompt is the generation prompt for a chunk that is part index+1 of total
// parts of its document. The chunk sits in a block whose markers carry a
// nonce derived from its text, so it cannot close its own block; the task
// is stated before the block and again after it, so an instruction at the
// end of a document is not the last word.
func Prompt(c ingest.Chunk, total, n int) string {
	s, err := (&prompts{generate: generatePrompt}).prompt(c, total, n)
	if err != nil {
		panic(err) // the embedded template renders: the golden tests say so
	}
	return s
}

func (ps *prompts) prompt(c ingest.Chunk, total, n int) (string, error) {
	return ps.generate.Render(generateData{
		Nonce: grounding.Nonce(c.Source, c.Text), Source: c.Source, Part: fmt.Sprintf("%d of %d", c.Index+1, total),
		Text: c.Text, N: n,
	})
}

func retryText(problem string, n int) string {
	return (&prompts{retry: retryPrompt}).retryText(problem, n)
}

// retryText renders the follow-up, which must be sent.
func (ps *prompts) retryText(problem string, n int) string {
	return ps.retry.RenderOr(retryPrompt, retryData{Problem: problem, N: n})
}

// TemplateHashes returns the hash of each prompt template by name.
func TemplateHashes() map[string]string {
	return map[string]string{"generate": generatePrompt.Hash, "retry": retryPrompt.Hash, "grounding": grounding.TemplateHash()}
}

// pairsSchema is the reply's JSON schema, asked for with structured on.
var pairsSchema = structured.MustCompile(`{"type":"object","properties":{"pairs":{"type":"array","items":{"type":"object",`+
	`"properties":{"question":{"type":"string"},"answer":{"type":"string"},"evidence":{"type":"string"}},`+
	`"required":["question","answer","evidence"],"additionalProperties":false}}},"required":["pairs"],"additionalProperties":false}`, "qa_pairs")

// Pair is one question-and-answer pair as the model wrote it.
type Pair struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
	Evidence string `json:"evidence"`
}

// ParseReply reads a generation reply strictly: one JSON object
// {"pairs": [...]} and nothing else, except that one Markdown code fence
// around it is allowed (models add one even when told not to). Unknown
// keys, trailing text, a missing or empty list are errors; a pair with an
// empty field is returned as it is, for the caller to reject on its own.
func ParseReply(s string) ([]Pair, error) {
	var r struct {
		Pairs *[]Pair `json:"pairs"`
	}
	if err := prompt.DecodeJSON(s, &r); err != nil {
		return nil, err
	}
	if r.Pairs == nil {
		return nil, errors.New(`the JSON object has no "pairs" list`)
	}
	if len(*r.Pairs) == 0 {
		return nil, errors.New(`the "pairs" list is empty`)
	}
	return *r.Pairs, nil
}
