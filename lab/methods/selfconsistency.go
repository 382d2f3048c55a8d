package methods

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/trainjob"
)

// SelfConsistencyConfig configures self-consistency preference optimisation
// (Prasad et al., 2024): the model samples K answers to unlabelled problems,
// its majority answer is chosen and a minority answer rejected, and it is
// trained on the pairs with DPO. No label and no verifier builds the data;
// the verifier only scores the model and, after training, the pairs.
type SelfConsistencyConfig struct {
	Task task.Task `json:"-"`
	Seed uint64    `json:"seed"`
	// Start is the model to improve.
	Start  Start `json:"start"`
	Rounds int   `json:"rounds"`
	// Each round samples K answers at Temperature for each of Problems fresh
	// problems with difficulty uniform in [MinDifficulty, MaxDifficulty].
	Problems      int     `json:"problems"`
	MinDifficulty int     `json:"min_difficulty"`
	MaxDifficulty int     `json:"max_difficulty"`
	K             int     `json:"k"`
	Temperature   float64 `json:"temperature"`
	// MinShare is the share of the K samples the majority answer needs for
	// a pair; problems below it, or with a tie at the top, are dropped.
	MinShare float64 `json:"min_share"`
	// LengthFilter lets only answers of a length a true answer can have vote
	// (lab.LengthOK: it needs the difficulty, not the answer).
	LengthFilter bool `json:"length_filter,omitempty"`
	// CutRejected ends the rejected answer at its first character that
	// differs from the chosen one. DPO lowers the likelihood of every token
	// of the rejected answer, and after a first mistake the rest of an
	// answer is mostly right (a reversal with one wrong character), so whole
	// rejected answers teach the model to avoid right characters. Cut, the
	// pair pushes down the first mistake (and ending the answer there) and
	// nothing else; the shared prefix cancels out either way.
	CutRejected bool `json:"cut_rejected,omitempty"`
	// Train is each round's DPO, from the round's starting model, which is
	// also the frozen reference (round 1: Start).
	Train TrainConfig  `json:"train"`
	Eval  EvalConfig   `json:"eval"`
	Log   *slog.Logger `json:"-"`
}

func (c SelfConsistencyConfig) check() error {
	if c.Task == nil {
		return fmt.Errorf("methods: self-consistency: no task")
	}
	if c.Rounds < 0 || c.Problems <= 0 || c.K < 2 || !(c.Temperature > 0) || c.MinDifficulty < 1 || c.MaxDifficulty < c.MinDifficulty ||
		!(c.MinShare >= 0 && c.MinShare <= 1) {
		return fmt.Errorf("methods: self-consistency: %d rounds of %d problems (difficulty %d..%d), %d samples at temperature %g, majority share %g: "+
			"want rounds ≥ 0, k ≥ 2, share in [0, 1], the rest positive, min ≤ max",
			c.Rounds, c.Problems, c.MinDifficulty, c.MaxDifficulty, c.K, c.Temperature, c.MinShare)
	}
	if _, ok := c.Task.(task.Shape); c.LengthFilter && !ok {
		return fmt.Errorf("methods: self-consistency: task %s has no answer lengths for the length filter", c.Task.Name())
	}
	if err := c.Start.check("self-consistency start"); err != nil {
		return err
	}
	if err := c.Train.check("self-consistency"); err != nil {
		return err
	}
	return c.Eval.check()
}

// SelfConsistencyRound is one round; round 0 is the starting model.
type SelfConsistencyRound struct {
	Round
	Problems int `json:"problems,omitempty"` // sampled; Examples of them gave a pair
	Samples  int `json:"samples,omitempty"`
	// Drops counts the problems that gave no pair, by reason.
	Drops map[Drop]int `json:"drops,omitempty"`
	// ChosenRight and RejectedWrong are the label quality of the round's
	// pairs: the share whose chosen answer is right and whose rejected one
	// is wrong. The verifier measures them once the round has trained; no
	// pair was chosen or kept by them.
	ChosenRight   float64 `json:"chosen_right"`
	RejectedWrong float64 `json:"rejected_wrong"`
	// ChosenGreedy is the share of pairs whose chosen answer is the one the
	// round's starting model gives greedily (no verifier involved). Where it
	// is near 1 the majority adds nothing greedy decoding did not know: the
	// pairs can sharpen sampling, not change greedy answers.
	ChosenGreedy float64 `json:"chosen_greedy"`
}

// SelfConsistency runs self-consistency preference optimisation in dir,
// resuming a run that stopped there, and returns every round's results.
func SelfConsistency(ctx context.Context, dir string, cfg SelfConsistencyConfig) ([]SelfConsistencyRound, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	r, err := open[SelfConsistencyRound](dir, "self-consistency", cfg.Task, cfg, cfg.Eval, cfg.Log)
	if err != nil {
		return nil, err
	}
	gen := func(ctx context.Context, i int, prev, rec *SelfConsistencyRound) error {
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
		lines, drops := selfConsistencyPairs(cfg, ps, ans)
		if len(lines) > 0 {
			var asked []task.Problem
			for _, l := range lines {
				asked = append(asked, task.Problem{Prompt: l.(dpoLine).Prompt})
			}
			greedy, err := lab.Answers(ctx, m, asked, lab.Decode{MaxTokens: maxTokens(cfg.Task, ps)})
			if err != nil {
				return err
			}
			for j, l := range lines {
				if greedy[j][0].Stopped && greedy[j][0].Text == l.(dpoLine).Chosen {
					rec.ChosenGreedy++
				}
			}
			rec.ChosenGreedy /= float64(len(lines))
		}
		data := filepath.Join(r.roundDir(i), lab.DataFile)
		if err := writeJSONL(data, lines); err != nil {
			return err
		}
		rec.Data, rec.Examples, rec.Drops = r.rel(data), len(lines), drops
		rec.Problems, rec.Samples = len(ps), len(ps)*cfg.K
		return nil
	}
	fit := func(ctx context.Context, i int, rec *SelfConsistencyRound) error {
		var files []string
		if rec.Examples > 0 {
			files = append(files, r.abs(rec.Data))
		}
		if _, err := r.fit(ctx, i, "dpo", r.abs(r.rounds[i-1].Model), files, cfg.Train, cfg.Seed, &rec.Round); err != nil {
			return err
		}
		if rec.Examples == 0 {
			return nil
		}
		// Label quality, read back from the file the round trained on.
		pairs, err := trainjob.ReadJSONL(r.abs(rec.Data))
		if err != nil {
			return fmt.Errorf("methods: %w", err)
		}
		for _, p := range pairs {
			q := task.Problem{Prompt: p.Messages[len(p.Messages)-1].Content}
			if cfg.Task.Verify(q, p.Chosen) {
				rec.ChosenRight++
			}
			if !cfg.Task.Verify(q, p.Rejected) {
				rec.RejectedWrong++
			}
		}
		rec.ChosenRight /= float64(len(pairs))
		rec.RejectedWrong /= float64(len(pairs))
		return nil
	}
	return rounds(ctx, r, cfg.Rounds, cfg.Start, cfg.Seed, nil, gen, fit)
}

// selfConsistencyPairs turns each problem's samples into a DPO line or a
// drop. It is given no verifier and problems without answers.
func selfConsistencyPairs(cfg SelfConsistencyConfig, ps []task.Problem, ans [][]lab.Answer) ([]any, map[Drop]int) {
	var lines []any
	drops := map[Drop]int{}
	sh, _ := cfg.Task.(task.Shape)
	for j, p := range ps {
		ok := stopped
		if cfg.LengthFilter {
			ok = func(a lab.Answer) bool { return lab.LengthOK(sh, p, a) }
		}
		c, rej, why := PreferencePair(ans[j], ok, cfg.MinShare)
		if why != Kept {
			drops[why]++
			continue
		}
		if cfg.CutRejected {
			rej.Text = cutAtDivergence(c.Text, rej.Text)
		}
		lines = append(lines, dpoLine{Prompt: p.Prompt, Chosen: c.Text, Rejected: rej.Text})
	}
	return lines, drops
}

// cutAtDivergence returns rejected up to and including its first character
// that differs from chosen; a rejected answer that is a prefix of chosen
// (its mistake is ending early) stays whole.
func cutAtDivergence(chosen, rejected string) string {
	c, r := []rune(chosen), []rune(rejected)
	for i := range r {
		if i >= len(c) || r[i] != c[i] {
			return string(r[:i+1])
		}
	}
	return rejected
}
