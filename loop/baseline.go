package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/synthloop/synthloop/internal/confkit"
	"github.com/synthloop/synthloop/store"
)

// Baseline is a control run: the same loop with some settings changed (say,
// the filter removed), run after the main one so that its report can show
// what the change is worth, round by round. It is a loop run of its own in
// RUN/baseline: it resumes on its own, and max_cost_usd caps it separately.
//
//	baseline:
//	  title: without the filter (every self-made label kept)
//	  shared_rounds: 1            # round 1 (the labelled one) is the main run's
//	  generate: {filter: null}    # merged over generate.with; null removes a key
//	  train: {voters: 1}
type Baseline struct {
	// Title says what the baseline changes, for reports.
	Title string `yaml:"title" doc:"Says what the baseline changes, for reports"`
	// SharedRounds are the first rounds the baseline takes from the main
	// run instead of running them again: the same data, the same students.
	SharedRounds int `yaml:"shared_rounds" doc:"The first rounds taken from the main run (copied, with their students) instead of run again"`
	// StepChanges are merged over the main config's steps; a step's
	// with-block is still the main run's merged with the baseline's, so a
	// key a replaced type does not know must be removed with null.
	StepChanges `yaml:",inline"`
	// Phases says whether the baseline runs the loop's phases too (keep,
	// the default: a fair control of a phased loop changes one setting) or
	// the loop's own steps in every round (drop: to compare a phased loop
	// with either of its methods alone).
	Phases string `yaml:"phases" doc:"keep (the loop's phases, the default) or drop (the loop's own steps in every round; shared_rounds must end before the first phase)"`
}

// StepChanges change a loop's three steps, for a baseline or a phase:
// with-blocks merged key by key and recursively (a null value removes the
// key, so the plugin's default applies), and plugin types replaced to
// compare methods (`types: {generate: lab-rft}`).
type StepChanges struct {
	Generate map[string]any    `yaml:"generate" doc:"Merged over generate.with, key by key (null removes a key)"`
	Train    map[string]any    `yaml:"train" doc:"Merged over train.with, key by key (null removes a key)"`
	Evaluate map[string]any    `yaml:"evaluate" doc:"Merged over evaluate.with, key by key (null removes a key)"`
	Types    map[string]string `yaml:"types" doc:"Step types replaced: {generate: lab-rft} (the with-block is still the loop's merged with these changes)"`
}

// BaselineDir is the baseline's run directory inside the main run's.
const BaselineDir = "baseline"

// BaselineConfig returns the config of c's baseline run: c with the
// baseline's changes merged in, its name suffixed "-baseline", its
// description the baseline's title, and no baseline of its own. It is nil
// when c has no baseline.
func (c *Config) BaselineConfig() (*Config, error) {
	b := c.Baseline
	if b == nil {
		return nil, nil
	}
	over := map[string]any{"name": c.Name + "-baseline", "baseline": nil}
	if b.Title != "" {
		over["description"] = b.Title
	}
	if b.Phases == "drop" {
		over["phases"] = nil
	}
	if err := b.StepChanges.into(over); err != nil {
		return nil, fmt.Errorf("loop: baseline: %w", err)
	}
	bc, err := c.With(over)
	if err != nil {
		return nil, fmt.Errorf("loop: baseline: %w", err)
	}
	return bc, nil
}

// into adds to over the changes to the three steps: with-blocks merged key
// by key, and step types replaced.
func (c StepChanges) into(over map[string]any) error {
	for key, with := range map[string]map[string]any{"generate": c.Generate, "train": c.Train, "evaluate": c.Evaluate} {
		if len(with) > 0 {
			over[key] = map[string]any{"with": with}
		}
	}
	for key, typ := range c.Types {
		switch key {
		case "generate", "train", "evaluate":
		default:
			return fmt.Errorf("types: %q is not a step (generate, train or evaluate)", key)
		}
		step, _ := over[key].(map[string]any)
		if step == nil {
			step = map[string]any{}
		}
		step["type"] = typ
		over[key] = step
	}
	return nil
}

// With returns c with over merged into its YAML, key by key and
// recursively (a null value removes a key), parsed and validated again as a
// config read from the same file. `synthloop demo --set` and baselines use
// it.
func (c *Config) With(over map[string]any) (*Config, error) {
	var root map[string]any
	if err := yaml.Unmarshal(c.Text, &root); err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	text, err := yaml.Marshal(merge(root, over))
	if err != nil {
		return nil, fmt.Errorf("loop: %w", err)
	}
	nc, err := ParseConfig(c.Source, text)
	if err != nil {
		return nil, fmt.Errorf("the changed config is not valid: %w", unplaced(err))
	}
	return nc, nil
}

// unplaced drops the line and column of config errors found in a merged
// config's text: no file holds that text, so they would point at unrelated
// lines of the file it was merged from.
func unplaced(err error) error {
	return mapConfigErrors(err, func(c confkit.Error) confkit.Error {
		c.Line, c.Column = 0, 0
		return c
	})
}

// merge returns base with over merged in: maps recursively, anything else
// replaced; a nil value in over deletes the key.
func merge(base, over map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range base {
		out[k] = v
	}
	for k, v := range over {
		if v == nil {
			delete(out, k)
			continue
		}
		if vm, ok := v.(map[string]any); ok {
			if bm, ok := out[k].(map[string]any); ok {
				out[k] = merge(bm, vm)
				continue
			}
		}
		out[k] = v
	}
	return out
}

// check reports settings of b that are invalid for a loop with phases.
func (b *Baseline) check(phases []Phase) error {
	if b.SharedRounds < 0 {
		return errors.New("baseline.shared_rounds must not be negative")
	}
	switch b.Phases {
	case "", "keep", "drop":
	default:
		return fmt.Errorf("baseline.phases %q: want keep (the loop's phases, the default) or drop (the loop's own steps in every round)", b.Phases)
	}
	// Shared rounds are copies of the main run's: with drop, one that ran
	// a phase's steps would not be the baseline's own.
	if b.Phases == "drop" && len(phases) > 0 {
		// A phase started by its when-bound may start as early as its
		// from, round 2 by default.
		first := max(phases[0].From, 2)
		if b.SharedRounds >= first {
			return fmt.Errorf("baseline.shared_rounds %d with phases: drop: the main run's round %d may run phases[0]'s steps, which the baseline does not run; share at most %d rounds",
				b.SharedRounds, first, first-1)
		}
	}
	return nil
}

// runBaseline runs the baseline of a finished main run into
// RunDir/baseline, sharing the main run's first rounds, and returns its
// summary.
func (l *runner) runBaseline(ctx context.Context) (*Summary, error) {
	bc, err := l.cfg.BaselineConfig()
	if err != nil {
		return nil, err
	}
	dir := filepath.Join(l.opts.RunDir, BaselineDir)
	if err := l.share(ctx, dir, bc); err != nil {
		return nil, err
	}
	opts := l.opts
	opts.RunDir = dir
	if opts.Log != nil {
		opts.Log = opts.Log.With("run", "baseline")
	}
	if opts.OnBaseline != nil {
		opts.OnBaseline(l.cfg.Baseline.Title)
	}
	// The baseline's own rounds report through the same hooks; a caller
	// tells them apart by OnBaseline having been called, and its progress
	// by Event.Run.
	opts.OnBaseline = nil
	if p := opts.Progress; p != nil {
		opts.Progress = func(e Event) {
			e.Run = BaselineDir
			p(e)
		}
	}
	return Run(ctx, bc, opts)
}

// share starts the baseline's run directory with the main run's first
// SharedRounds rounds, unless it exists already: their directories are
// copied and their state taken over with paths moved, so the baseline
// continues from the same students on the same data.
func (l *runner) share(ctx context.Context, dir string, bc *Config) error {
	n := l.cfg.Baseline.SharedRounds
	if n == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err == nil {
		return nil // shared before; the baseline resumes on its own
	}
	if len(l.s.Rounds) < n || !l.s.Rounds[n-1].Done {
		return fmt.Errorf("loop: baseline: shares %d rounds, but the main run finished %d", n, len(l.s.Rounds))
	}
	// Build the copy beside its final place and rename it, so that a kill
	// leaves either no baseline or a whole one.
	tmp := dir + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return fmt.Errorf("loop: baseline: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return fmt.Errorf("loop: baseline: %w", err)
	}
	from, err := filepath.Abs(l.opts.RunDir)
	if err != nil {
		return fmt.Errorf("loop: baseline: %w", err)
	}
	to, err := filepath.Abs(dir)
	if err != nil {
		return fmt.Errorf("loop: baseline: %w", err)
	}
	s := &state{Version: 1, Name: bc.Name, Description: bc.Description, Config: bc.Source, ConfigHash: bc.Hash(), Margin: bc.Margin, Metric: l.s.Metric}
	s.Teacher = l.s.Rounds[0].Teacher
	for _, r := range l.s.Rounds[:n] {
		if err := copyDir(l.roundDir(r.Index), filepath.Join(tmp, filepath.Base(l.roundDir(r.Index)))); err != nil {
			return fmt.Errorf("loop: baseline: %w", err)
		}
		var c roundState
		b, _ := json.Marshal(r)
		if err := json.Unmarshal(moveRefs(b, from, to), &c); err != nil {
			return fmt.Errorf("loop: baseline: %w", err)
		}
		c.Shared = true
		if c.Phase != nil && *c.Phase > len(bc.Phases) {
			return fmt.Errorf("loop: baseline: shared round %d ran phases[%d]'s steps, which the baseline does not run", c.Index, *c.Phase-1)
		}
		s.Rounds = append(s.Rounds, &c)
		if c.Promoted {
			s.Teacher = c.Train.Student
		}
	}
	st, err := store.Open(ctx, tmp)
	if err != nil {
		return fmt.Errorf("loop: baseline: %w", err)
	}
	b, _ := json.Marshal(s)
	err = errors.Join(st.SetMetaValue(ctx, "config", string(bc.Text)), st.SetMetaValue(ctx, stateKey, string(b)))
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("loop: baseline: %w", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("loop: baseline: %w", err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		return fmt.Errorf("loop: baseline: %w", err)
	}
	return nil
}

// moveRefs rewrites the absolute paths under from in a JSON state to the
// same paths under to (model directories are kept absolute in the state, as
// model refs need them).
func moveRefs(b []byte, from, to string) []byte {
	q := func(s string) string { j, _ := json.Marshal(s); return strings.Trim(string(j), `"`) }
	return []byte(strings.ReplaceAll(string(b), q(from+string(filepath.Separator)), q(to+string(filepath.Separator))))
}

// copyDir copies the regular files and directories under src to dst.
func copyDir(src, dst string) error {
	return filepath.WalkDir(src, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(src, p)
		target := filepath.Join(dst, rel)
		if d.IsDir() {
			return os.MkdirAll(target, 0o755)
		}
		if !d.Type().IsRegular() {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(target, data, 0o644)
	})
}
