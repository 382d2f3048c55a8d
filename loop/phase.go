package loop

import (
	"errors"
	"fmt"

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
	From  int    `yaml:"from" doc:"The first round that runs the phase's steps (2 or later; phases in increasing order)"`
	Title string `yaml:"title" doc:"Says what the phase changes, for logs"`
	// StepChanges change the loop's own steps as a baseline's do; each
	// phase starts from the loop's steps, not from the phase before it.
	StepChanges `yaml:",inline"`
}

// PhaseConfig returns the config whose steps run from c.Phases[i].From
// on: c with the phase's changes merged in, without phases or a baseline
// of its own.
func (c *Config) PhaseConfig(i int) (*Config, error) {
	pc, err := c.phaseConfig(i)
	if err != nil {
		return nil, fmt.Errorf("loop: phases[%d] (from round %d): %w", i, c.Phases[i].From, err)
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
// phases that do not start after round 1 or not in increasing order, and
// phases whose steps do not parse.
func (c *Config) checkPhases(f *confkit.File, node ast.Node) {
	last := 1
	for i, p := range c.Phases {
		at, field := listItem(node, i), fmt.Sprintf("phases[%d]", i)
		switch {
		case p.From <= last && i == 0:
			f.Add(at, field, fmt.Sprintf("from %d: round 1 runs the loop's own steps, so a phase starts at round 2 or later", p.From))
			return
		case p.From <= last:
			f.Add(at, field, fmt.Sprintf("from %d: phases must start in increasing rounds (the one before starts at %d)", p.From, last))
			return
		}
		last = p.From
		if _, err := c.phaseConfig(i); err != nil {
			f.Add(at, field, fmt.Sprintf("from round %d: %v", p.From, err))
		}
	}
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

// phaseSteps are the plugins of a phase, its first round and its title.
type phaseSteps struct {
	from  int
	title string
	steps
}

// stepsFor returns the plugins that run round i: the last phase started by
// then, or the loop's own. It logs the phase (its title) when round i
// starts it, or is the first round of a run resumed inside it.
func (l *runner) stepsFor(i int) steps {
	s, n := l.steps, -1
	for k, p := range l.phases {
		if i >= p.from {
			s, n = p.steps, k
		}
	}
	if n != l.phase && n >= 0 {
		l.log.Info("loop: phase", "round", i, "phase", n, "from", l.phases[n].from, "title", l.phases[n].title)
	}
	l.phase = n
	return s
}

// newPhases builds every phase's plugins.
func newPhases(c *Config) ([]phaseSteps, error) {
	var out []phaseSteps
	for i, p := range c.Phases {
		pc, err := c.PhaseConfig(i)
		if err != nil {
			return nil, err
		}
		s, err := newSteps(pc)
		if err != nil {
			return nil, errors.Join(fmt.Errorf("loop: phases[%d]", i), err)
		}
		out = append(out, phaseSteps{from: p.From, title: p.Title, steps: s})
	}
	return out, nil
}
