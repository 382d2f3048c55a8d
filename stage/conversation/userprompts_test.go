package conversation

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
	mine := filepath.Join(dir, "user.tmpl")
	if err := os.WriteFile(mine, []byte("You are {{.Persona}}. Message {{.Turn}}.{{range .Transcript}} [{{.Role}}] {{.Content}}{{end}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	typo := filepath.Join(dir, "typo.tmpl")
	if err := os.WriteFile(typo, []byte("{{range .Transcript}}{{.Text}}{{end}}"), 0o644); err != nil {
		t.Fatal(err)
	}
	c := DefaultConfig()
	c.Model, c.UserModel = "a", "u"
	c.Prompts = prompt.Files{"user": mine}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"en", "ja"} {
		ps, err := loadPrompts(c.Prompts, lang)
		if err != nil {
			t.Fatal(err)
		}
		got, err := ps.userPrompt(userData{Persona: "a cook", Turn: 1, MaxTurns: 2})
		if err != nil || got != "You are a cook. Message 1." || ps.user.Name != mine {
			t.Errorf("%s: user prompt = %q, %v; want the user's template", lang, got, err)
		}
	}
	c.Prompts = prompt.Files{"user": typo}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), `no field "Text"`) || !strings.Contains(err.Error(), "Content") {
		t.Errorf("Validate = %v, want the misspelt field and the valid ones", err)
	}
}
