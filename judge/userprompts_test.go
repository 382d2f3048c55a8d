package judge

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/model"
)

func TestEmbeddedPromptsRenderSamples(t *testing.T) {
	if err := prompt.CheckEmbedded(templateFS, PromptSet.Kinds); err != nil {
		t.Error(err)
	}
}

// recordingBackend answers every request with reply and keeps the prompts.
type recordingBackend struct {
	mu      sync.Mutex
	reply   string
	prompts []string
}

func (b *recordingBackend) Generate(_ context.Context, req model.Request) (*model.Response, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.prompts = append(b.prompts, req.Messages[len(req.Messages)-1].Content)
	n := max(req.N, 1)
	resp := &model.Response{Model: "m"}
	for range n {
		resp.Choices = append(resp.Choices, model.Choice{Text: b.reply, FinishReason: model.FinishStop})
	}
	return resp, nil
}

func TestUserJudgePrompts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cfg := Config{Model: "j", JudgePrompts: prompt.Files{
		"pointwise_additive": write("add.tmpl", "Rate {{.Answer}} for {{.Prompt}} from {{.Min}} to {{.Max}}."),
		"pairwise":           write("pair.tmpl", "{{.Prompt}}: A={{.A}} B={{.B}}"),
		"retry":              write("retry.tmpl", "Again, ending with {{.Form}}."),
	}}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	b := &recordingBackend{reply: "Score: 4"}
	open := func(string) (Backend, error) { return Backend{Backend: b, Name: "j", Provider: "p", Model: "m"}, nil }
	j, err := cfg.NewJudge(open, "")
	if err != nil {
		t.Fatal(err)
	}
	res, err := j.Score(context.Background(), Item{Prompt: "Q", Answer: "A"})
	if err != nil || res.Score != 4 {
		t.Fatalf("Score = %+v, %v", res, err)
	}
	if b.prompts[0] != "Rate A for Q from 0 to 5." {
		t.Errorf("pointwise prompt = %q, want the user's template", b.prompts[0])
	}
	if res.Template != j.(*Pointwise).p.Hash || j.(*Pointwise).p.Name != cfg.JudgePrompts["pointwise_additive"] {
		t.Errorf("result template %s is not the user's file's hash", res.Template)
	}
	b.reply, b.prompts = "no verdict here", nil
	c, err := cfg.NewComparer(open, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Compare(context.Background(), "Q", "x", "y"); err != nil {
		t.Fatal(err)
	}
	if len(b.prompts) < 2 || b.prompts[0] != "Q: A=x B=y" || b.prompts[1] != "Again, ending with Winner: A." {
		t.Errorf("pairwise prompts = %q, want the user's templates", b.prompts)
	}
	cfg.JudgePrompts = prompt.Files{"pairwse": cfg.JudgePrompts["pairwise"]}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `judge_prompts: unknown kind "pairwse" (did you mean "pairwise"?)`) {
		t.Errorf("Validate = %v, want the closest kind under judge_prompts", err)
	}
	cfg.JudgePrompts = prompt.Files{"pointwise_scale": write("typo.tmpl", "{{range .Criterias}}{{.}}{{end}}")}
	if err := cfg.Validate(); err == nil || !strings.Contains(err.Error(), `judge_prompts.pointwise_scale:`) || !strings.Contains(err.Error(), `(did you mean "Criteria"?)`) {
		t.Errorf("Validate = %v, want the misspelt field named", err)
	}
}
