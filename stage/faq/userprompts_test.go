package faq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/prompt"
)

func TestEmbeddedPromptsRenderSamples(t *testing.T) {
	if err := prompt.CheckEmbedded(templateFS, kinds); err != nil {
		t.Error(err)
	}
}

func TestUserPrompts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	c := DefaultConfig()
	c.Model = "teacher"
	c.Prompts = prompt.Files{"answer": write("answer.tmpl", "{{.Persona}} Q: {{.Question}} A: {{.Answer}}")}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	e := Entry{Question: "Refunds?", Answer: "30 days."}
	if got, err := s.ps.answerSystem(e, ""); err != nil || got != DefaultPersona+" Q: Refunds? A: 30 days." {
		t.Errorf("answer system = %q, %v; want the user's template", got, err)
	}
	if got, _ := s.ps.paraphrasePrompt(e, 2, 1); got != ParaphrasePrompt(e, 2, 1) {
		t.Error("an unnamed kind does not keep the embedded template")
	}
	c.Prompts = prompt.Files{"paraphrase": write("typo.tmpl", "{{if .FollowUps}}{{.Followups}}{{end}}")}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `no field "Followups" (did you mean "FollowUps"?)`) {
		t.Errorf("Validate = %v, want the misspelt field named", err)
	}
}
