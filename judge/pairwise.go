package judge

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
)

// Pairwise compares two answers, shown in both orders.
type Pairwise struct {
	b        Backend
	criteria []string
	opt      Options
	ts       *templates
	shape    *structured.Shaper // nil: the text verdict line
}

// NewPairwise returns a pairwise judge on b. Criteria default to a short
// list of helpfulness, accuracy and clarity. Only Options.MaxRetries,
// Temperature and MaxTokens apply: each order is asked once.
func NewPairwise(b Backend, criteria []string, opt Options) (*Pairwise, error) {
	if b.Backend == nil {
		return nil, errors.New("judge: pairwise judge needs a backend")
	}
	if len(criteria) == 0 {
		criteria = pairwiseCriteria
	}
	// One sample per order: a greedy verdict is the most likely one.
	def := pointwiseDefaults
	def.Temperature = ptr(0.0)
	ts, err := loadTemplates(opt.Prompts)
	if err != nil {
		return nil, err
	}
	shape, err := structured.NewShaper(opt.Structured, winnerSchema)
	if err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	return &Pairwise{b: b, criteria: criteria, opt: opt.Defaults(def), ts: ts, shape: shape}, nil
}

// TemplateHash is the hash of the prompt template the judge uses; with the
// structured setting on, it covers the reply schema too.
func (j *Pairwise) TemplateHash() string { return shapedHash(j.ts.pairwise.Hash, j.shape) }

// Compare implements Comparer.
func (j *Pairwise) Compare(ctx context.Context, prompt, a, b string) (Preference, error) {
	p := Preference{Template: j.TemplateHash()}
	retries := j.opt.MaxRetries
	fwd, err := j.ask(ctx, prompt, a, b, &p, &retries)
	if err != nil || fwd == "" {
		// Without the first verdict there is no pair of verdicts to agree.
		return p, err
	}
	bwd, err := j.ask(ctx, prompt, b, a, &p, &retries)
	if err != nil {
		return p, err
	}
	switch bwd { // back to the original names
	case WinnerA:
		bwd = WinnerB
	case WinnerB:
		bwd = WinnerA
	}
	p.Forward, p.Backward = fwd, bwd
	switch {
	case fwd == "" || bwd == "":
		if p.Err == "" {
			p.Err = "judge: no verdict"
		}
	case fwd == bwd:
		p.Winner = fwd
	default:
		p.Winner = WinnerTie
	}
	return p, nil
}

// ask gets one order's verdict, or "" with p.Err set.
func (j *Pairwise) ask(ctx context.Context, prompt, a, b string, p *Preference, retries *int) (Winner, error) {
	text, err := j.ts.pairwise.Render(pairwiseData{Criteria: j.criteria, Prompt: prompt, A: a, B: b})
	if err != nil {
		return "", fmt.Errorf("judge: %w", err)
	}
	req := model.Request{
		Messages:    []model.Message{{Role: "user", Content: text}},
		Temperature: j.opt.Temperature,
		MaxTokens:   j.opt.MaxTokens,
	}
	call := func(ctx context.Context, req model.Request) (string, error) {
		p.RequestKeys = append(p.RequestKeys, model.CacheKeys(j.b.Provider, j.b.Model, req)...)
		out, err := generate(ctx, j.b, req, &p.Usage)
		if err != nil {
			return "", err
		}
		return out[0], nil
	}
	var reply string
	how, err := j.shape.Do(ctx, req, func(ctx context.Context, shaped model.Request, _ structured.Mode) error {
		var err error
		req = shaped
		reply, err = call(ctx, shaped)
		return err
	})
	if err != nil {
		return "", err
	}
	p.Structured = j.shape.Label(how)
	parse := ParseWinner
	retry := func(req model.Request, reply, problem string) model.Request {
		return j.ts.retryRequest(req, reply, problem, "Winner: A")
	}
	if j.shape != nil && how != structured.Off {
		parse = ParseStructuredWinner
		retry = func(req model.Request, reply, problem string) model.Request {
			return FollowUp(req, reply, structured.Restate(problem))
		}
	}
	for {
		w, reason, perr := parse(reply)
		if perr == nil {
			p.Reasons = append(p.Reasons, reason)
			return w, nil
		}
		p.Usage.Errors++
		if *retries <= 0 || strings.TrimSpace(reply) == "" {
			p.Err = fmt.Sprint(perr)
			return "", nil
		}
		*retries--
		req = retry(req, reply, perr.Error())
		if reply, err = call(ctx, req); err != nil {
			return "", err
		}
	}
}
