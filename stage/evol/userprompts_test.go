package evol

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/prompt"
)

func TestEmbeddedPromptsRenderSamples(t *testing.T) {
	if err := prompt.CheckEmbedded(templateFS, kinds, "en", "ja"); err != nil {
		t.Error(err)
	}
}

func TestUserPrompts(t *testing.T) {
	dir := t.TempDir()
	mine := filepath.Join(dir, "deepen.tmpl")
	if err := os.WriteFile(mine, []byte("Make this harder: {{.Prompt}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "equal.tmpl")
	if err := os.WriteFile(typo, []byte("{{.Befor}} vs {{.After}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Model = "teacher"
	c.Prompts = prompt.Files{OpDeepen: mine}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "ja"} {
		ps, err := loadPrompts(c.Prompts, lang)
		if err != nil {
			t.Fatal(err)
		}
		got, p, err := ps.evolve(OpDeepen, "Sort the list.")
		if err != nil || got != "Make this harder: Sort the list." || p.Name != mine {
			t.Errorf("%s: evolve = %q from %s, %v; want the user's template", lang, got, p.Name, err)
		}
	}
	c.Prompts = prompt.Files{"equal": typo}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `no field "Befor" (did you mean "Before"?)`) {
		t.Errorf("Validate = %v, want the misspelt field named", err)
	}
	c.Prompts = prompt.Files{"deppen": mine}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `did you mean "deepen"?`) {
		t.Errorf("Validate = %v, want the closest kind", err)
	}
}
