package summary

import (
	"path/filepath"
	"strings"
	"testing"
)

func TestCompleteBaselineAndLabels(t *testing.T) {
	r := Run{
		Rounds: []Round{
			{Index: 1, Status: "done", Metrics: map[string]float64{"gen_labelled": 1, "gen_to": 6}},
			{Index: 2, Status: "done", AccuracyByDifficulty: map[int]float64{7: 0.5}},
			{Index: 3, Status: "train"},
		},
		Baseline: &Run{Rounds: []Round{
			{Index: 1, Status: "done", Shared: true},
			{Index: 2, Status: "done", Score: 0.1, AccuracyByDifficulty: map[int]float64{7: 0.1}},
			{Index: 3, Status: "generate"},
		}},
	}
	r.Complete()
	if r.LabelledUpTo != 6 {
		t.Errorf("labelled up to %d, want 6", r.LabelledUpTo)
	}
	if b := r.Rounds[1].Baseline; b == nil || b.AccuracyByDifficulty[7] != 0.1 || b.Score != 0.1 {
		t.Errorf("round 2 baseline = %+v", b)
	}
	if r.Rounds[2].Baseline != nil {
		t.Error("an unfinished baseline round was copied")
	}
	if !r.HasBaseline() {
		t.Error("HasBaseline is false")
	}
	if m, ok := r.HarderMean(r.Rounds[1].AccuracyByDifficulty); !ok || m != 0.5 {
		t.Errorf("HarderMean = %v, %v", m, ok)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		run  Run
		want string
	}{
		{"order", Run{Rounds: []Round{{Index: 2}, {Index: 1}}}, "follows round 2"},
		{"percent", Run{Rounds: []Round{{Index: 1, AccuracyByDifficulty: map[int]float64{3: 50}}}}, "fraction"},
		{"kept", Run{Rounds: []Round{{Index: 1, Generated: 1, Kept: 2}}}, "kept 2"},
		{"labelled", Run{LabelledUpTo: -1}, "labelled_up_to"},
	} {
		err := tc.run.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want an error with %q", tc.name, err, tc.want)
		}
	}
}

func TestWriteReadFile(t *testing.T) {
	want := Run{Name: "x", Rounds: []Round{{Index: 1, Status: "done", Kept: 3, Generated: 4}}, Baseline: &Run{Name: "x-baseline"}}
	p := filepath.Join(t.TempDir(), "summary.json")
	if err := want.WriteFile(p); err != nil {
		t.Fatal(err)
	}
	got, err := ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Name != "x" || len(got.Rounds) != 1 || got.Rounds[0].Kept != 3 || got.Baseline == nil || got.Baseline.Name != "x-baseline" {
		t.Errorf("read back %+v", got)
	}
}
