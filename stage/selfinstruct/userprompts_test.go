package selfinstruct

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// TestEmbeddedPromptsRenderSamples keeps the documented samples true: every
// embedded template renders every sample of its kind, in every language.
func TestEmbeddedPromptsRenderSamples(t *testing.T) {
	for _, k := range append(append([]prompt.Kind{}, bootstrapKinds...), instanceKinds...) {
		for _, lang := range []string{"en", "ja"} {
			p, err := loadPrompt(nil, k, lang)
			if err != nil {
				t.Fatal(err)
			}
			if err := k.Try(p); err != nil {
				t.Errorf("%s.%s: %v", k.Name, lang, err)
			}
		}
	}
}

// paperBootstrap is the wording of the paper's encode_prompt, as a user
// who wants it exactly would write it.
const paperBootstrap = "Come up with a series of tasks:\n{{range $i, $t := .Tasks}}{{add $i 1}}. {{$t}}\n{{end}}{{.Next}}."

func TestUserPromptReplacesEmbedded(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "paper.tmpl")
	if err := os.WriteFile(path, []byte(paperBootstrap), 0o644); err != nil {
		t.Fatal(err)
	}
	var prompts []string
	teacher := funcBackend(func(req model.Request) (*model.Response, error) {
		prompts = append(prompts, req.Messages[0].Content)
		return &model.Response{Model: "m", Choices: []model.Choice{{Text: " Explain how tides form on Earth.\n10. List three uses of copper wire.", FinishReason: model.FinishStop}}}, nil
	})
	for _, lang := range []string{"en", "ja"} {
		c := cfg(func(c *Config) {
			c.Target, c.Concurrency, c.Language, c.Seeds = 2, 1, lang, lang
			c.Prompts = prompt.Files{"bootstrap": path}
		})
		if err := c.Validate(); err != nil {
			t.Fatal(err)
		}
		st := newMemStore()
		env, _ := newEnv(st, teacher, "instructions", "")
		if err := mustNew(t, c).Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		if p := prompts[len(prompts)-1]; !strings.HasPrefix(p, "Come up with a series of tasks:\n1. ") || !strings.HasSuffix(p, "\n9.") {
			t.Errorf("%s: prompt sent = %q, want the user's template", lang, p)
		}
		sum := sha256.Sum256([]byte(paperBootstrap))
		for _, r := range st.all("instructions", "") {
			if r.Prov.TemplateHash != hex.EncodeToString(sum[:]) {
				t.Fatalf("%s: record %s template hash %s, want the file's sha256", lang, r.ID, r.Prov.TemplateHash)
			}
		}
		if n := len(st.all("instructions", record.Kept)); n == 0 {
			t.Errorf("%s: nothing kept", lang)
		}
	}
}

func TestPromptsCheckedAtConfigLoad(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	good := write("good.tmpl", paperBootstrap)
	for _, tc := range []struct {
		name, typ, prompts string
		want               []string
	}{
		{"good", "selfinstruct", "bootstrap: " + good, nil},
		{"unknown kind", "selfinstruct", "bootstap: " + good, []string{"p.yaml:", `unknown kind "bootstap" (did you mean "bootstrap"?)`}},
		{"kind of the other stage", "selfinstruct", "classify: " + good, []string{`unknown kind "classify"`, "kinds: bootstrap, bootstrap_clf, alpaca"}},
		{"missing file", "selfinstruct", "alpaca: " + filepath.Join(dir, "none.tmpl"), []string{"prompts.alpaca: no file"}},
		{"parse error", "selfinstruct", "bootstrap: " + write("bad.tmpl", "Tasks:\n{{range .Tasks}}"), []string{"bad.tmpl:2: unexpected EOF"}},
		{"misspelt field", "selfinstruct", "bootstrap: " + write("typo.tmpl", "{{range .Taks}}{{.}}{{end}}"),
			[]string{"typo.tmpl:1:8", `no field "Taks" (did you mean "Tasks"?); the fields there are Tasks, Next`}},
		{"misspelt nested field", "selfinstruct-instances", "instances_gen: " + write("nested.tmpl", "{{range .Examples}}{{.Instrution}}{{end}}"),
			[]string{`no field "Instrution" (did you mean "Instruction"?)`, "NoInput"}},
		{"branch not taken by one sample", "selfinstruct-instances", "instances_clf: " + write("branch.tmpl", "{{range .Examples}}{{if .NoInput}}{{.Nope}}{{end}}{{end}}"),
			[]string{`no field "Nope"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			yaml := fmt.Sprintf("name: t\nmodels:\n  teacher:\n    ref: openai/x\nstages:\n  - type: %s\n    with:\n      model: teacher\n      prompts:\n        %s\n", tc.typ, tc.prompts)
			_, err := pipeline.ParseConfig("p.yaml", []byte(yaml))
			if tc.want == nil {
				if err != nil {
					t.Fatalf("ParseConfig = %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("ParseConfig accepted %s", tc.prompts)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
		})
	}
}
