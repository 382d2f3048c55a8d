package judge

import (
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
)

// Config is the judge part of a stage's `with:` block. Its keys are prefixed
// or distinct enough to sit inline beside a stage's own keys.
//
//	judge_model: critic        # or a panel:
//	panel: [critic, other]     # judges on different backends
//	aggregate: mean            # or majority
//	samples: 3                 # scores per answer, averaged
//	rubric: {kind: additive}   # default: the self-rewarding 5-point rubric
type Config struct {
	Model       string   `yaml:"judge_model" doc:"Names the judge's backend in the models section"`
	Panel       []string `yaml:"panel" doc:"Names several judge backends; it replaces judge_model"`
	Aggregate   string   `yaml:"aggregate" doc:"Combines a panel's verdicts: mean or majority (empty: mean)"`
	Rubric      Rubric   `yaml:"rubric" doc:"Grades pointwise (default: the self-rewarding additive 5-point rubric)"`
	Samples     int      `yaml:"samples" doc:"How many times each answer is scored and averaged (0: 3)"`
	Temperature *float64 `yaml:"judge_temperature" doc:"Temperature of the judge (unset: 0.7 pointwise, 0 pairwise)"`
	MaxTokens   int      `yaml:"judge_max_tokens" doc:"Bounds each judge reply (0: 512)"`
	MaxRetries  int      `yaml:"judge_retries" doc:"Follow-ups asking a judge to restate an unusable reply, per answer (0: 2, -1: none)"`
	// JudgePrompts replaces the judge's embedded prompt templates with the
	// user's files: pointwise_additive, pointwise_scale, pairwise, retry.
	JudgePrompts prompt.Files `yaml:"judge_prompts" doc:"Your own judge templates by kind: pointwise_additive, pointwise_scale, pairwise, retry (docs/PROMPTS.md)"`
	Structured   string       `yaml:"structured" doc:"JSON replies that fit the judge's built-in schema ({rationale, score} or {rationale, winner}): off (the Score: N line), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt)"`
}

// Opener opens a configured model by name.
type Opener func(name string) (Backend, error)

// Validate checks the settings that need no backend.
func (c *Config) Validate() error {
	if _, err := c.Rubric.resolve(); err != nil {
		return err
	}
	if c.Model != "" && len(c.Panel) > 0 {
		return errors.New("judge: judge_model and panel both set; a panel lists all its judges")
	}
	if c.Aggregate != "" && c.Aggregate != Mean && c.Aggregate != Majority {
		return fmt.Errorf("judge: aggregate %q (want mean or majority)", c.Aggregate)
	}
	if c.Samples < 0 || c.MaxTokens < 0 || c.MaxRetries < -1 {
		return errors.New("judge: samples, judge_max_tokens must not be negative; judge_retries not below -1")
	}
	if _, err := structured.ParseSetting(c.Structured); err != nil {
		return fmt.Errorf("judge: structured: %w", err)
	}
	if err := c.JudgePrompts.Check(PromptSet.Kinds); err != nil {
		// Check names the setting "prompts"; this one is judge_prompts.
		return fmt.Errorf("judge: judge_%w", err)
	}
	return nil
}

// Names returns the judge backends the config uses: the panel, or
// judge_model, or fallback when neither is set.
func (c *Config) Names(fallback string) []string {
	if len(c.Panel) > 0 {
		return c.Panel
	}
	if c.Model != "" {
		return []string{c.Model}
	}
	if fallback != "" {
		return []string{fallback}
	}
	return nil
}

func (c *Config) options() Options {
	return Options{Samples: c.Samples, MaxRetries: c.MaxRetries, Temperature: c.Temperature, MaxTokens: c.MaxTokens, Prompts: c.JudgePrompts, Structured: c.Structured}
}

// NewJudge builds the pointwise judge (or panel) the config describes.
// fallback names the backend used when neither judge_model nor panel is set
// (self-rewarding: the generating model judges itself).
func (c *Config) NewJudge(open Opener, fallback string) (Judge, error) {
	return build(c, open, fallback, func(b Backend) (Judge, error) { return NewPointwise(b, c.Rubric, c.options()) },
		func(js []Judge) (Judge, error) { return NewPanel(c.Aggregate, js, nil) })
}

// NewComparer builds the pairwise judge (or panel) the config describes.
// The rubric's criteria, when given, are the comparison's criteria.
func (c *Config) NewComparer(open Opener, fallback string) (Comparer, error) {
	return build(c, open, fallback, func(b Backend) (Comparer, error) { return NewPairwise(b, c.Rubric.Criteria, c.options()) },
		func(cs []Comparer) (Comparer, error) { return NewPanel(c.Aggregate, nil, cs) })
}

// build opens the config's judge backends and makes a judge of each with
// one: a single judge_model is that judge, a panel (even of one) is a panel
// of them.
func build[J any](c *Config, open Opener, fallback string, one func(Backend) (J, error), panel func([]J) (J, error)) (J, error) {
	var zero J
	if err := c.Validate(); err != nil {
		return zero, err
	}
	names := c.Names(fallback)
	if len(names) == 0 {
		return zero, errors.New("judge: judge_model: required (name of a backend in the models section)")
	}
	var js []J
	for _, n := range names {
		b, err := open(n)
		if err != nil {
			return zero, fmt.Errorf("judge: model %q: %w", n, err)
		}
		j, err := one(b)
		if err != nil {
			return zero, err
		}
		js = append(js, j)
	}
	if len(js) == 1 && len(c.Panel) == 0 {
		return js[0], nil
	}
	return panel(js)
}

// Range returns the score range of the config's rubric.
func (c *Config) Range() (lo, hi float64, err error) {
	r, err := c.Rubric.resolve()
	return r.Min, r.Max, err
}
