package methods

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
)

// RFTConfig configures rejection-sampling fine-tuning (STaR, RFT; Yuan et
// al., 2023): a weak model samples K answers to fresh problems, the
// verifier keeps the right ones, and the model is fine-tuned on them.
type RFTConfig struct {
	Task task.Task `json:"-"`
	Seed uint64    `json:"seed"`
	// Weak is the starting model, trained on few labels.
	Weak Start `json:"weak"`
	// Rounds of sampling and fine-tuning after the weak model.
	Rounds int `json:"rounds"`
	// Each round samples K answers at Temperature for each of Problems fresh
	// problems with difficulty uniform in [MinDifficulty, MaxDifficulty].
	Problems      int     `json:"problems"`
	MinDifficulty int     `json:"min_difficulty"`
	MaxDifficulty int     `json:"max_difficulty"`
	K             int     `json:"k"`
	Temperature   float64 `json:"temperature"`
	// Train is each round's fine-tuning on the labels and the verified
	// samples, pooled.
	Train TrainConfig `json:"train"`
	// Restart fine-tunes the weak model every round on the labels and that
	// round's samples, as ReST-EM restarts from the base model; by default
	// a round continues from the previous round's model on everything
	// gathered so far.
	Restart bool `json:"restart,omitempty"`
	// Baseline trains every round on the labels alone, for the same steps,
	// and samples only to count: the control that shows what the verified
	// samples add over more training on the labels.
	Baseline bool       `json:"baseline,omitempty"`
	Eval     EvalConfig `json:"eval"`
	// Log receives progress; nil discards it.
	Log *slog.Logger `json:"-"`
}

func (c RFTConfig) check() error {
	if c.Task == nil {
		return fmt.Errorf("methods: rft: no task")
	}
	if c.Rounds < 0 || c.Problems <= 0 || c.K <= 0 || !(c.Temperature > 0) || c.MinDifficulty < 1 || c.MaxDifficulty < c.MinDifficulty {
		return fmt.Errorf("methods: rft: %d rounds of %d problems (difficulty %d..%d), %d samples at temperature %g: want rounds ≥ 0, the rest positive, min ≤ max",
			c.Rounds, c.Problems, c.MinDifficulty, c.MaxDifficulty, c.K, c.Temperature)
	}
	if c.Baseline && c.Weak.Dir != "" {
		return fmt.Errorf("methods: rft: the baseline trains on the weak model's labels, and a weak model from a directory has none")
	}
	if err := c.Weak.check("rft weak model"); err != nil {
		return err
	}
	if err := c.Train.check("rft"); err != nil {
		return err
	}
	return c.Eval.check()
}

// RFTRound is one round of RFT; round 0 is the weak model.
type RFTRound struct {
	Round
	Problems int `json:"problems,omitempty"` // sampled
	Samples  int `json:"samples,omitempty"`  // Problems × K
	Correct  int `json:"correct,omitempty"`  // samples the verifier accepts
	// Solved is how many problems had a right sample. Examples counts the
	// distinct right (prompt, answer) pairs kept; the lab's tasks have one
	// right answer per problem, so the two are equal.
	Solved int `json:"solved,omitempty"`
}

// RFT runs rejection-sampling fine-tuning in dir, resuming a run that
// stopped there, and returns every round's results.
func RFT(ctx context.Context, dir string, cfg RFTConfig) ([]RFTRound, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r, err := open[RFTRound](dir, "rft", cfg.Task, cfg, cfg.Eval, cfg.Log)
	if err != nil {
		return nil, err
	}
	gen := func(ctx context.Context, i int, prev, rec *RFTRound) error {
		m, err := lab.LoadModel(r.abs(prev.Model))
		if err != nil {
			return err
		}
		ps := unlabelled(r.problems(rng(cfg.Seed, i, forPool), cfg.Problems, cfg.MinDifficulty, cfg.MaxDifficulty))
		r.log.Info("sampling", "round", i, "problems", len(ps), "k", cfg.K)
		ans, err := lab.Answers(ctx, m, ps, lab.Decode{N: cfg.K, Temperature: cfg.Temperature,
			Seed: cfg.Seed ^ uint64(i)<<32 ^ forSamples, MaxTokens: maxTokens(cfg.Task, ps)})
		if err != nil {
			return err
		}
		var kept []task.Problem
		seen := map[[2]string]bool{}
		for j, p := range ps {
			solved := false
			for _, a := range ans[j] {
				if !a.Stopped || !cfg.Task.Verify(p, a.Text) {
					continue
				}
				rec.Correct++
				solved = true
				if k := [2]string{p.Prompt, a.Text}; !seen[k] {
					seen[k] = true
					kept = append(kept, task.Problem{Prompt: p.Prompt, Answer: a.Text, Difficulty: p.Difficulty})
				}
			}
			if solved {
				rec.Solved++
			}
		}
		data := filepath.Join(r.roundDir(i), lab.DataFile)
		if err := writeSFT(data, kept); err != nil {
			return err
		}
		rec.Data, rec.Examples = r.rel(data), len(kept)
		rec.Problems, rec.Samples = len(ps), len(ps)*cfg.K
		return nil
	}
	fit := func(ctx context.Context, i int, rec *RFTRound) error {
		init, from := r.rounds[i-1].Model, 1
		if cfg.Restart {
			init, from = r.rounds[0].Model, i
		}
		var files []string
		if d := r.rounds[0].Data; d != "" {
			files = append(files, r.abs(d))
		}
		for j := from; j <= i && !cfg.Baseline; j++ {
			d, n := rec.Data, rec.Examples
			if j < i {
				d, n = r.rounds[j].Data, r.rounds[j].Examples
			}
			if n > 0 {
				files = append(files, r.abs(d))
			}
		}
		_, err := r.fit(ctx, i, "sft", r.abs(init), files, cfg.Train, cfg.Seed, &rec.Round)
		return err
	}
	return rounds(ctx, r, cfg.Rounds, cfg.Weak, cfg.Seed, nil, gen, fit)
}
