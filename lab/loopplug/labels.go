package loopplug

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// DataFile is the round's training file, in trainjob's JSONL (SFT
// conversations or DPO pairs); LabelsFile holds every labelled problem with
// its answers and verdicts, for inspection.
const (
	DataFile   = "data.jsonl"
	LabelsFile = "labels.jsonl"
)

// LabelsConfig is the `with:` block of lab-labels.
type LabelsConfig struct {
	Problems `yaml:",inline"`
}

// Validate implements the loop's config hook.
func (c *LabelsConfig) Validate() error { return c.check("lab-labels") }

func (c *LabelsConfig) labTask() string { return c.Task }

// hardest is the hardest difficulty of the first round's labels.
func (c *LabelsConfig) hardest() int { _, hi := c.Range(1, false); return hi }

// labelsGen is lab-labels: problems with their true answers.
type labelsGen struct{ c *LabelsConfig }

func (g *labelsGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	if d, ok, err := restoreData(r); ok || err != nil {
		return d, err
	}
	lo, hi := g.c.Range(r.Index, false)
	d, err := writeLabels(r, &g.c.Problems, g.c.Count, lo, hi)
	if err != nil {
		return loop.Data{}, err
	}
	return finish(ctx, r, d)
}

// writeLabels writes n problems of p's task, difficulties lo..hi, with
// their true answers as the round's SFT data, none of them held out.
func writeLabels(r *loop.Round, p *Problems, n, lo, hi int) (loop.Data, error) {
	t, err := lookup(p.Task)
	if err != nil {
		return loop.Data{}, err
	}
	ps := draw(t, roundRNG(r, forProblems), n, lo, hi, p.heldOut(), p.lengths(true))
	lines := make([]sftLine, len(ps))
	for i, p := range ps {
		lines[i] = sft(p)
	}
	path := filepath.Join(r.Dir, DataFile)
	if err := writeJSONL(path, lines); err != nil {
		return loop.Data{}, err
	}
	r.Log.Info("lab: true labels", "problems", len(ps), "from", lo, "to", hi)
	return loop.Data{Path: path, Format: "sft", Generated: len(ps), Kept: len(ps), Metrics: map[string]float64{
		"yield": 1, "kept_correct": 1, "from": float64(lo), "to": float64(hi), "labelled": 1,
	}}, nil
}

// labelledRound writes the labels block's problems when the round has no
// teacher; ok is false when the round has one (or there is no labels block,
// which is then an error).
func labelledRound(r *loop.Round, p *Problems, l *Labels) (d loop.Data, ok bool, err error) {
	if hasTeacher(r) {
		return loop.Data{}, false, nil
	}
	if l == nil {
		return loop.Data{}, false, fmt.Errorf("round %d: %w", r.Index, errNoTeacher)
	}
	d, err = writeLabels(r, p, l.Count, l.From, max(l.To, l.From))
	return d, true, err
}

// unlabelled strips the true answers, so nothing built from the problems
// can see one.
func unlabelled(ps []task.Problem) []task.Problem {
	out := make([]task.Problem, len(ps))
	for i, p := range ps {
		out[i] = task.Problem{Prompt: p.Prompt, Difficulty: p.Difficulty}
	}
	return out
}
