package lab

// Unfiltered is the same run without filtering: every problem is kept with
// model 0's greedy answer. It is the baseline that shows the error avalanche.
// Without a vote the other models would have no use, so it trains model 0
// alone, whose round 0 is the same as in c.
func (c Config) Unfiltered() Config {
	c.Filter = Filter{}
	c.Models = 1
	return c
}

func span(lo, hi int) []int {
	var out []int
	for d := lo; d <= hi; d++ {
		out = append(out, d)
	}
	return out
}

// small is the model the presets train: 2 layers, d = 128, NoPE, about
// 0.53M parameters, which trains at about 50 steps of 32 short examples per
// CPU-second on this machine.
var small = Arch{Dim: 128, Layers: 2, Heads: 4, Hidden: 512, MaxSeq: 256}

// Presets are measured configurations (see BENCHMARKS.md for their figures).
var Presets = map[string]Config{
	"copy": {
		Task: "copy", Arch: small, Seed: 1, Models: 1,
		LabelMin: 1, LabelMax: 6, Supervised: 10000,
		Pretrain: TrainConfig{Steps: 2000, Batch: 32, LR: 1e-3, Warmup: 100},
		Rounds:   4, Label: 1000,
		Train:  TrainConfig{Steps: 400, Batch: 32, LR: 5e-4, Warmup: 20, Newest: 0.5},
		Filter: Filter{Length: true},
		Eval:   span(1, 12), EvalCount: 100,
	},
}
