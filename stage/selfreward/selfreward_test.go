package selfreward

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

func newStage(t *testing.T, mut func(*Config)) *Stage {
	t.Helper()
	c := DefaultConfig()
	c.Model = "student"
	if mut != nil {
		mut(c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var prompts = []string{
	"Explain the tides.",                // 2,5,3,4: chosen 5 (#1), rejected 2 (#0)
	"All equal. qualities 3,3,3,3",      // a tie: dropped
	"One unscorable. qualities 4,5,9,1", // #2 has no score: chosen #1, rejected #3
	"Judge fails. qualities 9,8,9,8",    // nothing scored: failed
	"Only one. qualities 9,9,9,3",       // one score: no pair
	"Near tie. qualities 5,4,1,2",       // chosen 5 (#0); with prefer_shorter 4 (#1)
}

func TestSelfReward(t *testing.T) {
	st := pipelinetest.NewMemStore()
	srv := stagetest.Server(t)
	stagetest.Seed(t, st, "prompts", prompts...)
	if err := newStage(t, nil).Run(context.Background(), stagetest.Env(t, srv, st, "pairs", "prompts")); err != nil {
		t.Fatal(err)
	}
	recs := st.All("pairs")
	type want struct {
		status           record.Status
		chosen, rejected int
		cs, rs           float64
	}
	wants := []want{
		{record.Kept, 1, 0, 5, 2},
		{record.Rejected, -1, -1, 3, 3},
		{record.Kept, 1, 3, 5, 1},
		{record.Failed, -1, -1, 0, 0},
		{record.Rejected, -1, -1, 0, 0},
		{record.Kept, 0, 2, 5, 1},
	}
	if len(recs) != len(wants) {
		t.Fatalf("%d records, want %d", len(recs), len(wants))
	}
	for i, r := range recs {
		w := wants[i]
		if r.Status != w.status || len(r.Candidates) != 4 {
			t.Errorf("%s: %s with %d candidates, want %s (error %q, reasons %v)", r.ID, r.Status, len(r.Candidates), w.status, r.Error, r.Reasons())
			continue
		}
		if r.Prov.Generator != "selfreward" || r.Prov.Model != "student" || len(r.Prov.TemplateHash) != 64 || r.Prov.Round != 1 {
			t.Errorf("%s: provenance %+v", r.ID, r.Prov)
		}
		if w.status == record.Kept {
			if r.Chosen != r.Candidates[w.chosen].Text || r.Rejected != r.Candidates[w.rejected].Text || r.Output != r.Chosen ||
				r.Scores["chosen"] != w.cs || r.Scores["rejected"] != w.rs {
				t.Errorf("%s: chosen %q rejected %q scores %v; want candidates %d and %d scoring %v and %v",
					r.ID, r.Chosen, r.Rejected, r.Scores, w.chosen, w.rejected, w.cs, w.rs)
			}
			if r.Meta["chosen_length"] == nil || r.Meta["mean_chars"] == nil {
				t.Errorf("%s: lengths missing from meta: %v", r.ID, r.Meta)
			}
		}
		if w.status == record.Rejected && (r.Chosen != "" || len(r.Reasons()) != 1) {
			t.Errorf("%s: a dropped record has chosen %q and reasons %v", r.ID, r.Chosen, r.Reasons())
		}
	}
	if !strings.Contains(recs[3].Error, "no valid score") {
		t.Errorf("failed record error %q does not carry the judge error", recs[3].Error)
	}
	// The generating model judged itself: every request went to "student".
	for _, r := range srv.Log() {
		if r.Model != "student" {
			t.Fatalf("request to model %q, want only student", r.Model)
		}
	}

	rs, err := Lengths(context.Background(), st, "pairs")
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 || rs[0].Round != 1 || rs[0].Pairs != 3 || rs[0].Ties != 2 || rs[0].ChosenLonger != 1 || rs[0].MeanChosenScore != 5 || rs[0].Chosen <= rs[0].Rejected {
		t.Errorf("Lengths = %+v", rs)
	}
	if out := FormatLengths(rs); !strings.Contains(out, "chosen_longer") || strings.Count(out, "\n") != 2 {
		t.Errorf("FormatLengths:\n%s", out)
	}
}

func TestPreferShorter(t *testing.T) {
	st := pipelinetest.NewMemStore()
	srv := stagetest.Server(t)
	stagetest.Seed(t, st, "prompts", "Near tie. qualities 5,4,1,2", "Far. qualities 5,3,1,2")
	s := newStage(t, func(c *Config) { c.PreferShorter = true; c.NearTie = 1 })
	if err := s.Run(context.Background(), stagetest.Env(t, srv, st, "pairs", "prompts")); err != nil {
		t.Fatal(err)
	}
	recs := st.All("pairs")
	// Within 1 of the best: the shorter 4 is chosen. Not within 1: the 5.
	if recs[0].Scores["chosen"] != 4 || recs[0].Chosen != recs[0].Candidates[1].Text {
		t.Errorf("near tie: chose %v %q, want the shorter 4", recs[0].Scores, recs[0].Chosen)
	}
	if recs[1].Scores["chosen"] != 5 {
		t.Errorf("no near tie: chose %v, want 5", recs[1].Scores)
	}
}

func TestJudgeModelAndMargin(t *testing.T) {
	st := pipelinetest.NewMemStore()
	srv := stagetest.Server(t)
	stagetest.Seed(t, st, "prompts", "Explain the tides.", "Close. qualities 3,4,4,3")
	s := newStage(t, func(c *Config) { c.Config.Model = "critic"; c.MinMargin = 1; c.Samples = 1 })
	if err := s.Run(context.Background(), stagetest.Env(t, srv, st, "pairs", "prompts")); err != nil {
		t.Fatal(err)
	}
	recs := st.All("pairs")
	if recs[0].Status != record.Kept || recs[1].Status != record.Rejected {
		t.Errorf("min_margin 1: statuses %s, %s; want kept (margin 3), rejected (margin 1)", recs[0].Status, recs[1].Status)
	}
	judged := 0
	for _, r := range srv.Log() {
		if r.Model == "critic" {
			judged++
			if r.N != 1 {
				t.Errorf("judge asked for %d samples, want 1", r.N)
			}
		}
	}
	if judged != 8 {
		t.Errorf("critic got %d requests, want 8 (4 candidates × 2 prompts)", judged)
	}
}

func TestResumeIdentical(t *testing.T) {
	srv := stagetest.Server(t)
	dump := func(st *pipelinetest.MemStore) string {
		b, _ := json.Marshal(st.All("pairs"))
		return string(b)
	}
	ref := pipelinetest.NewMemStore()
	stagetest.Seed(t, ref, "prompts", prompts...)
	if err := newStage(t, nil).Run(context.Background(), stagetest.Env(t, srv, ref, "pairs", "prompts")); err != nil {
		t.Fatal(err)
	}
	for _, crash := range []int{0, 2, 5} {
		st := pipelinetest.NewMemStore()
		stagetest.Seed(t, st, "prompts", prompts...)
		env := stagetest.Env(t, srv, st, "pairs", "prompts")
		env.Store = &pipelinetest.CrashStore{MemStore: st, N: crash}
		if err := newStage(t, nil).Run(context.Background(), env); !errors.Is(err, pipelinetest.ErrCrash) {
			t.Fatalf("crash after %d: %v", crash, err)
		}
		if err := newStage(t, nil).Run(context.Background(), stagetest.Env(t, srv, st, "pairs", "prompts")); err != nil {
			t.Fatal(err)
		}
		if dump(st) != dump(ref) {
			t.Fatalf("crash after %d commits: the resumed run differs", crash)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Sampling: bestofn.SamplingConfig{N: 4}},
		{Model: "m", Sampling: bestofn.SamplingConfig{N: 1}},
		{Model: "m", Sampling: bestofn.SamplingConfig{N: 4}, NearTie: -1},
		{Model: "m", Sampling: bestofn.SamplingConfig{N: 4}, Config: judgeConfig("stars")},
	} {
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "selfreward: ") {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
}
