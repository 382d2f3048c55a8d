package loopplug

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// ProbeFile, in a probed student's directory, records its probe: the
// difficulty, the best score and its step, and every score of the round.
const ProbeFile = "probe.json"

// ProbePoint is one probe of a voter's training.
type ProbePoint struct {
	Step  int     `json:"step"`
	Score float64 `json:"score"`
}

// ProbeRecord is what ProbeFile holds.
type ProbeRecord struct {
	Difficulty int          `json:"difficulty"`
	Score      float64      `json:"score"` // the best, the student's
	Step       int          `json:"step"`
	Curve      []ProbePoint `json:"curve"`
}

// prober probes voter k of a round during its training.
type prober struct {
	r          *loop.Round
	k          int
	best       string // the student's directory, where trainjob keeps the best checkpoint
	t          task.Task
	p          lab.Probe
	tok        tokenizer.Tokenizer
	ps         []task.Problem
	difficulty int
	seed       uint64
	curve      []ProbePoint
}

// forProbe is the random stream of a round's probe problems and samples.
const forProbe uint64 = 0x970be

func (tr *trainer) newProber(r *loop.Round, init, best string, k int) (*prober, error) {
	c := tr.c
	t, _ := lookup(c.Task)
	tok, err := checkpoint.LoadTokenizer(init)
	if err != nil {
		return nil, fmt.Errorf("lab-train: probe: %w", err)
	}
	d := c.next().nextDifficulty(r)
	// Both operands of the next length, as evaluation draws them; the same
	// problems for every voter and every probe of the round. Their answers
	// are dropped here and never read (lab.Probe.Score).
	ps := draw(t, rand.New(rand.NewPCG(uint64(r.Seed), forProbe)), c.Probe.Problems, d, d, nil, equal)
	for i, q := range ps {
		ps[i] = task.Problem{Prompt: q.Prompt, Difficulty: q.Difficulty}
	}
	pr := &prober{r: r, k: k, best: best, t: t, p: c.Probe.lab(), tok: tok, ps: ps, difficulty: d,
		seed: uint64(r.Seed)<<8 ^ forProbe}
	if _, err := r.Restore(pr.key(), &pr.curve); err != nil {
		return nil, err
	}
	return pr, nil
}

func (pr *prober) key() string { return voterName("probe_curve", pr.k) }

// probe returns trainjob's probe for a phase after done steps: it scores
// the model, logs the score and records the curve in the round state, so
// that a resumed round reports every probe once.
func (pr *prober) probe(done int, log *json.Encoder) func(context.Context, *llama.Model, int) (float64, error) {
	return func(ctx context.Context, lm *llama.Model, step int) (float64, error) {
		m, err := lab.Wrap(lm, pr.tok)
		if err != nil {
			return 0, err
		}
		s, err := pr.p.Score(ctx, m, pr.t, pr.ps, pr.seed)
		if err != nil {
			return 0, err
		}
		at := done + step
		for len(pr.curve) > 0 && pr.curve[len(pr.curve)-1].Step >= at {
			pr.curve = pr.curve[:len(pr.curve)-1]
		}
		pr.curve = append(pr.curve, ProbePoint{Step: at, Score: s})
		if err := pr.r.Save(ctx, pr.key(), pr.curve); err != nil {
			return 0, err
		}
		log.Encode(map[string]any{"step": at, "probe": s, "difficulty": pr.difficulty})
		return s, nil
	}
}

// finish writes ProbeFile into the student's directory and the probe's
// metrics: the best score, its step, the difficulty, the first and last.
func (pr *prober) finish(metrics map[string]float64) error {
	if len(pr.curve) == 0 {
		return fmt.Errorf("lab-train: voter %d: the training finished without a probe", pr.k)
	}
	best := ProbePoint{Step: -1}
	for _, p := range pr.curve {
		// The later of a tie, and never the starting model, as trainjob keeps.
		if p.Step > 0 && (best.Step < 0 || p.Score >= best.Score) {
			best = p
		}
	}
	if best.Step < 0 {
		return fmt.Errorf("lab-train: voter %d: no probe after a training step", pr.k)
	}
	rec := ProbeRecord{Difficulty: pr.difficulty, Score: best.Score, Step: best.Step, Curve: pr.curve}
	b, err := json.MarshalIndent(rec, "", " ")
	if err != nil {
		return fmt.Errorf("lab-train: %w", err)
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(pr.best, ProbeFile), append(b, '\n')); err != nil {
		return fmt.Errorf("lab-train: %w", err)
	}
	metrics["probe"], metrics["probe_step"], metrics["probe_difficulty"] = best.Score, float64(best.Step), float64(pr.difficulty)
	metrics["probe_first"], metrics["probe_last"] = pr.curve[0].Score, pr.curve[len(pr.curve)-1].Score
	return nil
}

// readProbe reads the ProbeFile of a model directory; ok is false when it
// has none (a model trained without a probe).
func readProbe(dir string) (rec ProbeRecord, ok bool, err error) {
	b, err := readFileIfAny(filepath.Join(dir, ProbeFile))
	if err != nil || b == nil {
		return rec, false, err
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		return rec, false, fmt.Errorf("%s: %w", filepath.Join(dir, ProbeFile), err)
	}
	return rec, true, nil
}

// readFileIfAny reads a file, nil when it does not exist.
func readFileIfAny(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	return b, err
}
