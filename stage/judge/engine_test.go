package judge

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"

	llm "github.com/synthloop/synthloop/judge"
	_ "github.com/synthloop/synthloop/model/local"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestStructuredJudgeOnEngine: a judge stage on an untrained built-in model
// scores every record with structured native, because the engine decodes
// under the judge's schema; with structured off the same model scores none.
func TestStructuredJudgeOnEngine(t *testing.T) {
	if testing.Short() {
		t.Skip("runs an engine model")
	}
	dir := stagetest.TinyModel(t, 4096)
	for _, setting := range []string{"native", "off"} {
		st := pipelinetest.NewMemStore()
		var recs []*record.Record
		for i := range 3 {
			recs = append(recs, &record.Record{Instruction: fmt.Sprintf("Add %d and %d.", i, i+2), Output: fmt.Sprint(2*i + 2)})
		}
		seed(t, st, recs...)
		cfg := DefaultConfig()
		cfg.Config.Model, cfg.Config.Structured, cfg.Config.Samples, cfg.Config.MaxTokens = "tiny", setting, 2, 700
		if setting == "off" {
			cfg.Config.MaxRetries = -1 // noise restated is noise: the contrast needs no follow-ups
		}
		s, err := New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		env := &pipeline.Env{Name: "judged", Input: "gen", Store: st, Seed: 7, Concurrency: 2, Round: 1, Clock: stagetest.Clock,
			Backend: stagetest.Local(dir)}
		if err := s.Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		scored := 0
		for _, r := range st.All("judged") {
			if _, ok := r.Scores["judge"]; ok {
				scored++
			}
			if setting != "native" {
				continue
			}
			var j llm.Result
			b, _ := json.Marshal(r.Meta["judgment"])
			if err := json.Unmarshal(b, &j); r.Status == record.Failed || err != nil || j.Structured != "native" || len(j.Samples) != 2 {
				t.Errorf("structured native: record %s %s: %s (judgment %v)", r.ID, r.Status, r.Error, r.Meta["judgment"])
				continue
			}
			for _, smp := range j.Samples {
				if !smp.Valid {
					t.Errorf("structured native: record %s: a reply without a valid score: %s", r.ID, smp.Reason)
				}
			}
		}
		switch {
		case setting == "native" && scored != len(recs):
			t.Errorf("structured native: %d of %d records scored, want all", scored, len(recs))
		case setting == "off" && scored != 0:
			t.Errorf("structured off: the untrained model scored %d of %d records; the test no longer shows what the constraint does", scored, len(recs))
		}
		t.Logf("structured %s: %d of %d records scored", setting, scored, len(recs))
	}
}
