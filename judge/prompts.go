package judge

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"strings"
	"text/template"
)

// The prompts are files so they can be reviewed as prompts, and so their
// hash, recorded on every judged record, changes exactly when they do.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

type prompt struct {
	name string
	hash string // hex sha256 of the template file
	tmpl *template.Template
}

func loadPrompt(kind string) (*prompt, error) {
	name := "templates/" + kind + ".tmpl"
	b, err := templateFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("judge: no %s prompt: %w", kind, err)
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("judge: parse %s: %w", name, err)
	}
	sum := sha256.Sum256(b)
	return &prompt{name: name, hash: hex.EncodeToString(sum[:]), tmpl: t}, nil
}

func mustPrompt(kind string) *prompt {
	p, err := loadPrompt(kind)
	if err != nil {
		panic(err) // the templates are embedded: a failure is a build defect
	}
	return p
}

var (
	additivePrompt = mustPrompt("pointwise_additive")
	scalePrompt    = mustPrompt("pointwise_scale")
	pairwisePrompt = mustPrompt("pairwise")
	retryPrompt    = mustPrompt("retry")
)

func (p *prompt) render(data any) string {
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, data); err != nil {
		// Only a mismatch between a template and its data struct gets here,
		// and the golden tests render every template.
		panic(fmt.Sprintf("judge: render %s: %v", p.name, err))
	}
	return strings.TrimRight(buf.String(), "\n")
}

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
	for _, p := range []*prompt{additivePrompt, scalePrompt, pairwisePrompt, retryPrompt} {
		out[strings.TrimSuffix(strings.TrimPrefix(p.name, "templates/"), ".tmpl")] = p.hash
	}
	return out
}
