package judge

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
)

// Backend is a model with the names that identify it in provenance and in
// the response cache's keys.
type Backend struct {
	model.Backend
	Name     string // the name in the config's models section
	Provider string // e.g. "openai"
	Model    string // e.g. "gpt-4o-mini"
}

// Options tune the requests of a judge. Zero values take the defaults.
type Options struct {
	// Samples is how many times each answer is scored; the scores are averaged (3).
	Samples int
	// MaxRetries bounds the follow-up requests that ask a judge to restate an
	// unusable reply, per answer (2). Negative means none.
	MaxRetries int
	// Temperature of the judge (0.7): sampling is what makes k scores differ.
	Temperature *float64
	// MaxTokens bounds each judge reply (512).
	MaxTokens int
	// Prompts replaces embedded prompt templates with the user's files
	// (judge_prompts:); nil keeps the embedded ones.
	Prompts prompt.Files
	// Structured asks for JSON replies that fit the judge's schema: off
	// ("", the text verdict line), auto, native or prompt (see
	// structured.ParseSetting).
	Structured string
}

// Request asks for o.Samples ratings of the rendered judge prompt text.
func (o Options) Request(text string) model.Request {
	return model.Request{
		Messages:    []model.Message{{Role: "user", Content: text}},
		N:           o.Samples,
		Temperature: o.Temperature,
		MaxTokens:   o.MaxTokens,
	}
}

// Defaults returns o with its zero values taken from def, a judge's
// defaults, and a negative MaxRetries made 0 (none).
func (o Options) Defaults(def Options) Options {
	if o.Samples <= 0 {
		o.Samples = def.Samples
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = def.MaxRetries
	}
	if o.MaxRetries < 0 {
		o.MaxRetries = 0
	}
	if o.Temperature == nil && def.Temperature != nil {
		t := *def.Temperature
		o.Temperature = &t
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = def.MaxTokens
	}
	return o
}

func ptr[T any](v T) *T { return &v }

// pointwiseDefaults are the pointwise judge's Options.
var pointwiseDefaults = Options{Samples: 3, MaxRetries: 2, Temperature: ptr(0.7), MaxTokens: 512}

// Pointwise scores answers against a rubric, Samples times each, and averages.
type Pointwise struct {
	b      Backend
	rubric Rubric
	opt    Options
	p      *prompt.Template
	ts     *templates
	shape  *structured.Shaper // nil: the text verdict line
}

// NewPointwise returns a pointwise judge on b. A zero Rubric is the
// self-rewarding additive 5-point rubric.
func NewPointwise(b Backend, r Rubric, opt Options) (*Pointwise, error) {
	if b.Backend == nil {
		return nil, errors.New("judge: pointwise judge needs a backend")
	}
	r, err := r.resolve()
	if err != nil {
		return nil, err
	}
	ts, err := loadTemplates(opt.Prompts)
	if err != nil {
		return nil, err
	}
	p := ts.scale
	if r.Kind == Additive {
		p = ts.additive
	}
	shape, err := ScoreShaper(opt.Structured, r.Min, r.Max, r.Kind == Additive)
	if err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	return &Pointwise{b: b, rubric: r, opt: opt.Defaults(pointwiseDefaults), p: p, ts: ts, shape: shape}, nil
}

// Range returns the lowest and highest score the judge can give.
func (j *Pointwise) Range() (lo, hi float64) { return j.rubric.Min, j.rubric.Max }

// TemplateHash is the hash of the prompt template the judge uses.
// With the structured setting on, it covers the reply schema too.
func (j *Pointwise) TemplateHash() string { return shapedHash(j.p.Hash, j.shape) }

func fmtNum(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Score implements Judge. One request asks for Samples replies; each reply
// without a valid score gets a follow-up that quotes the problem, while the
// retry budget lasts. The score is the mean of the valid replies; with none,
// Result.Err says why.
func (j *Pointwise) Score(ctx context.Context, it Item) (Result, error) {
	res := Result{Judge: j.b.Name, Template: j.TemplateHash()}
	text, err := j.p.Render(pointwiseData{
		Criteria: j.rubric.Criteria, Min: fmtNum(j.rubric.Min), Max: fmtNum(j.rubric.Max),
		Prompt: it.Prompt, Answer: it.Answer,
	})
	if err != nil {
		return res, fmt.Errorf("judge: %w", err)
	}
	sc := Scoring{
		Request: j.opt.Request(text), Min: j.rubric.Min, Max: j.rubric.Max, Integral: j.rubric.Kind == Additive, Retries: j.opt.MaxRetries,
		Retry: func(req model.Request, reply, problem string) model.Request {
			return j.ts.retryRequest(req, reply, problem, "Score: N")
		},
		Shape: j.shape,
	}
	if err := sc.Run(ctx, j.b, &res); err != nil {
		return res, fmt.Errorf("judge: %w", err)
	}
	return res, nil
}

// retryRequest continues the conversation: the unusable reply, then a request
// to restate it in the required form. It is a distinct request (its own cache
// key), so a resumed run replays it from the cache like any other.
func (ts *templates) retryRequest(req model.Request, reply, problem, form string) model.Request {
	return FollowUp(req, reply, ts.retryText(problem, form))
}
