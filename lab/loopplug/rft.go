package loopplug

import (
	"context"
	"errors"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/methods"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// RFTConfig is the `with:` block of lab-rft.
type RFTConfig struct {
	Problems    `yaml:",inline"`
	Labels      *Labels `yaml:"labels" doc:"Labelled problems that train the first teacher (count, from, to)"`
	K           int     `yaml:"k" doc:"Answers sampled per problem"`
	Temperature float64 `yaml:"temperature" doc:"Temperature of the samples"`
}

// Validate implements the loop's config hook.
func (c *RFTConfig) Validate() error {
	if err := c.check("lab-rft"); err != nil {
		return err
	}
	if c.K < 1 || !(c.Temperature > 0) {
		return errors.New("lab-rft: k and temperature must be positive")
	}
	return c.Labels.check()
}

func (c *RFTConfig) hardest() int { return c.Labels.hardest() }

type rftGen struct{ c *RFTConfig }

// sample is one line of labels.jsonl for lab-rft: a problem's samples and
// the verifier's verdicts, which choose the training data here.
type sample struct {
	task.Problem
	Answers []lab.Answer `json:"answers"`
	Right   []bool       `json:"right"`
}

func (g *rftGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	return teacherRound(ctx, r, &g.c.Problems, g.c.Labels, func() (loop.Data, error) { return g.sample(ctx, r) })
}

func (g *rftGen) sample(ctx context.Context, r *loop.Round) (loop.Data, error) {
	c := g.c
	lo, hi := c.Range(r.Index, c.Labels != nil)
	t, ps, as, err := c.teacherSamples(ctx, r, lo, hi, c.K, c.Temperature, "rft")
	if err != nil {
		return loop.Data{}, err
	}
	var kept []sftLine
	samples := make([]sample, len(ps))
	correct, solved := 0, 0
	pass1, passK := 0.0, 0.0
	// Distinct (prompt, answer) pairs across the round: short problems recur.
	seen := map[[2]string]bool{}
	for i, p := range ps {
		s := &samples[i]
		var right int
		s.Problem, s.Answers = p, as[i]
		s.Right, right = verdicts(t, p, as[i])
		for j, a := range as[i] {
			if k := [2]string{p.Prompt, a.Text}; s.Right[j] && !seen[k] {
				seen[k] = true
				kept = append(kept, sft(task.Problem{Prompt: p.Prompt, Answer: a.Text, Difficulty: p.Difficulty}))
			}
		}
		correct += right
		if right > 0 {
			solved++
		}
		pass1 += methods.PassAtK(len(as[i]), right, 1)
		passK += methods.PassAtK(len(as[i]), right, len(as[i]))
	}
	path, err := writeRound(r, kept, samples)
	if err != nil {
		return loop.Data{}, err
	}
	n, drawn := float64(max(len(ps), 1)), float64(max(len(ps)*c.K, 1))
	return loop.Data{Path: path, Format: "sft", Generated: len(ps) * c.K, Kept: len(kept), Metrics: map[string]float64{
		"yield":     float64(len(kept)) / drawn,
		"correct":   float64(correct) / drawn,
		"solved":    float64(solved) / n,
		"pass_at_1": pass1 / n,
		"pass_at_k": passK / n,
		"k":         float64(c.K),
		"from":      float64(lo),
		"to":        float64(hi),
	}}, nil
}
