package docqa

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/ingest"
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
	c.Model, c.Paths = "teacher", []string{dir}
	c.Prompts = prompt.Files{"generate": write("gen.tmpl", "{{.N}} pairs from {{.Source}}:\n{{.Text}}"), "retry": write("retry.tmpl", "Again ({{.Problem}})")}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	got, err := s.ps.prompt(ingest.Chunk{Source: "a.md", Text: "Facts."}, 1, 2)
	if err != nil || got != "2 pairs from a.md:\nFacts." {
		t.Errorf("prompt = %q, %v; want the user's template", got, err)
	}
	if got := s.ps.retryText("bad", 2); got != "Again (bad)" {
		t.Errorf("retry = %q", got)
	}
	c.Prompts = prompt.Files{"generate": write("typo.tmpl", "{{.Txt}}")}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `no field "Txt" (did you mean "Text"?)`) {
		t.Errorf("Validate = %v, want the misspelt field named", err)
	}
}
