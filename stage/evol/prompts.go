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

func loadPrompt(files prompt.Files, k prompt.Kind, lang string) (*prompt.Template, error) {
	p, err := files.Pick(templateFS, k, lang)
	if err != nil {
		return nil, fmt.Errorf("evol: %w", err)
	}
	return p, nil
}

type evolveData struct {
	Prompt string `doc:"the task to evolve: the instruction, then its input after a blank line"`
}

type equalData struct {
	Before string `doc:"the task before the evolution"`
	After  string `doc:"the evolved task"`
}

// opDocs says what each operation's prompt asks for.
var opDocs = map[string]string{
	OpConstraints:     "In-depth evolving: add exactly one constraint or requirement an answer must satisfy.",
	OpDeepen:          "In-depth evolving: ask about the task's subject in more depth and over a wider scope.",
	OpConcretize:      "In-depth evolving: replace a general idea in the task with a more specific one.",
	OpReasoning:       "In-depth evolving: make the task call for several explicit steps of reasoning.",
	OpComplicateInput: "In-depth evolving: give the task input data written out in full (a table, code, JSON, a formula) that it depends on.",
	OpBreadth:         "In-breadth evolving: write a new task of the same domain about something less common in it.",
}

// kinds are the prompts a user may replace under `prompts:`: one per
// operation, and the equality judge's.
var kinds = func() []prompt.Kind {
	var ks []prompt.Kind
	for _, op := range Operations {
		ks = append(ks, prompt.Kind{Name: op, Doc: opDocs[op] + " The reply is the evolved task alone.",
			Samples: []any{evolveData{Prompt: "Sort the list.\n\n3, 1, 2"}}})
	}
	return append(ks, prompt.Kind{Name: "equal",
		Doc:     "The equality judge: does the evolved task ask for anything the first does not? The reply must end with a line `Verdict: SAME` or `Verdict: DIFFERENT`.",
		Samples: []any{equalData{Before: "Sort the list.", After: "Sort the list in descending order."}}})
}()

func init() { prompt.Declare("evol", kinds...) }

func kind(name string) prompt.Kind {
	for _, k := range kinds {
		if k.Name == name {
			return k
		}
	}
	panic("evol: no prompt kind " + name)
}

// prompts holds a language's templates: one per operation and the judge's.
type prompts struct {
	ops   map[string]*prompt.Template
	equal *prompt.Template
}

func loadPrompts(files prompt.Files, lang string) (*prompts, error) {
	ps := &prompts{ops: map[string]*prompt.Template{}}
	for _, op := range Operations {
		p, err := loadPrompt(files, kind(op), lang)
		if err != nil {
			return nil, err
		}
		ps.ops[op] = p
	}
	var err error
	if ps.equal, err = loadPrompt(files, kind("equal"), lang); err != nil {
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
