package generate

import (
	"context"
	"testing"

	_ "github.com/synthloop/synthloop/model/local"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestSchemaLocal: the built-in engine takes the schema natively (its
// decoding is constrained to it), so schema_mode auto never falls back to
// the prompt, and every reply validates.
func TestSchemaLocal(t *testing.T) {
	dir := stagetest.TinyModel(t, 512)
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
		Backend: stagetest.Local(dir)}
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
