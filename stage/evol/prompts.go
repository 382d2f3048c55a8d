package evol

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"strings"
	"text/template"
)

// The prompts are our own wording of the WizardLM operations, one file per
// operation and language, so that each can be read as the exact prompt sent
// and its hash, recorded on every record, changes exactly when it does. The
// task to evolve sits between <<< and >>> lines; the verdict line of the
// equality judge is English in every language, as the parser reads it.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

// prompt is one embedded template and the hash of its file.
type prompt struct {
	name string
	hash string // hex sha256 of the template file
	tmpl *template.Template
}

func loadPrompt(kind, lang string) (*prompt, error) {
	name := fmt.Sprintf("templates/%s.%s.tmpl", kind, lang)
	b, err := templateFS.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("evol: no %s prompt for language %q", kind, lang)
	}
	t, err := template.New(name).Option("missingkey=error").Parse(string(b))
	if err != nil {
		return nil, fmt.Errorf("evol: parse %s: %w", name, err)
	}
	sum := sha256.Sum256(b)
	return &prompt{name: name, hash: hex.EncodeToString(sum[:]), tmpl: t}, nil
}

func (p *prompt) render(data any) (string, error) {
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("evol: render %s: %w", p.name, err)
	}
	return strings.TrimRight(buf.String(), "\n"), nil
}

type evolveData struct{ Prompt string }

type equalData struct{ Before, After string }

// prompts holds a language's templates: one per operation and the judge's.
type prompts struct {
	ops   map[string]*prompt
	equal *prompt
}

func loadPrompts(lang string) (*prompts, error) {
	ps := &prompts{ops: map[string]*prompt{}}
	for _, op := range Operations {
		p, err := loadPrompt(op, lang)
		if err != nil {
			return nil, err
		}
		ps.ops[op] = p
	}
	var err error
	if ps.equal, err = loadPrompt("equal", lang); err != nil {
		return nil, err
	}
	return ps, nil
}

// evolve renders the evolving prompt of op for task.
func (ps *prompts) evolve(op, task string) (string, *prompt, error) {
	p := ps.ops[op]
	s, err := p.render(evolveData{Prompt: task})
	return s, p, err
}
