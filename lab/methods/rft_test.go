package methods

import (
	"context"
	"testing"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
)

// tinyStart is a starting model small enough to train in a fraction of a
// CPU-second, yet right on about half of the one-character copies, so that
// samples agree and disagree.
func tinyStart() Start {
	return Start{Arch: lab.Arch{Dim: 32, Layers: 1, Heads: 2, Hidden: 64, MaxSeq: 16}, Labels: 200, MinDifficulty: 1, MaxDifficulty: 2,
		Train: TrainConfig{Steps: 250, Batch: 16, LR: 1e-2, Warmup: 10}}
}

func tinyEval() EvalConfig {
	return EvalConfig{Difficulties: []int{1, 2}, Problems: 8, Samples: 4, K: 2, Temperature: 1, Seed: 7}
}

func tinyRFT(t *testing.T) RFTConfig {
	return RFTConfig{Task: task.Copy{}, Seed: 1, Weak: tinyStart(), Rounds: 2, Problems: 16, MinDifficulty: 1, MaxDifficulty: 2,
		K: 4, Temperature: 1, Train: TrainConfig{Steps: 10, Batch: 8, LR: 1e-3, Warmup: 1}, Eval: tinyEval(), Log: testLog(t)}
}

func TestRFT(t *testing.T) {
	dir := t.TempDir()
	rs, err := RFT(context.Background(), dir, tinyRFT(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("got %d rounds, want 3", len(rs))
	}
	for _, r := range rs {
		t.Logf("%+v", r)
	}
}
