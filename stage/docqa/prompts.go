package docqa

import (
	"embed"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/grounding"
	"github.com/synthloop/synthloop/ingest"
	"github.com/synthloop/synthloop/internal/prompt"
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
	Nonce, Source, Part, Text string
	N                         int
}

// Prompt is the generation prompt for a chunk that is part index+1 of total
// parts of its document. The chunk sits in a block whose markers carry a
// nonce derived from its text, so it cannot close its own block; the task
// is stated before the block and again after it, so an instruction at the
// end of a document is not the last word.
func Prompt(c ingest.Chunk, total, n int) string {
	return generatePrompt.MustRender(generateData{
		Nonce: grounding.Nonce(c.Source, c.Text), Source: c.Source, Part: fmt.Sprintf("%d of %d", c.Index+1, total),
		Text: c.Text, N: n,
	})
}

func retryText(problem string, n int) string {
	return retryPrompt.MustRender(struct {
		Problem string
		N       int
	}{problem, n})
}

// TemplateHashes returns the hash of each prompt template by name.
func TemplateHashes() map[string]string {
	return map[string]string{"generate": generatePrompt.Hash, "retry": retryPrompt.Hash, "grounding": grounding.TemplateHash()}
}

// schema is the reply's JSON schema, sent when json_schema is on.
var schema = json.RawMessage(`{"type":"object","properties":{"pairs":{"type":"array","items":{"type":"object",` +
	`"properties":{"question":{"type":"string"},"answer":{"type":"string"},"evidence":{"type":"string"}},` +
	`"required":["question","answer","evidence"],"additionalProperties":false}}},"required":["pairs"],"additionalProperties":false}`)

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
