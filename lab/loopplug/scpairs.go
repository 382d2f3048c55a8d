package loopplug

import (
	"context"
	"errors"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/methods"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// SCPairsConfig is the `with:` block of lab-scpairs.
type SCPairsConfig struct {
	Problems    `yaml:",inline"`
	Labels      *Labels `yaml:"labels" doc:"Labelled problems that train the first teacher (count, from, to)"`
	K           int     `yaml:"k" doc:"Answers per problem that vote"`
	Temperature float64 `yaml:"temperature" doc:"Temperature of the voting answers"`
	// MinShare is the share of the K samples the majority answer needs for
	// a pair; problems below it, or with a tie at the top, give none.
	MinShare     float64 `yaml:"min_share" doc:"Share of the K votes the majority answer needs for a pair"`
	LengthFilter bool    `yaml:"length_filter" doc:"Lets only answers of a length a true answer can have vote"`
	// CutRejected ends the rejected answer at its first character that
	// differs from the chosen one, so DPO pushes down the first mistake and
	// not the right characters after it.
	CutRejected bool `yaml:"cut_rejected" doc:"Ends the rejected answer at its first mistake, so DPO pushes down only that"`
}

// Validate implements the loop's config hook.
func (c *SCPairsConfig) Validate() error {
	if err := c.check("lab-scpairs"); err != nil {
		return err
	}
	if c.K < 2 || !(c.Temperature > 0) || c.MinShare < 0 || c.MinShare > 1 {
		return errors.New("lab-scpairs: k ≥ 2, a positive temperature and min_share in [0, 1] are needed")
	}
	return c.Labels.check()
}

func (c *SCPairsConfig) hardest() int { return c.Labels.hardest() }

type scPairsGen struct{ c *SCPairsConfig }

// pairLine is one line of labels.jsonl for lab-scpairs.
type pairLine struct {
	task.Problem
	Answers  []lab.Answer `json:"answers"`
	Chosen   string       `json:"chosen,omitempty"`
	Rejected string       `json:"rejected,omitempty"`
	Drop     methods.Drop `json:"drop,omitempty"`
	// ChosenRight and RejectedWrong are the verifier's verdicts, for the
	// report only: no pair was chosen or kept by them.
	ChosenRight   bool `json:"chosen_right"`
	RejectedWrong bool `json:"rejected_wrong"`
}

func (g *scPairsGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	return teacherRound(ctx, r, &g.c.Problems, g.c.Labels, func() (loop.Data, error) { return g.pairs(ctx, r) })
}

func (g *scPairsGen) pairs(ctx context.Context, r *loop.Round) (loop.Data, error) {
	c := g.c
	lo, hi := c.Range(r.Index, c.Labels != nil)
	t, ps, as, err := c.teacherSamples(ctx, r, lo, hi, c.K, c.Temperature, "self-consistency")
	if err != nil {
		return loop.Data{}, err
	}
	sh := t.(task.Shape)
	var pairs []dpoLine
	lines := make([]pairLine, len(ps))
	drops := map[methods.Drop]int{}
	chosenRight, rejectedWrong := 0, 0
	for i, p := range ps {
		ok := func(a lab.Answer) bool { return a.Stopped }
		if c.LengthFilter {
			ok = func(a lab.Answer) bool { return lab.LengthOK(sh, p, a) }
		}
		l := &lines[i]
		l.Problem, l.Answers = p, as[i]
		ch, rej, why := methods.PreferencePair(as[i], ok, c.MinShare)
		if why != methods.Kept {
			l.Drop = why
			drops[why]++
			continue
		}
		if c.CutRejected {
			rej.Text = cutAtDivergence(ch.Text, rej.Text)
		}
		l.Chosen, l.Rejected = ch.Text, rej.Text
		l.ChosenRight, l.RejectedWrong = t.Verify(p, ch.Text), !t.Verify(p, rej.Text)
		if l.ChosenRight {
			chosenRight++
		}
		if l.RejectedWrong {
			rejectedWrong++
		}
		pairs = append(pairs, dpoLine{Prompt: p.Prompt, Chosen: ch.Text, Rejected: rej.Text})
	}
	path, err := writeRound(r, pairs, lines)
	if err != nil {
		return loop.Data{}, err
	}
	n, kept := float64(max(len(ps), 1)), float64(max(len(pairs), 1))
	return loop.Data{Path: path, Format: "dpo", Generated: len(ps), Kept: len(pairs), Metrics: map[string]float64{
		"yield":            float64(len(pairs)) / n,
		"chosen_right":     float64(chosenRight) / kept,
		"rejected_wrong":   float64(rejectedWrong) / kept,
		"drop_no_answer":   float64(drops[methods.NoAnswer]) / n,
		"drop_unanimous":   float64(drops[methods.Unanimous]) / n,
		"drop_tie":         float64(drops[methods.Tie]) / n,
		"drop_no_majority": float64(drops[methods.NoMajority]) / n,
		"from":             float64(lo),
		"to":               float64(hi),
	}}, nil
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
