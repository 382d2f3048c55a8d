// Package bestofn holds what the reject, judge and selfreward stages share: the prompt of a record, sampling N candidates, and scoring them with a judge or a verifier.
package bestofn

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/verify"
)

// Prompt is the request a record stands for: its instruction, then its
// input (if any) after a blank line, the way Alpaca-style data is prompted.
func Prompt(r *record.Record) string {
	p := strings.TrimSpace(r.Instruction)
	if in := strings.TrimSpace(r.Input); in != "" && in != "<noinput>" {
		p += "\n\n" + in
	}
	return p
}

// Opener opens judge backends through the stage's environment.
func Opener(env *pipeline.Env) judge.Opener {
	return func(name string) (judge.Backend, error) {
		b, info, err := env.Backend(name)
		if err != nil {
			return judge.Backend{}, err
		}
		return judge.Backend{Backend: b, Name: name, Provider: info.Backend, Model: info.Model}, nil
	}
}

// SamplingConfig is the sampling part of a best-of-N stage's `with:` block,
// inline beside the stage's own keys.
type SamplingConfig struct {
	N           int      `yaml:"n" doc:"Candidates per prompt"`
	Temperature *float64 `yaml:"temperature" doc:"Temperature of the candidates"`
	TopP        *float64 `yaml:"top_p" doc:"top_p of the candidates"`
	MaxTokens   int      `yaml:"max_tokens" doc:"Bounds each candidate"`
	System      string   `yaml:"system" doc:"An optional system prompt for the candidates"`
}

// DefaultSampling returns the self-rewarding setup's sampling (Yuan et al.,
// 2024): N=4, T=0.7, top_p=0.9.
func DefaultSampling() SamplingConfig {
	t, p := 0.7, 0.9
	return SamplingConfig{N: 4, Temperature: &t, TopP: &p, MaxTokens: 1024}
}

// Sampling is how candidates are generated: a SamplingConfig resolved.
type Sampling struct {
	N           int
	Temperature float64
	TopP        *float64
	MaxTokens   int
	System      string
}

// Sampling resolves c; a nil temperature takes the self-rewarding default, 0.7.
func (c SamplingConfig) Sampling() Sampling {
	s := Sampling{N: c.N, Temperature: 0.7, TopP: c.TopP, MaxTokens: c.MaxTokens, System: c.System}
	if c.Temperature != nil {
		s.Temperature = *c.Temperature
	}
	return s
}

// Request builds the sampling request for prompt.
func (s Sampling) Request(prompt string) model.Request {
	var msgs []model.Message
	if s.System != "" {
		msgs = append(msgs, model.Message{Role: "system", Content: s.System})
	}
	t := s.Temperature
	return model.Request{
		Messages:    append(msgs, model.Message{Role: "user", Content: prompt}),
		N:           s.N,
		Temperature: &t,
		TopP:        s.TopP,
		MaxTokens:   s.MaxTokens,
		// Every candidate of every record shares the system prompt.
		CacheBreakpoints: model.SystemBreakpoint(msgs),
	}
}

// Params describes the sampling for provenance.
func (s Sampling) Params() map[string]any {
	p := map[string]any{"n": s.N, "temperature": s.Temperature, "max_tokens": s.MaxTokens}
	if s.TopP != nil {
		p["top_p"] = *s.TopP
	}
	return p
}

// Sample asks b for the N candidates of in's prompt in one request, noting
// on prov the request's keys and the model that answered. A sample the
// server did not return is a missing candidate, not an empty one.
func Sample(ctx context.Context, b model.Backend, info pipeline.ModelInfo, s Sampling, in *record.Record, prov *record.Provenance, u *pipeline.UnitUsage) ([]record.Candidate, error) {
	req := s.Request(Prompt(in))
	prov.RequestKeys = model.CacheKeys(info.Backend, info.Model, req)
	resp, err := b.Generate(ctx, req)
	u.Count(resp, err)
	if err != nil {
		return nil, fmt.Errorf("generate: %w", err)
	}
	if resp.Model != "" {
		prov.Model = resp.Model
	}
	var out []record.Candidate
	for _, c := range resp.Choices {
		out = append(out, record.Candidate{Text: c.Text, FinishReason: c.FinishReason})
	}
	return out, nil
}

// Judgment is what a record keeps of one candidate's scoring, in its Meta.
type Judgment struct {
	Candidate int      `json:"candidate"`
	Score     *float64 `json:"score,omitempty"` // nil: no score (see Error)
	Reasons   []string `json:"reasons,omitempty"`
	Error     string   `json:"error,omitempty"`
	Agreement *float64 `json:"agreement,omitempty"` // panels only
	Spread    *float64 `json:"spread,omitempty"`    // panels only: judge.Result.Spread
	// Structured is how the judge's replies were asked for with its
	// structured setting on (judge.Result.Structured).
	Structured string `json:"structured,omitempty"`
}

// Scorer scores candidates with a judge or a verifier; exactly one is set.
type Scorer struct {
	Judge    judge.Judge
	Verifier verify.Verifier
	// Reference picks the expected answer from the input record (verifiers).
	Reference func(*record.Record) string
}

// ScoreKey is the name a Scorer's score has in Candidate.Scores.
func (s Scorer) ScoreKey() string {
	if s.Verifier != nil {
		return "verifier"
	}
	return "judge"
}

// Score scores every candidate, writing each score into the candidate's
// Scores under ScoreKey. A candidate that could not be scored gets no score
// and a Judgment with its Error. Candidates are scored concurrently (a unit
// waits on its slowest judge call, not on their sum); results, usage and
// request keys are gathered in candidate order, so the records do not depend
// on timing. The error is a model or verifier failure that the caller
// classifies (pipeline.MustReturn).
func (s Scorer) Score(ctx context.Context, in *record.Record, cands []record.Candidate, u *pipeline.UnitUsage) ([]Judgment, string, []string, error) {
	prompt := Prompt(in)
	type scored struct {
		j     Judgment
		tmpl  string
		keys  []string
		usage judge.Usage
	}
	res := make([]scored, len(cands))
	g, gctx := errgroup.WithContext(ctx)
	if s.Verifier != nil {
		// Verifiers are local work (a command may take a core and a GiB):
		// units already run in parallel, so candidates within one run in turn.
		g.SetLimit(1)
	}
	for i := range cands {
		res[i].j = Judgment{Candidate: i}
		if cands[i].FinishReason == model.FinishLength {
			// A cut-off answer is incomplete training data whatever a judge
			// would say of it; not scoring it also saves the judge's tokens.
			res[i].j.Error = "truncated at max_tokens: not scored"
			continue
		}
		g.Go(func() error {
			rs := &res[i]
			if s.Verifier != nil {
				ref := ""
				if s.Reference != nil {
					ref = s.Reference(in)
				}
				v, err := s.Verifier.Verify(gctx, verify.Check{Prompt: prompt, Candidate: cands[i].Text, Reference: ref})
				if err != nil {
					return err
				}
				score := 0.0
				if v.Pass {
					score = 1
				}
				rs.j.Score, rs.j.Reasons = &score, []string{v.Reason}
				return nil
			}
			r, err := s.Judge.Score(gctx, judge.Item{Prompt: prompt, Answer: cands[i].Text})
			rs.usage, rs.keys, rs.tmpl = r.Usage, r.RequestKeys, r.Template
			if err != nil {
				return err
			}
			if r.OK() {
				score := r.Score
				rs.j.Score = &score
				if len(r.Members) > 0 {
					a, sp := r.Agreement, r.Spread
					rs.j.Agreement, rs.j.Spread = &a, &sp
				}
			} else {
				rs.j.Error = r.Err
			}
			rs.j.Reasons, rs.j.Structured = r.Reasons(), r.Structured
			for _, m := range r.Members {
				for _, reason := range m.Reasons() {
					rs.j.Reasons = append(rs.j.Reasons, m.Judge+": "+reason)
				}
			}
			return nil
		})
	}
	err := g.Wait()
	var out []Judgment
	var tmpl string
	var keys []string
	for i, rs := range res {
		u.Add(rs.usage)
		keys = append(keys, rs.keys...)
		if tmpl == "" {
			tmpl = rs.tmpl
		}
		if rs.j.Score != nil {
			if cands[i].Scores == nil {
				cands[i].Scores = map[string]float64{}
			}
			cands[i].Scores[s.ScoreKey()] = *rs.j.Score
		}
		out = append(out, rs.j)
	}
	return out, tmpl, keys, err
}

// Reference returns the function that reads a verifier's expected answer
// from a record: "output" (default), "input", or "meta.KEY".
func Reference(spec string) (func(*record.Record) string, error) {
	switch {
	case spec == "" || spec == "output":
		return func(r *record.Record) string { return r.Output }, nil
	case spec == "input":
		return func(r *record.Record) string { return r.Input }, nil
	case strings.HasPrefix(spec, "meta.") && len(spec) > 5:
		key := spec[5:]
		return func(r *record.Record) string {
			switch v := r.Meta[key].(type) {
			case nil:
				return ""
			case string:
				return v
			default:
				return fmt.Sprint(v)
			}
		}, nil
	}
	return nil, fmt.Errorf("reference %q (want output, input or meta.KEY)", spec)
}

// CopyMeta returns a shallow copy of m, never nil.
func CopyMeta(m map[string]any) map[string]any {
	out := make(map[string]any, len(m)+4)
	for k, v := range m {
		out[k] = v
	}
	return out
}
