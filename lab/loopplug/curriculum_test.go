package loopplug_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/loop"
)

// TestFirstUntil trains the first round to a validation target it cannot
// reach in a few steps: steps, then steps/2 more at a time up to max_steps,
// each phase continuing the last; a second run resumes nothing.
func TestFirstUntil(t *testing.T) {
	y := "name: t\nrounds: 1\n" +
		"generate: {type: lab-labels, with: {task: copy, count: 20, from: 1, to: 3}}\n" +
		"train: {type: lab-train, with: {arch: {dim: 16, layers: 1, heads: 2, hidden: 32, max_seq: 16}, steps: 5, warmup: 1, " +
		"first: {steps: 4, warmup: 1, until: 1, max_steps: 9}}}\n" +
		"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2], problems: 4}}\n"
	cfg, err := loop.ParseConfig("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r := sum.Rounds[0]
	// 4 steps, then 2, 2 and the 1 left of max_steps.
	if r.TrainSteps != 9 || r.Metrics["train_phases"] != 4 {
		t.Fatalf("trained %d steps in %g phases, want 9 in 4", r.TrainSteps, r.Metrics["train_phases"])
	}
	if !strings.HasSuffix(r.Student, "student.more-3") {
		t.Errorf("student %s, want the last phase's model", r.Student)
	}
	for _, d := range []string{"student", "student.more-1", "student.more-2"} {
		if _, err := os.Stat(filepath.Join(dir, "round-001", d, "model.safetensors")); err != nil {
			t.Errorf("phase model %s: %v", d, err)
		}
	}
	again, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if again.Rounds[0].Student != r.Student || again.Rounds[0].TrainSteps != 9 {
		t.Errorf("rerun: %+v", again.Rounds[0])
	}
}

// TestAdvanceInLoop labels with a barely trained teacher whose hot samples
// rarely all agree: with advance 1, every self-labelled round labels the
// first self-labelled difficulty again.
func TestAdvanceInLoop(t *testing.T) {
	y := "name: t\nrounds: 4\n" +
		"generate: {type: lab-selflabel, with: {task: copy, labels: {count: 200, from: 1, to: 2}, " +
		"from: 3, step: 1, count: 8, advance: 1, filter: {samples: 4, temperature: 5, agree: 1}}}\n" +
		"train: {type: lab-train, with: {arch: {dim: 16, layers: 1, heads: 2, hidden: 32, max_seq: 16}, steps: 3, warmup: 1, " +
		"first: {steps: 200, lr: 3e-3, warmup: 10}}}\n" +
		"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2], problems: 20}}\n"
	cfg, err := loop.ParseConfig("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if !sum.Rounds[0].Promoted {
		t.Fatalf("the first student answers nothing right: %s", sum.Rounds[0].Reason)
	}
	for _, r := range sum.Rounds[1:] {
		if r.Metrics["gen_yield"] >= 1 {
			t.Fatalf("round %d kept every label; the test needs a teacher whose hot samples disagree", r.Index)
		}
		if r.Metrics["gen_from"] != 3 || r.Metrics["gen_to"] != 3 {
			t.Errorf("round %d labelled %g..%g, want 3 again", r.Index, r.Metrics["gen_from"], r.Metrics["gen_to"])
		}
	}
}

// TestReverseAdditionExample runs the first round of
// examples/loop-lab-reverse-addition.yaml at test size (the later rounds'
// settings are tested on their own above): mixed operands in the labels,
// voters trained to the validation target or max_steps.
func TestReverseAdditionExample(t *testing.T) {
	cfg := shrinkWith(t, "loop-lab-reverse-addition.yaml", `
rounds: 1
generate: {with: {labels: {count: 300, from: 1, to: 2}, from: 3, count: 30}}
train: {with: {arch: {dim: 16, layers: 1, heads: 2, hidden: 32, max_seq: 24}, first: {steps: 20, warmup: 2, max_steps: 30},
  steps: 4, warmup: 1}}
evaluate: {with: {difficulties: [1, 2, 3], problems: 10, target: [3]}}
baseline: null
`)
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r := sum.Rounds[0]
	if r.TrainSteps != 30 || r.Metrics["train_phases"] != 2 || r.Metrics["train_voter_steps"] != 60 {
		t.Errorf("round 1: %d steps in %g phases, voters %g, want 30 (an untrained model misses until) in 2, voters 2×30",
			r.TrainSteps, r.Metrics["train_phases"], r.Metrics["train_voter_steps"])
	}
	unequal := 0
	for _, c := range readJSONL[struct{ Messages []struct{ Content string } }](t, filepath.Join(dir, "round-001", "data.jsonl")) {
		a, b, _ := strings.Cut(strings.TrimSuffix(c.Messages[0].Content, "="), "+")
		if len(a) != len(b) {
			unequal++
		}
	}
	if unequal == 0 {
		t.Error("mixed_operands: every labelled problem has operands of equal length")
	}
}
