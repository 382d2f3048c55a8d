package evol

import (
	"embed"
	"fmt"

	"github.com/synthloop/synthloop/internal/prompt"
)

// The prompts are our own wording of the WizardLM operations, one file per
// operation and language, so that each can be read as the exact prompt sent
// and its hash, recorded on every record, changes exactly when it does. The
// task to evolve sits between <<< and >>> lines; the verdict line of the
// equality judge is English in every language, as the parser reads it.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

func loadPrompt(kind, lang string) (*prompt.Template, error) {
	p, err := prompt.ForLanguage(templateFS, kind, lang, nil)
	if err != nil {
		return nil, fmt.Errorf("evol: %w", err)
	}
	return p, nil
}

type evolveData struct{ Prompt string }

type equalData struct{ Before, After string }

// prompts holds a language's templates: one per operation and the judge's.
type prompts struct {
	ops   map[string]*prompt.Template
	equal *prompt.Template
}

func loadPrompts(lang string) (*prompts, error) {
	ps := &prompts{ops: map[string]*prompt.Template{}}
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
func (ps *prompts) evolve(op, task string) (string, *prompt.Template, error) {
	p := ps.ops[op]
	s, err := p.Render(evolveData{Prompt: task})
	return s, p, err
}
