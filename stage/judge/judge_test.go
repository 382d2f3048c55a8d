package judge

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

func seed(t *testing.T, st *pipelinetest.MemStore, recs ...*record.Record) {
	t.Helper()
	for i, r := range recs {
		r.ID, r.Stage, r.Seq, r.Status = "in-"+string(rune('a'+i)), "gen", int64(i+1), record.Kept
		r.Prov.Generator, r.Prov.Model = "reject", "teacher"
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "gen", Key: "seed", Records: recs}); err != nil {
		t.Fatal(err)
	}
}

func runStage(t *testing.T, st *pipelinetest.MemStore, cfg *Config) []*record.Record {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := stagetest.Server(t)
	if err := s.Run(context.Background(), stagetest.Env(t, srv, st, "judged", "gen")); err != nil {
		t.Fatal(err)
	}
	return st.All("judged")
}

func TestPointwiseStage(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st,
		&record.Record{Instruction: "Explain the tides.", Output: stagetest.Candidate("Explain the tides.", 0, 5), Scores: map[string]float64{"verifier": 1}},
		&record.Record{Instruction: "Name a colour.", Output: stagetest.Candidate("Name a colour.", 0, 2)},
		&record.Record{Instruction: "Unscorable.", Output: stagetest.Candidate("Unscorable.", 0, 9)},
		&record.Record{Instruction: "No output."},
	)
	cfg := DefaultConfig()
	cfg.Config.Model = "critic"
	cfg.Filter = true
	recs := runStage(t, st, cfg)
	want := []struct {
		status record.Status
		score  float64
	}{{record.Kept, 5}, {record.Rejected, 2}, {record.Failed, 0}, {record.Rejected, 0}}
	if len(recs) != len(want) {
		t.Fatalf("%d records", len(recs))
	}
	for i, r := range recs {
		if r.Status != want[i].status || r.Scores["judge"] != want[i].score {
			t.Errorf("%s: %s score %v, want %s %v (error %q)", r.ID, r.Status, r.Scores["judge"], want[i].status, want[i].score, r.Error)
		}
		if r.Prov.Generator != "judge" || r.Prov.ParentIDs[0] != "in-"+string(rune('a'+i)) || r.Meta["source_generator"] != "reject" {
			t.Errorf("%s: provenance %+v meta %v", r.ID, r.Prov, r.Meta)
		}
	}
	if recs[0].Scores["verifier"] != 1 || len(recs[0].Prov.TemplateHash) != 64 || recs[0].Meta["judgment"] == nil {
		t.Errorf("earlier scores or the judgment were lost: %+v", recs[0])
	}
	if !strings.Contains(recs[2].Error, "no valid score") {
		t.Errorf("unscorable record error %q", recs[2].Error)
	}
	if got := recs[1].Reasons(); len(got) != 1 || !strings.Contains(got[0], "below 4") {
		t.Errorf("rejected reasons %v", got)
	}
}

func TestPairwiseStage(t *testing.T) {
	st := pipelinetest.NewMemStore()
	good, bad := stagetest.Candidate("q", 0, 5), stagetest.Candidate("q", 1, 2)
	seed(t, st,
		&record.Record{Instruction: "q", Chosen: good, Rejected: bad},
		&record.Record{Instruction: "q", Chosen: bad, Rejected: good},
		&record.Record{Instruction: "q", Chosen: good, Rejected: stagetest.Candidate("q", 2, 5)},
		&record.Record{Instruction: "q", Output: good},
	)
	cfg := DefaultConfig()
	cfg.Mode = Pairwise
	cfg.Panel = []string{"critic", "other"}
	cfg.Filter = true
	recs := runStage(t, st, cfg)
	want := []struct {
		status record.Status
		score  float64
	}{{record.Kept, 1}, {record.Rejected, 0}, {record.Rejected, 0.5}, {record.Rejected, 0}}
	for i, r := range recs {
		if r.Status != want[i].status || r.Scores["pairwise"] != want[i].score {
			t.Errorf("%s: %s %v, want %s %v (reasons %v)", r.ID, r.Status, r.Scores, want[i].status, want[i].score, r.Reasons())
		}
	}
	if recs[0].Prov.Backend != "panel" || recs[0].Meta["pairwise"] == nil {
		t.Errorf("panel provenance %+v", recs[0].Prov)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []*Config{
		{},
		{Mode: "listwise"},
	} {
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "judge: ") {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}

func TestResumeIdentical(t *testing.T) {
	mk := func() *pipelinetest.MemStore {
		st := pipelinetest.NewMemStore()
		var recs []*record.Record
		for i := range 5 {
			recs = append(recs, &record.Record{Instruction: "q", Output: stagetest.Candidate("q", i, 1+i%5)})
		}
		seed(t, st, recs...)
		return st
	}
	cfg := DefaultConfig()
	cfg.Config.Model = "critic"
	ref := mk()
	want := runStage(t, ref, cfg)
	st := mk()
	srv := stagetest.Server(t)
	s, _ := New(cfg)
	env := stagetest.Env(t, srv, st, "judged", "gen")
	env.Store = &pipelinetest.CrashStore{MemStore: st, N: 2}
	if err := s.Run(context.Background(), env); err == nil {
		t.Fatal("the crash did not stop the run")
	}
	if err := s.Run(context.Background(), stagetest.Env(t, srv, st, "judged", "gen")); err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(want)
	b, _ := json.Marshal(st.All("judged"))
	if string(a) != string(b) {
		t.Errorf("resumed run differs:\n%s\n%s", a, b)
	}
}
