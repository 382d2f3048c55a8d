// Package loopplug plugs the lab's verifiable tasks into the self-learning loop: generators that label problems (true labels, self-labels with a length filter and majority vote, verified samples, self-consistency pairs), a trainer of the lab's NoPE models and an exact-match evaluator by difficulty.
package loopplug

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
	_ "github.com/synthloop/synthloop/model/local" // serves the local/DIR students lab-train makes
)

func init() {
	registerGenerators()
	registerTrainer()
	registerEvaluator()
}

// Problems says which problems a generator draws in a round: Count of them,
// spread evenly over the difficulties From..To, a range that moves Step
// difficulties a round from FirstRound on. With Step 0 every round draws
// from the same range (RFT, self-consistency, distillation); with Step 1 and
// a labelled first round, round r draws difficulty From+r-2 (self-improvement
// past the labelled difficulties).
type Problems struct {
	Task  string `yaml:"task" doc:"Lab task: reverse-addition, copy, reverse, multiplication or long-multiplication"`
	Count int    `yaml:"count" doc:"Problems generated per round"`
	From  int    `yaml:"from" doc:"Lowest difficulty in the first round"`
	To    int    `yaml:"to" doc:"Highest difficulty in the first round (0: from)"`
	Step  int    `yaml:"step" doc:"Difficulties the range moves up per round (a curriculum)"`
	// FirstRound draws From..To; 0 means round 2 when the generator has a
	// labels block (round 1, with no teacher yet, is labelled) and round 1
	// otherwise.
	FirstRound int `yaml:"first_round" doc:"Round that draws from..to (0: 2 with labels, else 1)"`
	// MixedOperands gives the two operands of a problem (tasks with
	// task.Operands) different lengths, as Lee et al. (2025) train
	// addition: labelled problems draw each length from the difficulties
	// independently, and the other rounds give one operand the problem's
	// difficulty and the other any length up to it, so a model learns to
	// find digit i of each number wherever the other one ends. Held-out
	// problems keep equal lengths.
	MixedOperands bool `yaml:"mixed_operands" doc:"Operands of different lengths (reverse-addition): independent for labels, one of the round's difficulty and one up to it for the rest"`
	// EqualShare, with MixedOperands, gives that share of the problems
	// that are not labelled two operands of the round's difficulty, the
	// lengths evaluation draws: the length a round must learn next.
	EqualShare float64 `yaml:"equal_share" doc:"With mixed_operands: share of the self-labelled problems with both operands of the round's difficulty"`

	loop *loop.Config
}

// SetLoop implements the loop's config hook: the loop's evaluator, read
// when a round draws, says which problems are held out.
func (p *Problems) SetLoop(l *loop.Config) { p.loop = l }

// heldOut returns the prompts the loop's lab-accuracy evaluator tests on,
// which no round trains on: at short lengths a round's draw would
// otherwise hold much of the test.
func (p *Problems) heldOut() map[string]bool {
	if p.loop == nil {
		return nil
	}
	ac, ok := p.loop.Evaluate.Settings.(*AccuracyConfig)
	if !ok {
		return nil
	}
	t, err := lookup(ac.Task)
	if err != nil {
		return nil
	}
	out := map[string]bool{}
	for _, set := range lab.HeldOut(t, ac.Difficulties, ac.Problems, ac.seed()) {
		for _, q := range set {
			out[q.Prompt] = true
		}
	}
	return out
}

// Labels is the labelled round of a generator that needs a teacher: when a
// round has none (round 1 of a loop without a teacher), the generator writes
// Count problems of difficulties From..To with their true answers, so that
// the loop trains its first teacher.
type Labels struct {
	Count int `yaml:"count"`
	From  int `yaml:"from"`
	To    int `yaml:"to"` // 0 means From
}

func (p *Problems) check(what string) error {
	t, err := lookup(p.Task)
	if err != nil {
		return err
	}
	if _, ok := t.(task.Operands); p.MixedOperands && !ok {
		return fmt.Errorf("%s: mixed_operands: task %s has no two operands", what, p.Task)
	}
	switch {
	case p.Count < 1:
		return fmt.Errorf("%s: count %d: need problems", what, p.Count)
	case p.From < 1 || (p.To != 0 && p.To < p.From):
		return fmt.Errorf("%s: difficulties from %d to %d: want 1 ≤ from ≤ to", what, p.From, p.To)
	case p.EqualShare < 0 || p.EqualShare > 1 || p.EqualShare > 0 && !p.MixedOperands:
		return fmt.Errorf("%s: equal_share %g: want a share in [0, 1], with mixed_operands", what, p.EqualShare)
	case p.Step < 0 || p.FirstRound < 0:
		return fmt.Errorf("%s: step %d and first_round %d must not be negative", what, p.Step, p.FirstRound)
	}
	return nil
}

// labTask is the lab task the generator draws, for the trainer and
// evaluator that follow it.
func (p *Problems) labTask() string { return p.Task }

// hardest is the hardest labelled difficulty, 0 without labels.
func (l *Labels) hardest() int {
	if l == nil {
		return 0
	}
	return max(l.To, l.From)
}

func (l *Labels) check() error {
	if l == nil {
		return nil
	}
	if l.Count < 1 || l.From < 1 || (l.To != 0 && l.To < l.From) {
		return fmt.Errorf("labels: %d problems of difficulty %d to %d: want count ≥ 1 and 1 ≤ from ≤ to", l.Count, l.From, l.To)
	}
	return nil
}

// Range returns the difficulties of round r. A range that would move below
// difficulty 1 (a round before FirstRound) is clamped there.
func (p *Problems) Range(r int, labelled bool) (lo, hi int) {
	lo, hi = p.From, max(p.To, p.From)
	shift := (r - p.first(labelled)) * p.Step
	return max(lo+shift, 1), max(hi+shift, 1)
}

// first is the round that draws From..To.
func (p *Problems) first(labelled bool) int {
	switch {
	case p.FirstRound > 0:
		return p.FirstRound
	case labelled:
		return 2
	}
	return 1
}

// lookup returns a task that has the Shape the lab needs.
func lookup(name string) (task.Task, error) {
	if name == "" {
		return nil, fmt.Errorf("task is required (one of %v)", task.Names())
	}
	t, err := task.Lookup(name)
	if err != nil {
		return nil, err
	}
	if _, ok := t.(task.Shape); !ok {
		return nil, fmt.Errorf("task %s has no answer lengths", name)
	}
	return t, nil
}

// lengths says how draw sizes the operands of a problem: equal (both of
// the problem's difficulty, task.Generate), independent (each drawn from
// lo..hi: labelled problems with MixedOperands) or up to (one of the
// difficulty, the other 1..difficulty: MixedOperands), where a share
// Equal of the problems has both operands of the difficulty (lab-propose's
// labels use it with independent lengths too).
type lengths struct {
	kind  int
	Equal float64
}

var (
	equal       = lengths{kind: 0}
	independent = lengths{kind: 1}
	upTo        = lengths{kind: 2}
)

// lengths returns how the generator's labelled or other problems size
// their operands.
func (p *Problems) lengths(labelled bool) lengths {
	switch {
	case !p.MixedOperands:
		return equal
	case labelled:
		return independent
	}
	return lengths{kind: upTo.kind, Equal: p.EqualShare}
}

// draw returns n problems spread evenly over lo..hi, drawn from rng,
// none of them held out. Where a difficulty has too few prompts besides the
// held-out ones (one-character strings), it returns fewer problems rather
// than loop.
func draw(t task.Task, rng *rand.Rand, n, lo, hi int, held map[string]bool, ls lengths) []task.Problem {
	op, _ := t.(task.Operands)
	gen := func(d int) task.Problem {
		switch {
		case op == nil || ls.kind == equal.kind:
			return t.Generate(rng, d)
		case ls.Equal > 0 && rng.Float64() < ls.Equal:
			return t.Generate(rng, d)
		case ls.kind == independent.kind:
			return op.GenerateOperands(rng, d, lo+rng.IntN(hi-lo+1))
		}
		k := 1 + rng.IntN(d)
		if rng.IntN(2) == 0 {
			return op.GenerateOperands(rng, d, k)
		}
		return op.GenerateOperands(rng, k, d)
	}
	out := make([]task.Problem, 0, n)
	for i := range n {
		for range 20 {
			if p := gen(lo + i%(hi-lo+1)); !held[p.Prompt] {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// Random streams of a round, by purpose: r.Seed is the loop's seed plus the
// round index, so a redone round draws the same.
const (
	forProblems uint64 = iota + 1
	forSamples
	forInit
	forTrain
	forEarlier        // lab-propose's earlier_prompts
	forEarlierAnswers // lab-propose's earlier_answers
	forTwins          // lab-propose's equal_twins
)

func roundRNG(r *loop.Round, purpose uint64) *rand.Rand {
	return rand.New(rand.NewPCG(uint64(r.Seed), purpose))
}

// teacher loads the round's teacher, which must be one of the lab's model
// directories.
func teacher(r *loop.Round) (*lab.Model, error) {
	if r.Teacher.Dir == "" {
		return nil, fmt.Errorf("the teacher %q is not a built-in model directory; the lab's generators need one (a local/DIR model)", r.Teacher.Ref())
	}
	return lab.LoadModel(r.Teacher.Dir)
}

// teachers loads the round's teacher and its voters.
func teachers(r *loop.Round) ([]*lab.Model, error) {
	t, err := teacher(r)
	if err != nil {
		return nil, err
	}
	out := []*lab.Model{t}
	for k, v := range r.Teacher.Voters {
		if v.Dir == "" {
			return nil, fmt.Errorf("the teacher's voter %d %q is not a built-in model directory", k+1, v.Ref())
		}
		m, err := lab.LoadModel(v.Dir)
		if err != nil {
			return nil, fmt.Errorf("the teacher's voter %d: %w", k+1, err)
		}
		out = append(out, m)
	}
	return out, nil
}

// hasTeacher reports whether the round has a teacher at all.
func hasTeacher(r *loop.Round) bool { return r.Teacher.Ref() != "" || r.Teacher.Dir != "" }

// chunk is how many problems one answering call takes, so that progress
// shows during a long labelling. A problem's answers do not depend on the
// others in its call (engine/sample seeds by sample index), so the chunking
// changes no answer.
const chunk = 512

// answers answers ps with m, reporting progress as it goes.
func answers(ctx context.Context, r *loop.Round, m *lab.Model, ps []task.Problem, dec lab.Decode, note string) ([][]lab.Answer, error) {
	out := make([][]lab.Answer, 0, len(ps))
	for lo := 0; lo < len(ps); lo += chunk {
		hi := min(lo+chunk, len(ps))
		r.Progress(lo, len(ps), note)
		as, err := lab.Answers(ctx, m, ps[lo:hi], dec)
		if err != nil {
			return nil, err
		}
		out = append(out, as...)
	}
	r.Progress(len(ps), len(ps), note)
	return out, nil
}

// maxTokens bounds an answer at difficulty d: the longest true answer plus
// room to see an answer run long (never the answer itself).
func maxTokens(t task.Task, ps []task.Problem) int {
	sh := t.(task.Shape)
	n := 1
	for _, p := range ps {
		_, hi := sh.AnswerLen(p.Difficulty)
		n = max(n, hi+2)
	}
	return n
}

// The trainjob JSONL shapes.
type sftLine struct {
	Messages any `json:"messages"`
}

type dpoLine struct {
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
}

func sft(p task.Problem) sftLine { return sftLine{Messages: lab.Messages(p)} }

// writeJSONL writes one JSON line per item, atomically: a kill leaves the
// old file or the whole new one.
func writeJSONL[T any](path string, items []T) error {
	err := checkpoint.WriteAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, it := range items {
			if err := enc.Encode(it); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("loopplug: %w", err)
	}
	return nil
}

// restoreData returns the Data an earlier call of the round's generator
// finished, so a resumed round does not label again.
func restoreData(r *loop.Round) (loop.Data, bool, error) {
	var d loop.Data
	ok, err := r.Restore("data", &d)
	if err != nil || !ok {
		return loop.Data{}, false, err
	}
	return d, true, nil
}

// finish records d for a resumed round and returns it.
func finish(ctx context.Context, r *loop.Round, d loop.Data) (loop.Data, error) {
	if err := r.Save(ctx, "data", d); err != nil {
		return loop.Data{}, err
	}
	return d, nil
}

var errNoTeacher = errors.New("the round has no teacher: set the loop's teacher (a local/DIR model) or a labels block for the first round")
