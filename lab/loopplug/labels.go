package loopplug

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/synthloop/synthloop/lab"
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

// teacherRound runs a round of a generator that needs a teacher: a resumed
// round returns the data its earlier call finished; a round without a
// teacher writes the labels block's problems with their true answers (no
// labels block is then an error); any other round's data is made by label.
// The data is recorded for a resume.
func teacherRound(ctx context.Context, r *loop.Round, p *Problems, l *Labels, label func() (loop.Data, error)) (loop.Data, error) {
	if d, ok, err := restoreData(r); ok || err != nil {
		return d, err
	}
	var d loop.Data
	var err error
	switch {
	case hasTeacher(r):
		d, err = label()
	case l == nil:
		err = fmt.Errorf("round %d: %w", r.Index, errNoTeacher)
	default:
		d, err = writeLabels(r, p, l.Count, l.From, max(l.To, l.From))
	}
	if err != nil {
		return loop.Data{}, err
	}
	return finish(ctx, r, d)
}

// fresh draws the round's Count problems of the task, difficulties lo..hi,
// none of them held out, without their true answers, so nothing built from
// them can see one.
func (p *Problems) fresh(r *loop.Round, lo, hi int) (task.Task, []task.Problem) {
	t, _ := lookup(p.Task) // checked by Validate
	ps := draw(t, roundRNG(r, forProblems), p.Count, lo, hi, p.heldOut(), p.lengths(false))
	for i, q := range ps {
		ps[i] = task.Problem{Prompt: q.Prompt, Difficulty: q.Difficulty}
	}
	return t, ps
}

// sampling is how a teacher samples n answers to ps at temperature in round r.
func sampling(r *loop.Round, t task.Task, ps []task.Problem, n int, temperature float64) lab.Decode {
	return lab.Decode{N: n, Temperature: temperature, Seed: uint64(r.Seed)<<8 | forSamples, MaxTokens: maxTokens(t, ps)}
}

// teacherSamples has the round's teacher sample k answers at temperature
// to each of the round's fresh problems of difficulties lo..hi; method
// names the generator in the log.
func (p *Problems) teacherSamples(ctx context.Context, r *loop.Round, lo, hi, k int, temperature float64, method string) (task.Task, []task.Problem, [][]lab.Answer, error) {
	m, err := teacher(r)
	if err != nil {
		return nil, nil, nil, err
	}
	t, ps := p.fresh(r, lo, hi)
	r.Log.Info("lab: "+method+" sampling", "problems", len(ps), "k", k, "from", lo, "to", hi)
	as, err := answers(ctx, r, m, ps, sampling(r, t, ps, k, temperature), "sampling")
	return t, ps, as, err
}

// verdicts returns the verifier's verdict on each answer to p (an answer
// cut off before <|end|> is wrong) and how many are right.
func verdicts(t task.Task, p task.Problem, as []lab.Answer) ([]bool, int) {
	right, n := make([]bool, len(as)), 0
	for j, a := range as {
		if a.Stopped && t.Verify(p, a.Text) {
			right[j] = true
			n++
		}
	}
	return right, n
}

// writeRound writes a round's training data and its labels file (every
// problem with its answers and verdicts) and returns the data's path.
func writeRound[D, L any](r *loop.Round, data []D, labels []L) (string, error) {
	path := filepath.Join(r.Dir, DataFile)
	if err := writeJSONL(path, data); err != nil {
		return "", err
	}
	return path, writeJSONL(filepath.Join(r.Dir, LabelsFile), labels)
}
