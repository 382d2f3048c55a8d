package lab

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/trainjob"
)

// tinyConfig runs three rounds of copy in a few seconds. It learns little;
// it exercises the machinery.
func tinyConfig() Config {
	return Config{
		Task: "copy", Seed: 3, Models: 2,
		Arch:     Arch{Dim: 16, Layers: 1, Heads: 2, Hidden: 32, MaxSeq: 32},
		LabelMin: 1, LabelMax: 2, Supervised: 50,
		Pretrain: TrainConfig{Steps: 6, Batch: 4, LR: 1e-2, Warmup: 1},
		Rounds:   2, Label: 12,
		Train:  TrainConfig{Steps: 3, Batch: 4, LR: 1e-2, Warmup: 1, Newest: 0.5},
		Filter: Filter{Length: true, Samples: 2, Temperature: 1, Agree: 0.5},
		Eval:   []int{1, 4}, EvalCount: 8,
	}
}

func TestSelfImproveWritesRunDirectory(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	var events []Event
	res, err := SelfImprove(context.Background(), dir, cfg, func(e Event) { events = append(events, e) })
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Rounds) != 3 || res.Model != ModelDir(dir, 2, 0) {
		t.Fatalf("got %d rounds, model %q", len(res.Rounds), res.Model)
	}
	for r, rr := range res.Rounds {
		if rr.Round != r || rr.Resumed || len(rr.Accuracy) != 2 || rr.CPUSeconds <= 0 {
			t.Errorf("round %d result %+v", r, rr)
		}
		if r > 0 && (rr.Labels != cfg.Label || rr.Kept > rr.Labels || rr.Difficulties[0] != cfg.LabelMax+r) {
			t.Errorf("round %d labelled %d, kept %d, difficulties %v", r, rr.Labels, rr.Kept, rr.Difficulties)
		}
		for k := range cfg.Models {
			if _, err := LoadModel(ModelDir(dir, r, k)); err != nil {
				t.Errorf("round %d model %d: %v", r, k, err)
			}
		}
		if rr.Kept > 0 {
			// The round's data is in the format `synthloop train` reads.
			convs, err := trainjob.ReadJSONL(filepath.Join(RoundDir(dir, r), DataFile))
			if err != nil || len(convs) != rr.Kept {
				t.Errorf("round %d data: %d conversations, %v; want %d", r, len(convs), err, rr.Kept)
			}
		}
	}
	if res.Rounds[0].Kept != cfg.Supervised {
		t.Errorf("round 0 kept %d, want %d", res.Rounds[0].Kept, cfg.Supervised)
	}
	if last := events[len(events)-1]; last.Phase != "done" || last.Round != 2 || last.Result == nil {
		t.Errorf("last event %+v", last)
	}
}

// TestSelfImproveResumesAfterKill cancels a run during round 2's training
// and checks that the rerun reads rounds 0 and 1 back untouched and redoes
// only round 2.
func TestSelfImproveResumesAfterKill(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := SelfImprove(ctx, dir, cfg, func(e Event) {
		if e.Round == 2 && e.Phase == "train" {
			cancel()
		}
	})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("killed run: error %v, want context.Canceled", err)
	}
	if _, err := os.Stat(RoundDir(dir, 2)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("round 2 directory exists after the kill: %v", err)
	}
	weights := filepath.Join(ModelDir(dir, 1, 0), "model.safetensors")
	before, err := os.Stat(weights)
	if err != nil {
		t.Fatal(err)
	}
	beforeResults, _ := os.ReadFile(filepath.Join(RoundDir(dir, 1), ResultFile))

	var ran []int
	res, err := SelfImprove(context.Background(), dir, cfg, func(e Event) {
		if e.Phase == "train" && (len(ran) == 0 || ran[len(ran)-1] != e.Round) {
			ran = append(ran, e.Round)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(ran, []int{2}) {
		t.Errorf("resumed run trained rounds %v, want [2]", ran)
	}
	for r, want := range []bool{true, true, false} {
		if res.Rounds[r].Resumed != want {
			t.Errorf("round %d resumed = %v, want %v", r, res.Rounds[r].Resumed, want)
		}
	}
	after, err := os.Stat(weights)
	if err != nil || !after.ModTime().Equal(before.ModTime()) {
		t.Errorf("round 1 model rewritten: %v", err)
	}
	afterResults, _ := os.ReadFile(filepath.Join(RoundDir(dir, 1), ResultFile))
	if string(afterResults) != string(beforeResults) {
		t.Error("round 1 result rewritten")
	}
	if _, err := os.Stat(RoundDir(dir, 2) + ".partial"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("partial round left behind: %v", err)
	}

	// The finished run resumes to the same result without training.
	ran = nil
	again, err := SelfImprove(context.Background(), dir, cfg, func(e Event) {
		if e.Phase != "done" {
			ran = append(ran, e.Round)
		}
	})
	if err != nil || len(ran) != 0 || len(again.Rounds) != 3 || again.CPUSeconds != res.CPUSeconds {
		t.Errorf("rerun of a finished run: %v, work in rounds %v, %d rounds", err, ran, len(again.Rounds))
	}
}

func TestSelfImproveRejectsChangedConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	cfg.Rounds = 0
	if _, err := SelfImprove(context.Background(), dir, cfg, nil); err != nil {
		t.Fatal(err)
	}
	cfg.Seed++
	if _, err := SelfImprove(context.Background(), dir, cfg, nil); !errors.Is(err, ErrConfigChanged) {
		t.Fatalf("changed seed: error %v, want ErrConfigChanged", err)
	}
}

func TestConfigCheck(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"unknown task", func(c *Config) { c.Task = "division" }},
		{"no models", func(c *Config) { c.Models = 0 }},
		{"empty labels", func(c *Config) { c.LabelMax = 0 }},
		{"nothing to label", func(c *Config) { c.Label = 0 }},
		{"no eval", func(c *Config) { c.Eval = nil }},
		{"agree above 1", func(c *Config) { c.Filter.Agree = 1.5 }},
	} {
		cfg := tinyConfig()
		tc.edit(&cfg)
		if _, err := SelfImprove(context.Background(), t.TempDir(), cfg, nil); err == nil {
			t.Errorf("%s: no error", tc.name)
		}
	}
}

func TestBaselineSharesRound0(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	fdir, udir := filepath.Join(dir, "filtered"), filepath.Join(dir, "unfiltered")
	f, err := SelfImprove(context.Background(), fdir, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var trained []int
	u, err := Baseline(context.Background(), udir, fdir, cfg, func(e Event) {
		if e.Phase == "train" && (len(trained) == 0 || trained[len(trained)-1] != e.Round) {
			trained = append(trained, e.Round)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(trained, []int{1, 2}) {
		t.Errorf("baseline trained rounds %v, want [1 2]", trained)
	}
	if u.Rounds[0].CopiedFrom != RoundDir(fdir, 0) || !reflect.DeepEqual(u.Rounds[0].Accuracy, f.Rounds[0].Accuracy) {
		t.Errorf("baseline round 0 = %+v, want a copy of %+v", u.Rounds[0], f.Rounds[0])
	}
	for _, rr := range u.Rounds[1:] {
		if rr.Kept != rr.Labels {
			t.Errorf("unfiltered round %d kept %d of %d", rr.Round, rr.Kept, rr.Labels)
		}
	}
	if _, err := os.Stat(ModelDir(udir, 1, 1)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("baseline trained a second model: %v", err)
	}
	// A filtered run with another round 0 is not copied from.
	other := cfg
	other.Seed++
	if _, err := Baseline(context.Background(), filepath.Join(dir, "other"), fdir, other, nil); err == nil {
		t.Error("Baseline copied round 0 of a run with another seed")
	}
}

// TestRoundArtifactsWorkWithTheEngine checks the shared formats: a round's
// model answers through engine/chat (what `synthloop serve` and local/DIR
// use) exactly as the lab decoded it, and its data.jsonl trains with
// trainjob from that model.
func TestRoundArtifactsWorkWithTheEngine(t *testing.T) {
	dir := t.TempDir()
	cfg := tinyConfig()
	cfg.Rounds = 1
	if _, err := SelfImprove(context.Background(), dir, cfg, nil); err != nil {
		t.Fatal(err)
	}
	mdir := ModelDir(dir, 1, 0)
	m, err := LoadModel(mdir)
	if err != nil {
		t.Fatal(err)
	}
	served, err := chat.Load(mdir)
	if err != nil {
		t.Fatal(err)
	}
	probs := HeldOut(task.Copy{}, []int{1, 3}, 4, 9)
	for _, set := range probs {
		want, err := Answers(context.Background(), m, set, Decode{MaxTokens: 8})
		if err != nil {
			t.Fatal(err)
		}
		for i, p := range set {
			r, err := served.Complete(context.Background(), Messages(task.Problem{Prompt: p.Prompt}), chat.Params{MaxTokens: 8})
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Choices[0].Text; got != want[i][0].Text {
				t.Errorf("%q: served answer %q, lab answer %q", p.Prompt, got, want[i][0].Text)
			}
		}
	}
	res, err := trainjob.Run(context.Background(), trainjob.Options{
		Data: []trainjob.DataFile{{Path: filepath.Join(RoundDir(dir, 0), DataFile)}},
		Out:  filepath.Join(t.TempDir(), "more"), Init: mdir, Steps: 2, Batch: 4, LR: 1e-3,
	})
	if err != nil || res.Steps != 2 {
		t.Fatalf("trainjob on the lab's data: %+v, %v", res, err)
	}
}

// TestPretrainUntil: a model that does not reach the labelled validation
// target trains on in half-length phases up to MaxSteps.
func TestPretrainUntil(t *testing.T) {
	for _, tc := range []struct {
		until float64
		want  int
	}{
		{0, 6},  // no target: Steps
		{1, 15}, // unreachable for this model: 6 + 3 + 3 + 3
	} {
		cfg := tinyConfig()
		cfg.Rounds, cfg.Models = 0, 1
		cfg.Pretrain.Until, cfg.Pretrain.MaxSteps = tc.until, 15
		res, err := SelfImprove(context.Background(), t.TempDir(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Rounds[0].ModelSteps; len(got) != 1 || got[0] != tc.want {
			t.Errorf("until %g: steps %v, want %d", tc.until, got, tc.want)
		}
	}
}

func TestMixedOperands(t *testing.T) {
	for _, mixed := range []bool{false, true} {
		cfg := tinyConfig()
		cfg.Task, cfg.Rounds, cfg.Models, cfg.LabelMax, cfg.MixedOperands = "reverse-addition", 0, 1, 4, mixed
		dir := t.TempDir()
		if _, err := SelfImprove(context.Background(), dir, cfg, nil); err != nil {
			t.Fatal(err)
		}
		convs, err := trainjob.ReadJSONL(filepath.Join(RoundDir(dir, 0), DataFile))
		if err != nil {
			t.Fatal(err)
		}
		unequal := 0
		for _, c := range convs {
			a, b, _ := strings.Cut(strings.TrimSuffix(c.Messages[0].Content, "="), "+")
			if len(a) != len(b) {
				unequal++
			}
		}
		if mixed != (unequal > 0) {
			t.Errorf("mixed %v: %d of %d problems have operands of unequal lengths", mixed, unequal, len(convs))
		}
	}
}

// TestAdvance: a round whose filter kept less than Advance of its labels is
// followed by one at the same difficulty.
func TestAdvance(t *testing.T) {
	for _, tc := range []struct {
		advance float64
		want    [][]int
	}{
		{0, [][]int{{1, 2}, {3}, {4}}},
		{1, [][]int{{1, 2}, {3}, {3}}}, // the tiny model keeps less than all
	} {
		cfg := tinyConfig()
		cfg.Advance = tc.advance
		res, err := SelfImprove(context.Background(), t.TempDir(), cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		var got [][]int
		for _, rr := range res.Rounds {
			got = append(got, rr.Difficulties)
		}
		if res.Rounds[1].Yield >= 1 || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("advance %g: difficulties %v (round 1 yield %g), want %v", tc.advance, got, res.Rounds[1].Yield, tc.want)
		}
	}
}
