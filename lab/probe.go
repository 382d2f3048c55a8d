package lab

import (
	"context"
	"fmt"

	"github.com/synthloop/synthloop/lab/task"
)

// Probe is a label-free measure of how well a model answers problems of a
// length it has no labels for, used to pick the checkpoint of a training
// phase that is strongest one length past its data: at this model size
// that accuracy swings with the stopping step, and the loss on the
// training data does not show it. It never sees a true answer.
type Probe struct {
	// Signal is "commute" (the greedy answers to A+B= and B+A= must both
	// pass the length filter and agree; tasks with task.Commutative) or
	// "samples" (the share of Samples answers at Temperature that give the
	// majority answer among those passing the length filter).
	Signal      string  `json:"signal"`
	Samples     int     `json:"samples,omitempty"`
	Temperature float64 `json:"temperature,omitempty"`
}

// Check reports a probe that cannot run on t.
func (p Probe) Check(t task.Task) error {
	switch p.Signal {
	case "commute":
		if _, ok := t.(task.Commutative); !ok {
			return fmt.Errorf("lab: probe commute: task %s has no operands to swap", t.Name())
		}
	case "samples":
		if p.Samples < 2 || !(p.Temperature > 0) {
			return fmt.Errorf("lab: probe samples: want samples ≥ 2 and a temperature > 0, have %d and %g", p.Samples, p.Temperature)
		}
	default:
		return fmt.Errorf("lab: probe signal %q: want commute or samples", p.Signal)
	}
	if _, ok := t.(task.Shape); !ok {
		return fmt.Errorf("lab: probe: task %s has no answer lengths", t.Name())
	}
	return nil
}

// Score returns the probe's signal on ps, in [0, 1]. It reads only the
// prompts and difficulties of ps (their answers are dropped) and only the
// answer lengths of t (task.Shape.AnswerLen) and its operand swap; it never
// calls t's Verify or Solve. seed drives the samples.
func (p Probe) Score(ctx context.Context, m *Model, t task.Task, ps []task.Problem, seed uint64) (float64, error) {
	if err := p.Check(t); err != nil {
		return 0, err
	}
	if len(ps) == 0 {
		return 0, nil
	}
	sh := t.(task.Shape)
	qs := make([]task.Problem, len(ps))
	for i, q := range ps {
		qs[i] = task.Problem{Prompt: q.Prompt, Difficulty: q.Difficulty}
	}
	maxTok := 1
	for _, q := range qs {
		_, hi := sh.AnswerLen(q.Difficulty)
		maxTok = max(maxTok, hi+2) // room to see an answer run long
	}
	switch p.Signal {
	case "commute":
		sw := t.(task.Commutative)
		both := make([]task.Problem, 0, 2*len(qs))
		both = append(both, qs...)
		for _, q := range qs {
			s, good := sw.Swap(q.Prompt)
			if !good {
				return 0, fmt.Errorf("lab: probe: cannot swap the operands of %q", q.Prompt)
			}
			both = append(both, task.Problem{Prompt: s, Difficulty: q.Difficulty})
		}
		as, err := Answers(ctx, m, both, Decode{MaxTokens: maxTok})
		if err != nil {
			return 0, err
		}
		return commuteScore(sh, qs, as[:len(qs)], as[len(qs):]), nil
	default:
		as, err := Answers(ctx, m, qs, Decode{N: p.Samples, Temperature: p.Temperature, Seed: seed, MaxTokens: maxTok})
		if err != nil {
			return 0, err
		}
		return samplesScore(sh, qs, as), nil
	}
}

// commuteScore is the share of qs whose answers in one order (as) and the
// other (bs) both pass the length filter and are the same.
func commuteScore(sh task.Shape, qs []task.Problem, as, bs [][]Answer) float64 {
	n := 0
	for i, q := range qs {
		a, b := as[i][0], bs[i][0]
		if LengthOK(sh, q, a) && LengthOK(sh, q, b) && a.Text == b.Text {
			n++
		}
	}
	return float64(n) / float64(max(len(qs), 1))
}

// samplesScore is the mean over qs of the majority's share of each
// problem's samples, among the samples passing the length filter.
func samplesScore(sh task.Shape, qs []task.Problem, as [][]Answer) float64 {
	var sum float64
	for i, q := range qs {
		_, share := Majority(as[i], func(a Answer) bool { return LengthOK(sh, q, a) })
		sum += share
	}
	return sum / float64(max(len(qs), 1))
}
