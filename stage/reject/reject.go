// Package reject is the reject-sampling (best-of-N) stage: N candidates per prompt, each scored by a judge or a verifier, keeping the best or all above a threshold.
package reject

import (
	"context"
	"errors"
	"fmt"
	"math"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/verify"
)

// Keep modes.
const (
	KeepBest = "best" // one record per prompt: the best candidate, if it reaches the threshold
	KeepAll  = "all"  // one record per candidate, kept when it reaches the threshold (RFT: every distinct correct path)
)

// Config is the `with:` block of a reject stage. Sampling defaults follow
// the self-rewarding setup (Yuan et al., 2024): N=4, T=0.7, top_p=0.9.
type Config struct {
	Model    string                 `yaml:"model" doc:"Generates the candidates (required)"`
	Sampling bestofn.SamplingConfig `yaml:",inline"`

	// The judge that scores candidates (judge_model, panel, rubric, samples...).
	// Without judge_model, panel or verifier, the generating model judges.
	judge.Config `yaml:",inline"`
	Verifier     *verify.Config `yaml:"verifier" doc:"Scores candidates instead of a judge: 1 pass, 0 fail"`

	// Threshold is the lowest score kept. Default: 80% of the rubric's range
	// (4 on the 5-point rubric); with a verifier, 1 (passed).
	Threshold *float64 `yaml:"threshold" doc:"Lowest score kept (default: 80% of the rubric's range; 1 with a verifier)"`
	Keep      string   `yaml:"keep" doc:"best (the best candidate) or all that pass"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config {
	return &Config{Sampling: bestofn.DefaultSampling(), Keep: KeepBest}
}

// Validate checks the settings when the config is loaded.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// Stage is the reject stage.
type Stage struct {
	cfg       Config
	sampling  bestofn.Sampling
	threshold float64
	reference func(*record.Record) string
	verifier  verify.Verifier
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	if c.Model == "" {
		return nil, errors.New("reject: model: required (name of a backend in the models section)")
	}
	if c.Sampling.N <= 0 || c.Sampling.MaxTokens < 0 {
		return nil, errors.New("reject: n must be positive and max_tokens not negative")
	}
	switch c.Keep {
	case "":
		c.Keep = KeepBest
	case KeepBest, KeepAll:
	default:
		return nil, fmt.Errorf("reject: keep %q (want best or all)", c.Keep)
	}
	s := &Stage{cfg: c}
	s.sampling = c.Sampling.Sampling()
	if c.Verifier != nil {
		if c.Config.Model != "" || len(c.Panel) > 0 {
			return nil, errors.New("reject: set either verifier or a judge (judge_model, panel), not both")
		}
		v, err := verify.New(c.Verifier)
		if err != nil {
			return nil, fmt.Errorf("reject: %w", err)
		}
		if s.reference, err = bestofn.Reference(c.Verifier.Reference); err != nil {
			return nil, fmt.Errorf("reject: verifier: %w", err)
		}
		s.verifier, s.threshold = v, 1
	} else {
		lo, hi, err := c.Range()
		if err != nil {
			return nil, fmt.Errorf("reject: %w", err)
		}
		if err := c.Config.Validate(); err != nil {
			return nil, fmt.Errorf("reject: %w", err)
		}
		s.threshold = lo + 0.8*(hi-lo)
	}
	if c.Threshold != nil {
		s.threshold = *c.Threshold
	}
	return s, nil
}

// Streams implements pipeline.Streaming: a record's candidates and their scores depend on that record alone.
func (s *Stage) Streams() bool { return true }

// Run samples and scores candidates for every kept record of the input
// stage, one unit per input record.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	gen, info, err := env.Backend(s.cfg.Model)
	if err != nil {
		return fmt.Errorf("reject: model %q: %w", s.cfg.Model, err)
	}
	sc := bestofn.Scorer{Verifier: s.verifier, Reference: s.reference}
	if s.verifier == nil {
		if sc.Judge, err = s.cfg.NewJudge(bestofn.Opener(env), s.cfg.Model); err != nil {
			return fmt.Errorf("reject: %w", err)
		}
	}
	return pipeline.ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.one(ctx, env, in, gen, info, sc)
	})
}

func (s *Stage) one(ctx context.Context, env *pipeline.Env, in *record.Record, gen model.Backend, info pipeline.ModelInfo, sc bestofn.Scorer) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	prov := env.Provenance("reject", info, in.ID)
	prov.Params = s.sampling.Params()
	prov.Params["threshold"] = s.threshold
	prov.Params["keep"] = s.cfg.Keep
	base := func(id string) *record.Record {
		return &record.Record{ID: id, Stage: env.Name, Instruction: in.Instruction, Input: in.Input, Prov: prov, Meta: map[string]any{}}
	}
	fail := func(err error) ([]*record.Record, pipeline.UnitUsage, error) {
		return genkit.Failed(ctx, base(env.Name+":"+in.ID), usage, "reject: ", err)
	}
	cands, err := bestofn.Sample(ctx, gen, info, s.sampling, in, &prov, &usage)
	if err != nil {
		return fail(err)
	}
	if len(cands) == 0 {
		return fail(errors.New("the model returned no candidates"))
	}
	judgments, tmpl, jkeys, err := sc.Score(ctx, in, cands, &usage)
	prov.TemplateHash = tmpl
	prov.RequestKeys = append(prov.RequestKeys, jkeys...)
	if err != nil {
		return fail(fmt.Errorf("score: %w", err))
	}
	key := sc.ScoreKey()
	accepted := 0
	scored := 0
	lastErr := ""
	for _, j := range judgments {
		if j.Score != nil {
			scored++
			if *j.Score >= s.threshold {
				accepted++
			}
		} else {
			lastErr = j.Error
		}
	}
	if scored == 0 {
		// Not one candidate has a score: the record says why, and no
		// candidate is passed off as accepted.
		out, u, err := fail(fmt.Errorf("no candidate could be scored: %s", lastErr))
		if err != nil {
			// The run is stopping (cancelled, budget, backend down): the
			// unit stays undone and is redone on resume.
			return nil, u, err
		}
		out[0].Candidates = cands
		out[0].Meta["judgments"] = judgments
		return out, usage, nil
	}
	if s.cfg.Keep == KeepAll {
		return s.all(env, in, base, cands, judgments, key), usage, nil
	}
	best := -1
	for i, j := range judgments {
		if j.Score != nil && (best < 0 || *j.Score > *judgments[best].Score) {
			best = i
		}
	}
	r := base(env.Name + ":" + in.ID)
	r.Output = cands[best].Text
	r.Candidates = cands
	r.Scores = map[string]float64{key: *judgments[best].Score}
	r.Meta["judgments"] = judgments
	r.Meta["best"] = best
	r.Meta["accepted"] = accepted
	r.Meta["threshold"] = s.threshold
	pass := *judgments[best].Score >= s.threshold
	r.Decisions = []record.Decision{{Filter: "threshold", Passed: pass, Value: *judgments[best].Score,
		Reason: fmt.Sprintf("best of %d scored %s against threshold %s (%d of %d accepted)", len(cands), num(*judgments[best].Score), num(s.threshold), accepted, len(cands))}}
	r.Status = record.Kept
	if !pass {
		r.Status = record.Rejected
	}
	return []*record.Record{r}, usage, nil
}

// all makes one record per candidate; a candidate that repeats an earlier
// one's text is rejected, since RFT's gain comes from distinct solutions.
func (s *Stage) all(env *pipeline.Env, in *record.Record, base func(string) *record.Record, cands []record.Candidate, judgments []bestofn.Judgment, key string) []*record.Record {
	seen := map[string]int{}
	var out []*record.Record
	for i, c := range cands {
		r := base(fmt.Sprintf("%s:%s:%02d", env.Name, in.ID, i))
		r.Output = c.Text
		r.Candidates = []record.Candidate{c}
		r.Meta["judgments"] = []bestofn.Judgment{judgments[i]}
		r.Meta["candidate"] = i
		r.Meta["threshold"] = s.threshold
		j := judgments[i]
		switch {
		case j.Score == nil:
			r.Status, r.Error = record.Failed, "reject: no score: "+j.Error
		case *j.Score < s.threshold:
			r.Scores = map[string]float64{key: *j.Score}
			r.Status = record.Rejected
			r.Decisions = []record.Decision{{Filter: "threshold", Value: *j.Score, Reason: fmt.Sprintf("scored %s, below %s", num(*j.Score), num(s.threshold))}}
		default:
			r.Scores = map[string]float64{key: *j.Score}
			r.Decisions = []record.Decision{{Filter: "threshold", Passed: true, Value: *j.Score}}
			r.Status = record.Kept
			if first, dup := seen[c.Text]; dup {
				r.Status = record.Rejected
				r.Decisions = append(r.Decisions, record.Decision{Filter: "duplicate", Reason: fmt.Sprintf("same text as candidate %d", first)})
			} else {
				seen[c.Text] = i
			}
		}
		out = append(out, r)
	}
	return out
}

func num(f float64) string {
	if f == math.Trunc(f) {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%.2f", f)
}

var _ pipeline.Stage = (*Stage)(nil)

// The judge's prompts are this stage's, replaceable under judge_prompts:.
func init() { prompt.DeclareSet("reject", judge.PromptSet) }
