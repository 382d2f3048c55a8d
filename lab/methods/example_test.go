package methods_test

import (
	"context"
	"fmt"
	"log"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/methods"
	"github.com/synthloop/synthloop/lab/task"
)

func ExamplePassAtK() {
	// 3 of 10 samples right: the chance that 1, 4 or 10 samples drawn from
	// the 10 hold a right one.
	for _, k := range []int{1, 4, 10} {
		fmt.Printf("pass@%d = %.3f\n", k, methods.PassAtK(10, 3, k))
	}
	// Output:
	// pass@1 = 0.300
	// pass@4 = 0.833
	// pass@10 = 1.000
}

func ExamplePreferencePair() {
	samples := []lab.Answer{{Text: "cba", Stopped: true}, {Text: "cba", Stopped: true}, {Text: "cab", Stopped: true},
		{Text: "cba", Stopped: true}, {Text: "cbaaaaa", Stopped: false}}
	chosen, rejected, why := methods.PreferencePair(samples, func(a lab.Answer) bool { return a.Stopped }, 0.5)
	fmt.Printf("chosen %q (%d votes), rejected %q (%d), dropped %q\n", chosen.Text, chosen.Count, rejected.Text, rejected.Count, why)
	// Output:
	// chosen "cba" (3 votes), rejected "cab" (1), dropped ""
}

// RFT on string reversal: a weak model learnt from 1,000 labels samples 8
// answers to 2,000 fresh problems per round, and trains on the right ones.
func ExampleRFT() {
	rounds, err := methods.RFT(context.Background(), "runs/rft", methods.RFTConfig{
		Task: task.Reverse{}, Seed: 1,
		Weak: methods.Start{Arch: lab.Arch{Dim: 64, Layers: 2, Heads: 4, Hidden: 256, MaxSeq: 32}, Labels: 1000,
			MinDifficulty: 1, MaxDifficulty: 6, Train: methods.TrainConfig{Steps: 500, Batch: 32, LR: 1e-3, Warmup: 25}},
		Rounds: 4, Problems: 2000, MinDifficulty: 1, MaxDifficulty: 6, K: 8, Temperature: 0.7,
		Train: methods.TrainConfig{Steps: 300, Batch: 32, LR: 5e-4, Warmup: 15},
		Eval:  methods.EvalConfig{Difficulties: []int{3, 4, 5, 6}, Problems: 100, Samples: 16, K: 8, Temperature: 0.7, Seed: 99},
	})
	if err != nil {
		log.Fatal(err)
	}
	start := rounds[0].Eval
	for _, r := range rounds {
		fmt.Printf("round %d: greedy %.2f, pass@1 %.2f (the weak model's pass@%d: %.2f)\n",
			r.Index, r.Eval.Accuracy, r.Eval.PassAt1, start.K, start.PassAtK)
	}
}
