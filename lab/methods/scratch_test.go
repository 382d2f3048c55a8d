package methods

import (
	"context"
	"os"
	"strconv"
	"testing"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
)

func envf(k string, d float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(k), 64); err == nil {
		return v
	}
	return d
}

func TestScratchSC(t *testing.T) {
	start := os.Getenv("SC_START")
	if start == "" {
		t.Skip()
	}
	cfg := SelfConsistencyConfig{Task: task.Reverse{}, Seed: 1, Start: Start{Dir: start},
		Rounds: int(envf("SC_ROUNDS", 2)), Problems: int(envf("SC_N", 2000)), MinDifficulty: int(envf("SC_LO", 1)), MaxDifficulty: 6, K: int(envf("SC_K", 8)), Temperature: envf("SC_T", 0.7), MinShare: envf("SC_SHARE", 0.5), LengthFilter: true, CutRejected: os.Getenv("SC_CUT") != "",
		Train: TrainConfig{Steps: int(envf("SC_STEPS", 100)), Batch: 16, LR: envf("SC_LR", 5e-5), Warmup: 5, Beta: envf("SC_BETA", 0.1), NLL: envf("SC_NLL", 0)},
		Eval:  reverseEval}
	cpu := lab.CPUSeconds()
	rs, err := SelfConsistency(context.Background(), t.TempDir(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		t.Logf("round %d acc %.3f %v pass1 %.3f passk %.3f maj %.3f pairs %d drops %v chosen %.3f rej %.3f loss %.3f→%.3f", r.Index, r.Eval.Accuracy, r.Eval.ByDifficulty, r.Eval.PassAt1, r.Eval.PassAtK, r.Eval.Majority, r.Examples, r.Drops, r.ChosenRight, r.RejectedWrong, r.FirstLoss, r.LastLoss)
	}
	t.Logf("cpu %.1f", lab.CPUSeconds()-cpu)
}

func TestScratchPairs(t *testing.T) {
	start := os.Getenv("SC_START")
	if start == "" {
		t.Skip()
	}
	m, err := lab.LoadModel(start)
	if err != nil {
		t.Fatal(err)
	}
	cfg := SelfConsistencyConfig{Task: task.Reverse{}, K: int(envf("SC_K", 8)), Temperature: envf("SC_T", 0.7), MinShare: envf("SC_SHARE", 0.5), LengthFilter: true}
	r := &run[Round]{t: task.Reverse{}, seen: map[string]bool{}}
	ps := unlabelled(r.problems(rng(1, 1, forPool), 2000, 1, 6))
	ans, _ := lab.Answers(context.Background(), m, ps, lab.Decode{N: cfg.K, Temperature: cfg.Temperature, Seed: 5, MaxTokens: 7})
	greedy, _ := lab.Answers(context.Background(), m, ps, lab.Decode{MaxTokens: 7})
	type h struct{ n, pairs, chosenRight, greedyRight, greedyEqChosen, chosenRightGreedyWrong int }
	hist := map[int]*h{}
	for j, p := range ps {
		x := hist[p.Difficulty]
		if x == nil {
			x = &h{}
			hist[p.Difficulty] = x
		}
		x.n++
		g := greedy[j][0]
		gr := g.Stopped && r.t.Verify(p, g.Text)
		if gr {
			x.greedyRight++
		}
		ok := func(a lab.Answer) bool { return lab.LengthOK(task.Reverse{}, p, a) }
		c, _, why := PreferencePair(ans[j], ok, cfg.MinShare)
		if why != Kept {
			continue
		}
		x.pairs++
		cr := r.t.Verify(p, c.Text)
		if cr {
			x.chosenRight++
		}
		if c.Text == g.Text {
			x.greedyEqChosen++
		}
		if cr && !gr {
			x.chosenRightGreedyWrong++
		}
	}
	for d := 1; d <= 6; d++ {
		t.Logf("d=%d %+v", d, *hist[d])
	}
}
