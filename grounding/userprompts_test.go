package grounding

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
)

func TestEmbeddedPromptsRenderSamples(t *testing.T) {
	if err := prompt.CheckEmbedded(templateFS, PromptSet.Kinds); err != nil {
		t.Error(err)
	}
}

// replies answers with its texts in turn and keeps the last message of
// each request.
type replies struct {
	mu   sync.Mutex
	text []string
	got  []string
}

func (r *replies) Generate(_ context.Context, req model.Request) (*model.Response, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.got = append(r.got, req.Messages[len(req.Messages)-1].Content)
	t := r.text[0]
	r.text = r.text[1:]
	return &model.Response{Choices: []model.Choice{{Text: t, FinishReason: model.FinishStop}}}, nil
}

func TestUserGroundingPrompts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := DefaultConfig()
	cfg.GroundingPrompts = prompt.Files{"grounding": write("g.tmpl", "Does {{.Evidence}} support {{.Answer}}?"), "retry": write("r.tmpl", "Again: {{.Problem}}")}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := &replies{text: []string{"no idea", "Score: 5"}}
	c, err := cfg.NewChecker(func(string) (judge.Backend, error) { return judge.Backend{Backend: b, Name: "g"}, nil }, "g")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Judge.Score(context.Background(), Item{Question: "Q", Evidence: "E", Answer: "A"})
	if err != nil || res.Score != 5 {
		t.Fatalf("Score = %+v, %v", res, err)
	}
	if len(b.got) != 2 || b.got[0] != "Does E support A?" || !strings.HasPrefix(b.got[1], "Again: ") || res.Template != c.Judge.TemplateHash() {
		t.Errorf("prompts sent = %q (template %s), want the user's", b.got, res.Template)
	}
	cfg.GroundingPrompts = prompt.Files{"grounding": write("typo.tmpl", "{{.Evidense}}")}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `grounding_prompts.grounding:`) || !strings.Contains(err.Error(), `(did you mean "Evidence"?)`) {
		t.Errorf("Validate = %v, want the misspelt field under grounding_prompts", err)
	}
}
