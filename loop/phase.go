package loop

import (
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/goccy/go-yaml/ast"

	"github.com/synthloop/synthloop/internal/confkit"
)

// Phase changes a loop's steps from a given round on, in the same run: a
// method that learns fastest early can hand over to one that learns
// fastest late (GRPO while most groups hold right and wrong answers, then
// rejection sampling), with every round's data, students and resume kept
// in one run directory.
//
//	phases:
//	  - from: 5
//	    title: RFT from round 5
//	    types: {generate: lab-rft}
//	    generate: {count: 1500, k: 8}   # merged over generate.with; null removes a key
//	    train: {steps: 300, grpo: null}
type Phase struct {
	From  int    `yaml:"from" doc:"The first round that runs the phase's steps (2 or later, at most rounds; phases in increasing order); with when, the earliest (default: the round after the phase before can start)"`
	When  *When  `yaml:"when" doc:"Start the phase only after a round whose metric passes a bound: metric, and above or below"`
	Title string `yaml:"title" doc:"Says what the phase changes, for logs, summary.json and the report"`
	// StepChanges change the loop's own steps as a baseline's do; each
	// phase starts from the loop's steps, not from the phase before it.
	StepChanges `yaml:",inline"`
}

// When starts a phase on a measured signal rather than at a fixed round:
// the phase starts in the first round, from its From on, that follows a
// round of the phase before it (or of the loop's own steps) whose metric
// is strictly above Above or strictly below Below, such as GRPO's
// training reward passing one half, where rejection sampling begins to
// gain more per CPU-second. The decision reads only what the finished
// round stored, so a resumed run decides the same way.
type When struct {
	Metric string   `yaml:"metric" doc:"A metric of the round before, as summary.json names it: an evaluation metric (pass_at_1, accuracy), gen_* or train_* (train_reward_last), or score"`
	Above  *float64 `yaml:"above" doc:"The phase starts after a round whose metric is above this"`
	Below  *float64 `yaml:"below" doc:"The phase starts after a round whose metric is below this"`
}

// holds reports whether the round m (its summary) passes w's bound. A
// round that stored no evaluation (no data, or training failed) passes
// no bound on a metric it lacks (score, the evaluation's, train_* after a
// failed training), though one its generator reported (gen_*) is judged
// as any; and round 1 without the metric passes none: it is often a
// labelled round with a trainer of its own (the lab's first round trains
// by SFT and reports no rewards). A later evaluated round that lacks the
// metric is an error, as the name is then most likely misspelt.
func (w *When) holds(m RoundSummary, evaluated bool) (bool, error) {
	v, ok := m.Metrics[w.Metric]
	if w.Metric == "score" {
		v, ok = m.Score, evaluated
	}
	if !ok {
		if !evaluated || m.Index == 1 {
			return false, nil
		}
		names := slices.Sorted(maps.Keys(m.Metrics))
		return false, fmt.Errorf("round %d has no metric %q; it has score, %s", m.Index, w.Metric, strings.Join(names, ", "))
	}
	if w.Above != nil {
		return v > *w.Above, nil
	}
	return v < *w.Below, nil
}

// PhaseConfig returns the config whose steps run from c.Phases[i].From
// on: c with the phase's changes merged in, without phases or a baseline
// of its own.
func (c *Config) PhaseConfig(i int) (*Config, error) {
	pc, err := c.phaseConfig(i)
	if err != nil {
		return nil, fmt.Errorf("loop: phases[%d] (%s): %w", i, c.phaseStart(i), err)
	}
	return pc, nil
}

func (c *Config) phaseConfig(i int) (*Config, error) {
	p := c.Phases[i]
	over := map[string]any{"phases": nil, "baseline": nil}
	if err := p.StepChanges.into(over); err != nil {
		return nil, err
	}
	return c.With(over)
}

// checkPhases reports, at the phase in the file (node is the phases list),
// phases that do not start after round 1, not in increasing order or
// after the last round, bad when-bounds, and phases whose steps do not
// parse.
func (c *Config) checkPhases(f *confkit.File, node ast.Node) {
	last := 1
	for i, p := range c.Phases {
		at, field := listItem(node, i), fmt.Sprintf("phases[%d]", i)
		switch {
		case p.From == 0 && p.When != nil:
		case p.From <= last && i == 0:
			f.Add(at, field, fmt.Sprintf("from %d: round 1 runs the loop's own steps, so a phase starts at round 2 or later", p.From))
			return
		case p.From <= last:
			f.Add(at, field, fmt.Sprintf("from %d: phases must start in increasing rounds (the one before starts at %d)", p.From, last))
			return
		case p.From > c.Rounds:
			f.Add(at, field, fmt.Sprintf("from %d: after the last round (rounds: %d), so the phase would never run", p.From, c.Rounds))
			return
		}
		last = max(p.From, last+1)
		if last > c.Rounds {
			f.Add(at, field, fmt.Sprintf("starts at round %d at the earliest, after the last round (rounds: %d), so the phase would never run", last, c.Rounds))
			return
		}
		if w := p.When; w != nil {
			switch {
			case w.Metric == "":
				f.Add(at, field+".when", "needs a metric (such as pass_at_1 or train_reward_last)")
			case (w.Above == nil) == (w.Below == nil):
				f.Add(at, field+".when", "needs exactly one of above and below")
			case w.Above != nil && math.IsNaN(*w.Above), w.Below != nil && math.IsNaN(*w.Below):
				f.Add(at, field+".when", "bound is not a number")
			}
		}
		if _, err := c.phaseConfig(i); err != nil {
			f.Add(at, field, fmt.Sprintf("%s: %v", c.phaseStart(i), err))
		}
	}
}

// phaseStart says from which round phase i runs, for errors.
func (c *Config) phaseStart(i int) string {
	if c.Phases[i].When != nil {
		return fmt.Sprintf("from round %d at the earliest", c.earliest(i))
	}
	return fmt.Sprintf("from round %d", c.Phases[i].From)
}

// earliest is the first round phase i may start: its From, and no earlier
// than the round after the phase before may start.
func (c *Config) earliest(i int) int {
	e := 1
	for k := 0; k <= i; k++ {
		e = max(c.Phases[k].From, e+1)
	}
	return e
}

// listItem is item i of the sequence node n, or n when it has none.
func listItem(n ast.Node, i int) ast.Node {
	if s, ok := confkit.Unwrap(n).(*ast.SequenceNode); ok && i < len(s.Values) {
		return s.Values[i]
	}
	return n
}

// steps are a round's three plugins.
type steps struct {
	gen   Generator
	train Trainer
	eval  Evaluator
}

func newSteps(c *Config) (steps, error) {
	var s steps
	var err error
	if s.gen, err = newPlugin(generators, c.Generate); err != nil {
		return s, err
	}
	if s.train, err = newPlugin(trainers, c.Train); err != nil {
		return s, err
	}
	if s.eval, err = newPlugin(evaluators, c.Evaluate); err != nil {
		return s, err
	}
	return s, nil
}

// phaseOf returns the phase round r runs (1-based, 0 for the loop's own
// steps), as recorded when the round started. A round of an older run
// directory that recorded none gets it decided now.
func (l *runner) phaseOf(r *roundState) (int, error) {
	if r.Phase != nil {
		return *r.Phase, nil
	}
	return l.decidePhase(r.Index)
}

// decidePhase decides the phase of round i from the phase of round i−1
// and what that round stored; phases never go back. A phase without when
// starts at its from, whether or not a when-phase before it started (that
// one is then skipped: a round runs the last phase started by then). A
// when-phase starts once its earliest round has come, when round i−1 ran
// the phase before it and passes its bound: a bound is judged on that
// phase's rounds, so two when-phases never start on one round's signal,
// and the second's metric may be one only the first one's steps report.
// Rounds recorded without a phase (older run directories) ran the last
// phase whose from had come.
func (l *runner) decidePhase(i int) (int, error) {
	var prev *roundState
	for _, r := range l.s.Rounds {
		if r.Index == i-1 {
			prev = r
		}
	}
	start := 0
	switch {
	case prev != nil && prev.Phase != nil:
		start = *prev.Phase
	case prev != nil:
		start = l.cfg.fixedPhase(prev.Index)
	}
	cur := start
	for k := start; k < len(l.cfg.Phases); k++ {
		p := l.cfg.Phases[k]
		switch {
		case p.When == nil:
			if i >= p.From {
				cur = k + 1
			}
		case k == start && prev != nil && i >= l.cfg.earliest(k):
			ok, err := p.When.holds(l.roundSummary(prev), prev.Eval != nil)
			if err != nil {
				return 0, fmt.Errorf("loop: phases[%d].when: %w", k, err)
			}
			if ok {
				cur = k + 1
			}
		}
	}
	return cur, nil
}

// recordOldPhases records the phase of the rounds of s that started before
// rounds recorded theirs (a run directory of an older synthloop, resumed
// with the config it ran), so that summary.json and the report name it:
// phases then had no when, and such a round ran the last phase whose from
// had come. A round that recorded no phase and has not generated yet is
// left to decide it as it starts.
func (l *runner) recordOldPhases(s *state) {
	for _, r := range s.Rounds {
		if r.Phase != nil || r.Gen == nil && !r.Done {
			continue
		}
		l.cfg.recordPhase(r, l.cfg.fixedPhase(r.Index))
	}
}

// recordPhase records on r that it runs phase n (1-based, 0 for the loop's
// own steps), with the phase's title.
func (c *Config) recordPhase(r *roundState, n int) {
	r.Phase = &n
	if n > 0 {
		r.PhaseTitle = c.Phases[n-1].Title
	}
}

// fixedPhase is the phase round i ran before rounds recorded theirs (and
// phases had no when): the last one whose from had come (1-based, 0 for
// the loop's own steps).
func (c *Config) fixedPhase(i int) int {
	n := 0
	for k, p := range c.Phases {
		if p.When == nil && i >= p.From {
			n = k + 1
		}
	}
	return n
}

// stepsFor returns the plugins that run round r, recording its phase on
// r the first time. It logs the phase (its title) when r starts it, or is
// the first round of a run resumed inside it.
func (l *runner) stepsFor(r *roundState) (steps, error) {
	n, err := l.phaseOf(r)
	if err != nil {
		return steps{}, err
	}
	if n > len(l.phases) {
		return steps{}, fmt.Errorf("loop: round %d ran phases[%d], but the config has %d phases", r.Index, n-1, len(l.phases))
	}
	if r.Phase == nil {
		l.cfg.recordPhase(r, n)
	}
	if n != l.phase && n > 0 {
		l.log.Info("loop: phase", "round", r.Index, "phase", n, "title", l.cfg.Phases[n-1].Title)
	}
	l.phase = n
	if n == 0 {
		return l.steps, nil
	}
	return l.phases[n-1], nil
}

// newPhases builds every phase's plugins.
func newPhases(c *Config) ([]steps, error) {
	var out []steps
	for i := range c.Phases {
		pc, err := c.PhaseConfig(i)
		if err != nil {
			return nil, err
		}
		s, err := newSteps(pc)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("loop: phases[%d]", i), err)
		}
		out = append(out, s)
	}
	return out, nil
}
