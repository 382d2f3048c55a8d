package evaluate

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/loop"
)

func init() {
	loop.RegisterEvaluator(loop.Type[loop.Evaluator]{
		Name: "judge",
		Doc: `Answers every held-out prompt with the student and with the teacher, and has a judge
model (or a panel) compare each pair in both orders: a win counts only when both orders
agree, any disagreement is a tie. The compared metric is the student's win rate, ties
counting half, against 0.5: with margin 0.05 the student must reach 0.55. Per-item
verdicts go to round-NNN/eval.jsonl.`,
		Example: `evaluate:
  type: judge
  with:
    data: heldout.jsonl     # {"prompt": ...} per line
    judge_model: critic     # a model of the loop's models section (or panel: [a, b])
    max_tokens: 512`,
		Config: func() any { return &JudgeConfig{} },
		New:    func(c any) (loop.Evaluator, error) { return NewJudge(c.(*JudgeConfig)) },
	})
}

// JudgeConfig is the `with:` block of the judge evaluator: the decoding
// settings and the judge's (judge_model or panel, aggregate, rubric
// criteria, judge_temperature, judge_max_tokens, judge_retries).
type JudgeConfig struct {
	Decode       `yaml:",inline"`
	judge.Config `yaml:",inline"`
}

// Validate checks the settings without reading the data.
func (c *JudgeConfig) Validate() error {
	if err := c.Decode.validate(); err != nil {
		return err
	}
	if len(c.Config.Names("")) == 0 {
		return errors.New("judge_model (or panel) is required: the model that compares the answers")
	}
	return c.Config.Validate()
}

// ModelNames lists the judge models for the loop's check of model names.
func (c *JudgeConfig) ModelNames() []string { return c.Config.Names("") }

// Judge is the pairwise judge evaluator.
type Judge struct{ c *JudgeConfig }

// NewJudge returns the evaluator of a config.
func NewJudge(c *JudgeConfig) (*Judge, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Judge{c: c}, nil
}

// Evaluate implements loop.Evaluator.
func (e *Judge) Evaluate(ctx context.Context, r *loop.Round, student, teacher loop.Model) (loop.Eval, error) {
	if teacher.Ref() == "" {
		return loop.Eval{}, errors.New("evaluate: the judge compares the student with a teacher, and the loop has none")
	}
	items, err := e.c.items(false)
	if err != nil {
		return loop.Eval{}, err
	}
	sa, err := e.c.answerAll(ctx, r, student, items, "student")
	if err != nil {
		return loop.Eval{}, err
	}
	ta, err := e.c.answerAll(ctx, r, teacher, items, "teacher")
	if err != nil {
		return loop.Eval{}, err
	}
	cmp, err := e.c.Config.NewComparer(func(name string) (judge.Backend, error) {
		b, info, err := r.OpenNamed(ctx, name)
		if err != nil {
			return judge.Backend{}, err
		}
		return judge.Backend{Backend: b, Name: name, Provider: info.Provider, Model: info.Model}, nil
	}, "")
	if err != nil {
		return loop.Eval{}, err
	}
	prefs := make([]judge.Preference, len(items))
	var done atomic.Int64
	conc := e.c.Concurrency
	if conc == 0 {
		conc = 8
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i, it := range items {
		if sa[i].Err != "" || ta[i].Err != "" {
			prefs[i].Err = "no answer to compare"
			continue
		}
		g.Go(func() error {
			// A is the student, B the teacher; Compare shows both orders.
			p, err := cmp.Compare(gctx, it.Prompt, sa[i].Text, ta[i].Text)
			if err != nil {
				return err
			}
			prefs[i] = p
			r.Progress(int(done.Add(1)), len(items), "judge")
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return loop.Eval{}, err
	}
	var wins, losses, ties, bad int
	cost := 0.0
	rows := make([]any, len(items))
	for i, p := range prefs {
		cost += sa[i].Cost + ta[i].Cost + p.Usage.CostUSD
		switch {
		case !p.OK():
			bad++
		case p.Winner == judge.WinnerA:
			wins++
		case p.Winner == judge.WinnerB:
			losses++
		default:
			ties++
		}
		row := map[string]any{"prompt": items[i].Prompt, "student": sa[i].Text, "teacher": ta[i].Text,
			"winner": winnerName(p), "forward": p.Forward, "backward": p.Backward}
		if p.Err != "" {
			row["error"] = p.Err
		}
		rows[i] = row
	}
	n := wins + losses + ties
	if n == 0 {
		return loop.Eval{}, fmt.Errorf("evaluate: the judge gave no verdict on any of %d items", len(items))
	}
	wr := (float64(wins) + float64(ties)/2) / float64(n)
	if err := writeJSONL(filepath.Join(r.Dir, "eval.jsonl"), rows); err != nil {
		return loop.Eval{}, err
	}
	return loop.Eval{
		Metric: "win_rate", Student: wr, Teacher: 0.5, CostUSD: cost,
		Metrics: map[string]float64{"win_rate": wr, "wins": float64(wins), "losses": float64(losses), "ties": float64(ties),
			"no_verdict": float64(bad), "items": float64(len(items))},
	}, nil
}

func winnerName(p judge.Preference) string {
	switch {
	case !p.OK():
		return ""
	case p.Winner == judge.WinnerA:
		return "student"
	case p.Winner == judge.WinnerB:
		return "teacher"
	}
	return "tie"
}
