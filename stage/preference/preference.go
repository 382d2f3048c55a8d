// Package preference is the preference stage (UltraFeedback-style): several models answer each prompt, a judge panel rates every answer on fine-grained aspects, and the best answer is paired with a clearly worse one for DPO.
package preference

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// Rejected modes: which lower-rated answer is paired with the best.
const (
	RejectRandom = "random" // a random one of the answers at least min_margin below the best (UltraFeedback as binarized for Zephyr)
	RejectLowest = "lowest" // the lowest-rated answer
)

// KindPair is Meta["kind"] of the stage's records.
const KindPair = "preference"

// Aspect is one thing the judges rate, on a 1 to 5 scale.
type Aspect struct {
	Name     string   `yaml:"name" doc:"Names the aspect in scores and statistics"`
	Criteria []string `yaml:"criteria" doc:"What the judges rate, with what a 1, a 3 and a 5 mean"`
}

// Config is the `with:` block of a preference stage.
type Config struct {
	Pool []string `yaml:"pool" doc:"The models that answer each prompt, by name in the models section (at least two)"`
	// The judge settings; rubric is replaced by aspects.
	judge.Config `yaml:",inline"`
	Aspects      []Aspect `yaml:"aspects" doc:"What the panel rates each answer on, 1 to 5 each (default: instruction following, honesty, truthfulness, helpfulness)"`
	Principles   []string `yaml:"principles" doc:"System prompts, one drawn per answer, to vary how the models answer (UltraFeedback's principles); empty: none"`

	Temperature *float64 `yaml:"temperature" doc:"Temperature of the answers"`
	MaxTokens   int      `yaml:"max_tokens" doc:"Bounds each answer"`
	MinMargin   float64  `yaml:"min_margin" doc:"The rejected answer's mean rating is at least this far below the chosen one's; pairs closer than that (ties) are skipped"`
	Rejected    string   `yaml:"rejected" doc:"random (a random answer at least min_margin below the best) or lowest"`
	Seed        int64    `yaml:"seed" doc:"Varies the random choices (0: the run's seed)"`
	Concurrency int      `yaml:"judge_concurrency" doc:"Judge requests in flight per prompt"`
}

// DefaultConfig returns the defaults: one rating per answer and aspect, a
// margin of half a point, the rejected answer drawn at random.
func DefaultConfig() *Config {
	t := 0.8
	return &Config{Config: judge.Config{Samples: 1}, Temperature: &t, MaxTokens: 1024, MinMargin: 0.5, Rejected: RejectRandom, Concurrency: 4}
}

// Validate checks the settings when the config is loaded.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// Stage is the preference stage.
type Stage struct {
	cfg     Config
	aspects []Aspect
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	if len(c.Pool) < 2 {
		return nil, errors.New("preference: pool: name at least two models to compare")
	}
	seen := map[string]bool{}
	for _, m := range c.Pool {
		if m == "" || seen[m] {
			return nil, fmt.Errorf("preference: pool: %q is empty or named twice", m)
		}
		seen[m] = true
	}
	if len(c.Rubric.Criteria) > 0 || c.Rubric.Kind != "" {
		return nil, errors.New("preference: rubric: the panel rates by aspects; give their criteria under aspects")
	}
	if len(c.Names("")) == 0 {
		return nil, errors.New("preference: judge_model or panel: required (the judges that rate the answers)")
	}
	if err := c.Config.Validate(); err != nil {
		return nil, fmt.Errorf("preference: %w", err)
	}
	c.Rejected = cmp.Or(c.Rejected, RejectRandom)
	if c.Rejected != RejectRandom && c.Rejected != RejectLowest {
		return nil, fmt.Errorf("preference: rejected %q (want random or lowest)", c.Rejected)
	}
	if c.MinMargin < 0 || c.MaxTokens < 0 || c.Concurrency < 0 {
		return nil, errors.New("preference: min_margin, max_tokens and judge_concurrency must not be negative")
	}
	s := &Stage{cfg: c, aspects: c.Aspects}
	if len(s.aspects) == 0 {
		s.aspects = DefaultAspects
	}
	names := map[string]bool{}
	for _, a := range s.aspects {
		if a.Name == "" || names[a.Name] || len(a.Criteria) == 0 {
			return nil, fmt.Errorf("preference: aspects: %q needs a unique name and criteria", a.Name)
		}
		names[a.Name] = true
	}
	return s, nil
}

// answer is one pool model's answer and its ratings.
type answer struct {
	model, principle string
	text, finish     string
	err              string
	ratings          map[string]float64 // by aspect
	overall          float64
	rated            bool // every aspect has a rating
	keys             []string
}

// Streams implements pipeline.Streaming: a prompt's answers and their ratings depend on that prompt alone.
func (s *Stage) Streams() bool { return true }

// Run makes one record per kept input record.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	if env.Input == "" {
		return errors.New("preference: needs an input stage holding prompts")
	}
	pool := make([]genkit.Backend, len(s.cfg.Pool))
	for i, name := range s.cfg.Pool {
		b, err := genkit.Open(env, "preference", name)
		if err != nil {
			return err
		}
		pool[i] = b
	}
	judges := make([]judge.Judge, len(s.aspects))
	for i, a := range s.aspects {
		jc := s.cfg.Config
		jc.Rubric = judge.Rubric{Kind: judge.Scale, Min: 1, Max: 5, Criteria: a.Criteria}
		j, err := jc.NewJudge(bestofn.Opener(env), "")
		if err != nil {
			return fmt.Errorf("preference: aspect %s: %w", a.Name, err)
		}
		judges[i] = j
	}
	return pipeline.ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.one(ctx, env, in, pool, judges)
	})
}

func (s *Stage) one(ctx context.Context, env *pipeline.Env, in *record.Record, pool []genkit.Backend, judges []judge.Judge) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	var mu sync.Mutex // guards usage
	prompt := bestofn.Prompt(in)
	rng := genkit.UnitRand("preference", s.cfg.Seed, env, in.ID)
	answers := make([]*answer, len(pool))
	for i := range pool {
		answers[i] = &answer{model: s.cfg.Pool[i], ratings: map[string]float64{}}
		if len(s.cfg.Principles) > 0 {
			answers[i].principle = s.cfg.Principles[rng.IntN(len(s.cfg.Principles))]
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	for i, b := range pool {
		g.Go(func() error {
			a := answers[i]
			req := model.Request{Messages: []model.Message{{Role: "user", Content: prompt}}, Temperature: s.cfg.Temperature, MaxTokens: s.cfg.MaxTokens}
			if a.principle != "" {
				req.Messages = append([]model.Message{{Role: "system", Content: a.principle}}, req.Messages...)
			}
			var u pipeline.UnitUsage
			c, _, err := b.Call(gctx, req, &a.keys, &u)
			mu.Lock()
			usage.Add(u)
			mu.Unlock()
			switch {
			case err != nil && pipeline.MustReturn(gctx, err):
				return err
			case err != nil:
				a.err = "generate: " + err.Error()
			case strings.TrimSpace(c.Text) == "":
				a.err = "empty answer"
			case c.FinishReason == model.FinishLength:
				a.text, a.finish, a.err = c.Text, c.FinishReason, "cut at max_tokens"
			default:
				a.text, a.finish = c.Text, c.FinishReason
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, usage, err
	}
	// Every usable answer is rated on every aspect.
	shaped := map[string]bool{} // how the judges were asked, with structured on
	g, gctx = errgroup.WithContext(ctx)
	g.SetLimit(max(s.cfg.Concurrency, 1))
	for _, a := range answers {
		if a.err != "" {
			continue
		}
		for k, j := range judges {
			g.Go(func() error {
				res, err := j.Score(gctx, judge.Item{Prompt: prompt, Answer: a.text})
				mu.Lock()
				defer mu.Unlock()
				usage.Add(res.Usage)
				a.keys = append(a.keys, res.RequestKeys...)
				if res.Structured != "" {
					shaped[res.Structured] = true
				}
				switch {
				case err != nil && pipeline.MustReturn(gctx, err):
					return err
				case err != nil:
					a.err = fmt.Sprintf("judge %s: %v", s.aspects[k].Name, err)
				case !res.OK():
					a.err = fmt.Sprintf("judge %s: %s", s.aspects[k].Name, res.Err)
				default:
					a.ratings[s.aspects[k].Name] = res.Score
				}
				return nil
			})
		}
	}
	if err := g.Wait(); err != nil {
		return nil, usage, err
	}
	r := s.pair(env, in, prompt, answers, rng.Float64())
	if len(shaped) > 0 {
		r.Prov.Params["structured"] = strings.Join(slices.Sorted(maps.Keys(shaped)), ",")
	}
	if r.Status == record.Failed {
		usage.Errors++
	}
	return []*record.Record{r}, usage, nil
}

// pair binarizes the rated answers: chosen is the best by mean rating (the
// first in pool order among equals), rejected a random one of those at
// least min_margin below it (or the lowest); with none, the prompt gives
// no pair and its record is rejected.
func (s *Stage) pair(env *pipeline.Env, in *record.Record, prompt string, answers []*answer, draw float64) *record.Record {
	info := pipeline.ModelInfo{Backend: "pool", Model: strings.Join(s.cfg.Pool, ",")}
	r := &record.Record{ID: env.Name + ":" + in.ID, Stage: env.Name, Status: record.Kept, Prov: env.Provenance("preference", info, in.ID),
		Instruction: in.Instruction, Input: in.Input, Meta: map[string]any{"kind": KindPair, "models": s.cfg.Pool, "judges": s.cfg.Names("")}}
	r.Prov.Params = map[string]any{"min_margin": s.cfg.MinMargin, "rejected": s.cfg.Rejected, "max_tokens": s.cfg.MaxTokens, "aspects": aspectNames(s.aspects)}
	if s.cfg.Temperature != nil {
		r.Prov.Params["temperature"] = *s.cfg.Temperature
	}
	var rated []*answer
	ratings := map[string]any{}
	errs := map[string]string{}
	for _, a := range answers {
		r.Prov.RequestKeys = append(r.Prov.RequestKeys, a.keys...)
		c := record.Candidate{Text: a.text, FinishReason: a.finish, Scores: map[string]float64{}}
		if a.err == "" && len(a.ratings) == len(s.aspects) {
			a.rated = true
			for _, v := range a.ratings {
				a.overall += v
			}
			a.overall /= float64(len(a.ratings))
			rated = append(rated, a)
			c.Scores["overall"] = a.overall
			ratings[a.model] = a.overall
		} else {
			errs[a.model] = a.err
		}
		for k, v := range a.ratings {
			c.Scores[k] = v
		}
		r.Candidates = append(r.Candidates, c)
	}
	r.Meta["ratings"] = ratings
	if len(errs) > 0 {
		r.Meta["errors"] = errs
	}
	if len(rated) < 2 {
		r.Status = record.Rejected
		if len(rated) == 0 && len(errs) == len(answers) {
			r.Status, r.Error = record.Failed, "preference: no answer was rated: "+firstErr(errs, s.cfg.Pool)
			return r
		}
		r.Decisions = []record.Decision{{Filter: "pair", Reason: fmt.Sprintf("%d of %d answers rated; a pair needs two", len(rated), len(answers))}}
		return r
	}
	best := rated[0]
	for _, a := range rated[1:] {
		if a.overall > best.overall {
			best = a
		}
	}
	var lower []*answer
	for _, a := range rated {
		if a != best && a.overall < best.overall && best.overall-a.overall >= s.cfg.MinMargin {
			lower = append(lower, a)
		}
	}
	if len(lower) == 0 {
		r.Status = record.Rejected
		r.Decisions = []record.Decision{{Filter: "margin", Value: 0,
			Reason: fmt.Sprintf("no answer rated at least %.2f below the best (%s, %.2f): a tie", s.cfg.MinMargin, best.model, best.overall)}}
		return r
	}
	rej := lower[int(draw*float64(len(lower)))%len(lower)]
	if s.cfg.Rejected == RejectLowest {
		rej = slices.MinFunc(lower, func(a, b *answer) int { return cmp.Compare(a.overall, b.overall) })
	}
	margin := best.overall - rej.overall
	r.Output, r.Chosen, r.Rejected = best.text, best.text, rej.text
	r.Scores = map[string]float64{"chosen": best.overall, "rejected": rej.overall, "margin": margin}
	r.Meta["chosen_model"], r.Meta["rejected_model"] = best.model, rej.model
	if best.principle != "" {
		r.Meta["chosen_principle"], r.Meta["rejected_principle"] = best.principle, rej.principle
	}
	r.Decisions = []record.Decision{{Filter: "margin", Passed: true, Value: margin,
		Reason: fmt.Sprintf("%s (%.2f) over %s (%.2f), margin %.2f >= %.2f", best.model, best.overall, rej.model, rej.overall, margin, s.cfg.MinMargin)}}
	return r
}

func firstErr(errs map[string]string, order []string) string {
	for _, m := range order {
		if e, ok := errs[m]; ok {
			return m + ": " + e
		}
	}
	return ""
}

func aspectNames(as []Aspect) []string {
	out := make([]string, len(as))
	for i, a := range as {
		out[i] = a.Name
	}
	return out
}

var _ pipeline.Stage = (*Stage)(nil)

// The judge's prompts are this stage's, replaceable under judge_prompts:.
func init() { prompt.DeclareSet("preference", judge.PromptSet) }
