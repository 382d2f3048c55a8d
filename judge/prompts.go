package judge

import (
	"embed"
	"strings"

	"github.com/synthloop/synthloop/internal/prompt"
)

// The prompts are files so they can be reviewed as prompts, and so their
// hash, recorded on every judged record, changes exactly when they do.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

func mustPrompt(kind string) *prompt.Template { return prompt.Must(templateFS, kind) }

var (
	additivePrompt = mustPrompt("pointwise_additive")
	scalePrompt    = mustPrompt("pointwise_scale")
	pairwisePrompt = mustPrompt("pairwise")
	retryPrompt    = mustPrompt("retry")
)

type pointwiseData struct {
	Criteria []string
	Min, Max string
	Prompt   string
	Answer   string
}

type pairwiseData struct {
	Criteria []string
	Prompt   string
	A, B     string
}

type retryData struct{ Problem, Form string }

// TemplateHashes returns the hash of every judge prompt template by name.
func TemplateHashes() map[string]string {
	out := map[string]string{}
	for _, p := range []*prompt.Template{additivePrompt, scalePrompt, pairwisePrompt, retryPrompt} {
		out[strings.TrimSuffix(strings.TrimPrefix(p.Name, "templates/"), ".tmpl")] = p.Hash
	}
	return out
}
