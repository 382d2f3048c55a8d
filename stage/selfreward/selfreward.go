// Package selfreward is the self-rewarding stage (Yuan et al., 2024): the generating model judges its own N candidates and the highest and lowest become a preference pair.
package selfreward

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// Config is the `with:` block of a selfreward stage, with the paper's
// defaults: N=4 candidates at T=0.7, top_p=0.9, each scored 3 times by the
// same model with the additive 5-point rubric.
type Config struct {
	// Model generates the candidates and, unless judge_model or panel says
	// otherwise, judges them. Required.
	Model    string                 `yaml:"model" doc:"Generates the candidates and, unless judge_model or panel says otherwise, judges them (required)"`
	Sampling bestofn.SamplingConfig `yaml:",inline"`
	// The judge (judge_model, panel, rubric, samples...); default: Model.
	judge.Config `yaml:",inline"`
	// PreferShorter is the length control: among candidates scoring within
	// NearTie of the best, the shortest is chosen, so that length alone
	// does not win (the paper saw answers grow from 1,092 to 2,552 tokens).
	PreferShorter bool    `yaml:"prefer_shorter" doc:"Chooses the shortest candidate within near_tie of the best score"`
	NearTie       float64 `yaml:"near_tie" doc:"Score distance counted as a near-tie"`
	// MinMargin is the smallest chosen − rejected score gap kept; a pair
	// with a smaller gap is dropped as a tie (default 0: only exact ties).
	MinMargin float64 `yaml:"min_margin" doc:"Smallest chosen-minus-rejected score gap kept (0: drop exact ties only)"`
}

// DefaultConfig returns the paper's defaults.
func DefaultConfig() *Config {
	return &Config{Sampling: bestofn.DefaultSampling(), NearTie: 0.5}
}

// Validate checks the settings when the config is loaded.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// Stage is the selfreward stage.
type Stage struct {
	cfg      Config
	sampling bestofn.Sampling
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	if c.Model == "" {
		return nil, errors.New("selfreward: model: required (name of a backend in the models section)")
	}
	if c.Sampling.N < 2 {
		return nil, fmt.Errorf("selfreward: n: %d candidates cannot make a pair; want at least 2", c.Sampling.N)
	}
	if c.Sampling.MaxTokens < 0 || c.NearTie < 0 || c.MinMargin < 0 {
		return nil, errors.New("selfreward: max_tokens, near_tie and min_margin must not be negative")
	}
	if err := c.Config.Validate(); err != nil {
		return nil, fmt.Errorf("selfreward: %w", err)
	}
	s := &Stage{cfg: c}
	s.sampling = c.Sampling.Sampling()
	return s, nil
}

// Streams implements pipeline.Streaming: a record's pair depends on that record alone.
func (s *Stage) Streams() bool { return true }

// Run makes a preference pair from every kept record of the input stage.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	gen, info, err := env.Backend(s.cfg.Model)
	if err != nil {
		return fmt.Errorf("selfreward: model %q: %w", s.cfg.Model, err)
	}
	j, err := s.cfg.NewJudge(bestofn.Opener(env), s.cfg.Model)
	if err != nil {
		return fmt.Errorf("selfreward: %w", err)
	}
	sc := bestofn.Scorer{Judge: j}
	return pipeline.ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.one(ctx, env, in, gen, info, sc)
	})
}

// Length is how long an answer is, in characters (runes) and words.
type Length struct {
	Chars int `json:"chars"`
	Words int `json:"words"`
}

// LengthOf measures s. Words are whitespace-separated; a text in a script
// without spaces counts as few words, so compare chars across languages.
func LengthOf(s string) Length {
	return Length{Chars: utf8.RuneCountInString(s), Words: len(strings.Fields(s))}
}

func (s *Stage) one(ctx context.Context, env *pipeline.Env, in *record.Record, gen model.Backend, info pipeline.ModelInfo, sc bestofn.Scorer) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	prov := env.Provenance("selfreward", info, in.ID)
	prov.Params = s.sampling.Params()
	prov.Params["prefer_shorter"] = s.cfg.PreferShorter
	r := &record.Record{ID: env.Name + ":" + in.ID, Stage: env.Name, Instruction: in.Instruction, Input: in.Input, Meta: map[string]any{}}
	fail := func(err error) ([]*record.Record, pipeline.UnitUsage, error) {
		r.Prov = prov
		return genkit.Failed(ctx, r, usage, "selfreward: ", err)
	}
	cands, err := bestofn.Sample(ctx, gen, info, s.sampling, in, &prov, &usage)
	if err != nil {
		return fail(err)
	}
	judgments, tmpl, jkeys, err := sc.Score(ctx, in, cands, &usage)
	prov.TemplateHash = tmpl
	prov.RequestKeys = append(prov.RequestKeys, jkeys...)
	r.Candidates = cands
	r.Meta["judgments"] = judgments
	if err != nil {
		return fail(fmt.Errorf("judge: %w", err))
	}
	var lengths []Length
	total := 0
	for _, c := range cands {
		l := LengthOf(c.Text)
		lengths = append(lengths, l)
		total += l.Chars
	}
	r.Meta["candidate_lengths"] = lengths
	if len(cands) > 0 {
		r.Meta["mean_chars"] = float64(total) / float64(len(cands))
	}
	var scored []int
	lastErr := ""
	for i, j := range judgments {
		if j.Score != nil {
			scored = append(scored, i)
		} else {
			lastErr = j.Error
		}
	}
	r.Prov = prov
	switch {
	case len(scored) == 0 && lastErr != "":
		return fail(fmt.Errorf("no candidate could be scored: %s", lastErr))
	case len(scored) < 2:
		r.Status = record.Rejected
		r.Decisions = []record.Decision{{Filter: "pair", Reason: fmt.Sprintf("only %d of %d candidates have a score; a pair needs 2", len(scored), len(cands))}}
		return []*record.Record{r}, usage, nil
	}
	score := func(i int) float64 { return *judgments[i].Score }
	chosen, lo := s.pick(scored, score, lengths)
	margin := score(chosen) - score(lo)
	r.Scores = map[string]float64{"chosen": score(chosen), "rejected": score(lo), "margin": margin}
	r.Meta["chosen_index"], r.Meta["rejected_index"] = chosen, lo
	r.Meta["chosen_length"], r.Meta["rejected_length"] = lengths[chosen], lengths[lo]
	if margin <= s.cfg.MinMargin || chosen == lo {
		r.Status = record.Rejected
		r.Decisions = []record.Decision{{Filter: "tie", Value: margin,
			Reason: fmt.Sprintf("the best and worst candidates score %g and %g: no preference to learn", score(chosen), score(lo))}}
		return []*record.Record{r}, usage, nil
	}
	r.Chosen, r.Rejected = cands[chosen].Text, cands[lo].Text
	// Output holds the chosen answer too, so an SFT export of the stage
	// trains on the best answers.
	r.Output = r.Chosen
	r.Status = record.Kept
	r.Decisions = []record.Decision{{Filter: "tie", Passed: true, Value: margin}}
	return []*record.Record{r}, usage, nil
}

// pick returns the chosen and the rejected of the scored candidates: the
// best and the worst, with length deciding ties as the config says.
func (s *Stage) pick(scored []int, score func(int) float64, lengths []Length) (chosen, rejected int) {
	hi, lo := scored[0], scored[0]
	for _, i := range scored {
		if score(i) > score(hi) {
			hi = i
		}
		// Among equally low candidates the longest is rejected: it teaches
		// that length is no substitute for quality.
		if score(i) < score(lo) || (score(i) == score(lo) && lengths[i].Chars > lengths[lo].Chars) {
			lo = i
		}
	}
	chosen = hi
	if s.cfg.PreferShorter {
		for _, i := range scored {
			if score(hi)-score(i) <= s.cfg.NearTie && score(i) > score(lo) && lengths[i].Chars < lengths[chosen].Chars {
				chosen = i
			}
		}
	}
	return chosen, lo
}

var _ pipeline.Stage = (*Stage)(nil)

// The judge's prompts are this stage's, replaceable under judge_prompts:.
func init() { prompt.DeclareSet("selfreward", judge.PromptSet) }
