package preference

import (
	"context"
	"testing"
	"time"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

// TestStructuredRatings: with structured on the panel rates by the score
// schema (the scripted judge answers it with JSON), and each record says so.
func TestStructuredRatings(t *testing.T) {
	st := pipelinetest.NewMemStore()
	ins := []*record.Record{{ID: "a", Stage: "prompts", Seq: 1, Status: record.Kept, Instruction: "Plan a picnic for six."}}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "prompts", Key: "k", Records: ins}); err != nil {
		t.Fatal(err)
	}
	c := config()
	c.Structured = "native"
	env := &pipeline.Env{Name: "prefs", Input: "prompts", Store: st, Seed: 1, Concurrency: 2, Backend: pool,
		Clock: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	if err := stage(t, c).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	r := st.All("prefs")[0]
	if r.Status == record.Failed || r.Prov.Params["structured"] != "native" || len(r.Candidates) != 3 {
		t.Fatalf("%s %q params %v", r.Status, r.Error, r.Prov.Params)
	}
	for _, cand := range r.Candidates {
		if o, ok := cand.Scores["overall"]; !ok || o < 1 || o > 5 {
			t.Errorf("candidate rated %v", cand.Scores)
		}
	}
}
