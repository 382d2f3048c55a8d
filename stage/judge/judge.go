// Package judge is the judge stage: it scores the outputs of the previous stage's records with an LLM judge (pointwise) or checks their preference pairs (pairwise, both orders).
package judge

import (
	"context"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/internal/prompt"
	llm "github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// Modes of the judge stage.
const (
	Pointwise = "pointwise" // score each record's Output against the rubric
	Pairwise  = "pairwise"  // compare each record's Chosen and Rejected in both orders
)

// Config is the `with:` block of a judge stage.
type Config struct {
	// The judge: judge_model (or panel) is required; rubric, samples (3),
	// judge_temperature, judge_max_tokens, judge_retries, aggregate.
	llm.Config `yaml:",inline"`
	Mode       string `yaml:"mode" doc:"pointwise (score each record) or pairwise (compare chosen with rejected)"`
	// Filter rejects records that fail the judge: pointwise, a score below
	// Threshold; pairwise, a pair whose Chosen the judge does not prefer in
	// both orders. Off by default: records are scored and all passed on.
	Filter    bool     `yaml:"filter" doc:"Rejects records that fail the judge (off: score and pass all)"`
	Threshold *float64 `yaml:"threshold" doc:"The lowest kept score with filter on; default 80% of the rubric's range (4 on the 5-point rubric)"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config { return &Config{Mode: Pointwise} }

// Validate checks the settings when the config is loaded.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// Stage is the judge stage.
type Stage struct {
	cfg       Config
	threshold float64
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	if c.Mode == "" {
		c.Mode = Pointwise
	}
	if c.Mode != Pointwise && c.Mode != Pairwise {
		return nil, fmt.Errorf("judge: mode %q (want pointwise or pairwise)", c.Mode)
	}
	if len(c.Names("")) == 0 {
		return nil, errors.New("judge: judge_model: required (name of a backend in the models section), or a panel")
	}
	if err := c.Config.Validate(); err != nil {
		return nil, err
	}
	lo, hi, _ := c.Range()
	s := &Stage{cfg: c, threshold: lo + 0.8*(hi-lo)}
	if c.Threshold != nil {
		s.threshold = *c.Threshold
	}
	return s, nil
}

// Streams implements pipeline.Streaming: a judgement of a record depends on that record alone.
func (s *Stage) Streams() bool { return true }

// Run judges every kept record of the input stage, one unit per record.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	open := bestofn.Opener(env)
	names := s.cfg.Names("")
	b, err := open(names[0])
	if err != nil {
		return fmt.Errorf("judge: model %q: %w", names[0], err)
	}
	info := pipeline.ModelInfo{Backend: b.Provider, Model: b.Model}
	if len(names) > 1 {
		info = pipeline.ModelInfo{Backend: "panel", Model: fmt.Sprint(names)}
	}
	if s.cfg.Mode == Pairwise {
		c, err := s.cfg.NewComparer(open, "")
		if err != nil {
			return fmt.Errorf("judge: %w", err)
		}
		return pipeline.ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
			return s.pairwise(ctx, env, in, c, info)
		})
	}
	j, err := s.cfg.NewJudge(open, "")
	if err != nil {
		return fmt.Errorf("judge: %w", err)
	}
	return pipeline.ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.pointwise(ctx, env, in, j, info)
	})
}

// derive turns the input record into this stage's record: same content, a
// new ID and provenance, and the source's generator and model kept in Meta.
func (s *Stage) derive(env *pipeline.Env, in *record.Record, info pipeline.ModelInfo) *record.Record {
	r := *in
	r.ID = env.Name + ":" + in.ID
	r.Stage, r.Seq, r.Error = env.Name, 0, ""
	r.Meta = bestofn.CopyMeta(in.Meta)
	r.Meta["source_generator"] = in.Prov.Generator
	r.Meta["source_model"] = in.Prov.Model
	r.Scores = map[string]float64{}
	for k, v := range in.Scores {
		r.Scores[k] = v
	}
	r.Decisions = append([]record.Decision(nil), in.Decisions...)
	r.Usage = record.Usage{}
	r.Prov = env.Provenance("judge", info, in.ID)
	r.Prov.Params = map[string]any{"mode": s.cfg.Mode, "filter": s.cfg.Filter, "threshold": s.threshold}
	return &r
}

func (s *Stage) pointwise(ctx context.Context, env *pipeline.Env, in *record.Record, j llm.Judge, info pipeline.ModelInfo) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	r := s.derive(env, in, info)
	if r.Output == "" {
		return unjudged(r, "judge", "the record has no output to judge"), usage, nil
	}
	res, err := j.Score(ctx, llm.Item{Prompt: bestofn.Prompt(in), Answer: r.Output})
	usage.Add(res.Usage)
	r.Prov.RequestKeys, r.Prov.TemplateHash = res.RequestKeys, res.Template
	if err != nil {
		return genkit.Failed(ctx, r, usage, "", err)
	}
	r.Meta["judgment"] = res
	if !res.OK() {
		// The judge gave no score after its retries: the record says so and
		// is not passed on with a made-up score.
		r.Status, r.Error = record.Failed, res.Err
		return []*record.Record{r}, usage, nil
	}
	r.Scores["judge"] = res.Score
	pass := !s.cfg.Filter || res.Score >= s.threshold
	d := record.Decision{Filter: "judge", Passed: pass, Value: res.Score}
	if !pass {
		d.Reason = fmt.Sprintf("scored %.2f, below %g", res.Score, s.threshold)
	}
	return decided(r, d), usage, nil
}

func (s *Stage) pairwise(ctx context.Context, env *pipeline.Env, in *record.Record, c llm.Comparer, info pipeline.ModelInfo) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	r := s.derive(env, in, info)
	if r.Chosen == "" || r.Rejected == "" {
		return unjudged(r, "pairwise", "the record has no chosen/rejected pair to compare"), usage, nil
	}
	p, err := c.Compare(ctx, bestofn.Prompt(in), r.Chosen, r.Rejected)
	usage.Add(p.Usage)
	r.Prov.RequestKeys, r.Prov.TemplateHash = p.RequestKeys, p.Template
	if err != nil {
		return genkit.Failed(ctx, r, usage, "", err)
	}
	r.Meta["pairwise"] = p
	if !p.OK() {
		r.Status, r.Error = record.Failed, p.Err
		return []*record.Record{r}, usage, nil
	}
	// 1: the judge prefers Chosen in both orders; 0: Rejected; 0.5: a tie or
	// a verdict that flipped with the order.
	score := 0.5
	switch p.Winner {
	case llm.WinnerA:
		score = 1
	case llm.WinnerB:
		score = 0
	}
	r.Scores["pairwise"] = score
	pass := !s.cfg.Filter || score == 1
	d := record.Decision{Filter: "pairwise", Passed: pass, Value: score}
	if !pass {
		d.Reason = fmt.Sprintf("the judge's verdict is %q (first order %q, second order %q), not chosen in both orders", p.Winner, p.Forward, p.Backward)
	}
	return decided(r, d), usage, nil
}

// unjudged rejects r, which holds nothing to judge, for reason.
func unjudged(r *record.Record, filter, reason string) []*record.Record {
	r.Status = record.Rejected
	r.Decisions = append(r.Decisions, record.Decision{Filter: filter, Reason: reason})
	return []*record.Record{r}
}

// decided adds the judge's decision d to r, which is kept when d passed.
func decided(r *record.Record, d record.Decision) []*record.Record {
	r.Decisions = append(r.Decisions, d)
	r.Status = record.Kept
	if !d.Passed {
		r.Status = record.Rejected
	}
	return []*record.Record{r}
}

var _ pipeline.Stage = (*Stage)(nil)

// The judge's prompts are this stage's, replaceable under judge_prompts:.
func init() { prompt.DeclareSet("judge", llm.PromptSet) }
