package generate

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/model"
	_ "github.com/synthloop/synthloop/model/local"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// tinyModel writes an untrained built-in model whose characters spell any
// ASCII JSON: only the engine's constrained decoding makes it answer with
// the schema.
func tinyModel(t *testing.T) string {
	t.Helper()
	var ascii strings.Builder
	for c := ' '; c <= '~'; c++ {
		ascii.WriteRune(c)
	}
	tok, err := tokenizer.NewChar(ascii.String(), tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 64, MaxSeq: 512, NormEps: 1e-5}, 5)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := checkpoint.SaveModel(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.SaveTokenizer(dir, tok); err != nil {
		t.Fatal(err)
	}
	return dir
}

// TestSchemaLocal: the built-in engine takes the schema natively (its
// decoding is constrained to it), so schema_mode auto never falls back to
// the prompt, and every reply validates.
func TestSchemaLocal(t *testing.T) {
	dir := tinyModel(t)
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "Name a colour."}, &record.Record{Instruction: "Name a bird."})
	cfg := config("{{.instruction}}")
	cfg.MaxTokens = 200
	cfg.Schema = map[string]any{
		"type": "object",
		"properties": map[string]any{
			"answer": map[string]any{"type": "string", "maxLength": 12},
			"level":  map[string]any{"type": "integer", "minimum": 1, "maximum": 5},
		},
		"required":             []any{"answer", "level"},
		"additionalProperties": false,
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := &pipeline.Env{Name: "gen", Input: "tasks", Store: st, Concurrency: 1, Clock: stagetest.Clock,
		Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
			b, _, err := model.Open(context.Background(), name, model.Config{Ref: "local/" + dir}, model.Options{})
			return b, pipeline.ModelInfo{Backend: "local", Model: "tiny"}, err
		}}
	if err := s.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.All("gen") {
		level, _ := r.Meta["level"].(float64)
		if r.Status != record.Kept || r.Meta["answer"] == nil || level < 1 || level > 5 || r.Prov.Params["schema_mode"] != "native" {
			t.Errorf("%s: %s %q meta %v params %v", r.ID, r.Status, r.Error, r.Meta, r.Prov.Params)
		}
	}
}
