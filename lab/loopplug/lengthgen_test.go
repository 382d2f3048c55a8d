package loopplug_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/synthloop/synthloop/loop"
)

// tinyLengthGen is a two-round copy loop on tiny models: true
// labels of 1–2 characters, then two voters label 3; train is appended
// into lab-train's with block.
func tinyLengthGen(t *testing.T, train string) *loop.Config {
	t.Helper()
	y := "name: t\nrounds: 2\nmargin: 0\n" +
		"generate: {type: lab-selflabel, with: {task: copy, labels: {count: 200, from: 1, to: 2}, " +
		"from: 3, step: 1, count: 40}}\n" +
		"train: {type: lab-train, with: {init: previous, voters: 2, arch: {dim: 16, layers: 1, heads: 2, hidden: 32, max_seq: 24}, " +
		"first: {steps: 200, lr: 3e-3, warmup: 10}, steps: 20, batch: 16, lr: 1e-3, warmup: 0" + train + "}}\n" +
		"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2, 3], problems: 20}}\n"
	cfg, err := loop.ParseConfig("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// adamSteps reads the AdamW update count of a student checkpoint.
func adamSteps(t *testing.T, dir string) int {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "trainer_state.json"))
	if err != nil {
		t.Fatal(err)
	}
	var st struct {
		AdamSteps int `json:"adam_steps"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		t.Fatal(err)
	}
	return st.AdamSteps
}

// runStopped runs cfg in dir, stops it cleanly once round 2's training
// reached step at, and runs it again to the end.
func runStopped(t *testing.T, cfg *loop.Config, dir string, at int) *loop.Summary {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := 0
	_, err := loop.Run(ctx, cfg, loop.Options{RunDir: dir, Progress: func(e loop.Event) {
		if e.Round == 2 && e.Step == "train" && e.Done >= at && stopped == 0 {
			stopped = e.Done
			cancel()
		}
	}})
	if !errors.Is(err, loop.ErrStopped) || stopped == 0 {
		t.Fatalf("stopped at step %d with %v; want a clean stop in round 2's training", stopped, err)
	}
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

// sameFiles fails unless the named files of two round directories are
// byte for byte the same.
func sameFiles(t *testing.T, a, b string, names ...string) {
	t.Helper()
	for _, n := range names {
		x, err1 := os.ReadFile(filepath.Join(a, n))
		y, err2 := os.ReadFile(filepath.Join(b, n))
		if err1 != nil || err2 != nil || !bytes.Equal(x, y) {
			t.Errorf("%s differs after the resume (%v, %v)", n, err1, err2)
		}
	}
}

// TestContinueOptimizer: with continue_optimizer, round 2's voters go on
// with round 1's AdamW moments (their update count runs on), without it they
// start fresh; a round stopped in its training and run again ends with the
// same files as one run straight through.
func TestContinueOptimizer(t *testing.T) {
	freshDir := t.TempDir()
	fresh, err := loop.Run(context.Background(), tinyLengthGen(t, ""), loop.Options{RunDir: freshDir})
	if err != nil {
		t.Fatal(err)
	}
	if !fresh.Rounds[0].Promoted {
		t.Fatalf("round 1 was not promoted (%s): round 2 has no teacher", fresh.Rounds[0].Reason)
	}
	if n := adamSteps(t, filepath.Join(freshDir, "round-002", "student")); n != 20 {
		t.Errorf("without continue_optimizer round 2's AdamW took %d updates, want its own 20", n)
	}
	cfg := tinyLengthGen(t, ", continue_optimizer: true")
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r2 := filepath.Join(dir, "round-002")
	for _, v := range []string{"student", "student-1"} {
		if n := adamSteps(t, filepath.Join(r2, v)); n != 220 {
			t.Errorf("%s: AdamW at %d updates, want 200 of round 1 and 20 of round 2", v, n)
		}
	}
	if sum.Rounds[1].Metrics["train_optimizer_continued"] != 1 || sum.Rounds[0].Metrics["train_optimizer_continued"] != 0 {
		t.Errorf("optimizer_continued metrics: round 1 %g, round 2 %g; want 0 and 1",
			sum.Rounds[0].Metrics["train_optimizer_continued"], sum.Rounds[1].Metrics["train_optimizer_continued"])
	}
	stopped := t.TempDir()
	runStopped(t, cfg, stopped, 8)
	for _, v := range []string{"student", "student-1"} {
		sameFiles(t, filepath.Join(r2, v), filepath.Join(stopped, "round-002", v), "model.safetensors", "optimizer.safetensors", "trainer_state.json")
	}
}
