package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/grounding/groundingtest"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/store"
)

// TestExamplesParse keeps every example pipeline valid as the code changes.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	demo, _ := filepath.Glob("demo/*.yaml")
	for _, f := range append(files, demo...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if strings.HasPrefix(filepath.Base(f), "loop-") {
			if _, err := loop.ParseConfig(f, data); err != nil {
				t.Errorf("%s: %v", f, err)
			}
			continue
		}
		if _, err := pipeline.ParseConfig(f, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

// TestStageExamplesParse parses the snippet every registered stage type shows
// in `synthloop stages TYPE`, so the help never shows a config that fails.
// Files the snippets name are created empty-but-valid in a temp directory.
func TestStageExamplesParse(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	os.MkdirAll("data", 0o755)
	os.WriteFile("data/questions.jsonl", []byte(`{"prompt":"x"}`+"\n"), 0o644)
	os.MkdirAll("evals", 0o755)
	os.WriteFile("evals/mmlu.jsonl", []byte(`{"text":"Which planet is known as the red planet?"}`+"\n"), 0o644)
	for _, st := range pipeline.Types() {
		if st.Doc == "" || st.Example == "" {
			t.Errorf("%s: no doc or example", st.Name)
			continue
		}
		var b strings.Builder
		b.WriteString("name: t\nmodels:\n")
		for _, m := range []string{"teacher", "critic", "student", "other", "assistant", "simulator", "judge", "user"} {
			b.WriteString("  " + m + ": {ref: ollama/x}\n")
		}
		b.WriteString("stages:\n  - name: first\n    type: load\n    with: {path: data/questions.jsonl}\n")
		for line := range strings.Lines(st.Example) {
			b.WriteString("  " + line)
		}
		if _, err := pipeline.ParseConfig(st.Name+".yaml", []byte(b.String())); err != nil {
			t.Errorf("%s: example does not parse: %v\n%s", st.Name, err, b.String())
		}
	}
}

// TestGroundedExamplesRun runs examples/docqa.yaml and examples/faq.yaml
// against the scripted teacher and grounding judge, with the SQLite store.
func TestGroundedExamplesRun(t *testing.T) {
	t.Chdir("../..") // the examples' paths are relative to the repository root
	srv := modeltest.NewServer(groundingtest.Responder(scripted.New(1).Responder()))
	defer srv.Close()
	for _, f := range []string{"examples/docqa.yaml", "examples/faq.yaml"} {
		cfg, err := pipeline.LoadConfig(f)
		if err != nil {
			t.Fatal(err)
		}
		st, err := store.Open(context.Background(), t.TempDir())
		if err != nil {
			t.Fatal(err)
		}
		defer st.Close()
		err = pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Cache: st,
			OpenModel: func(ctx context.Context, name string, mc model.Config, mo model.Options) (model.Backend, model.Info, error) {
				return model.Open(ctx, name, model.Config{Ref: "openai-compatible/" + name, BaseURL: srv.URL}, mo)
			}})
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if stats, err := st.Stats(context.Background()); err != nil || len(stats) == 0 || stats[0].Kept == 0 {
			t.Errorf("%s: %+v, %v", f, stats, err)
		}
	}
}
