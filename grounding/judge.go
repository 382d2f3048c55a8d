package grounding

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
)

// The grounding scale: 1 (not supported) to 5 (fully supported).
const (
	MinScore = 1
	MaxScore = 5
)

// The prompts are files so they are reviewed as prompts and their hash,
// recorded on every checked record, changes exactly when they do.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	groundingPrompt = prompt.Must(templateFS, "grounding")
	retryPrompt     = prompt.Must(templateFS, "retry")
)

type promptData struct {
	Nonce, Question, Evidence, Answer string
}

// TemplateHash is the hash of the grounding prompt template.
func TemplateHash() string { return groundingPrompt.Hash }

// Item is what the grounding judge checks: an answer to a question against
// the evidence it must follow from.
type Item struct {
	Question string
	Evidence string
	Answer   string
}

// Prompt renders the grounding judge's prompt for it.
func Prompt(it Item) string {
	return groundingPrompt.MustRender(promptData{
		Nonce:    Nonce(it.Question, it.Evidence, it.Answer),
		Question: it.Question, Evidence: it.Evidence, Answer: it.Answer,
	})
}

// Defaults are the grounding judge's options where a judge.Options leaves
// them zero: one rating, two follow-ups per item, temperature 0 (grounding
// is a factual check) and 400 tokens a reply.
func Defaults() judge.Options {
	t := 0.0
	return judge.Options{Samples: 1, MaxRetries: 2, Temperature: &t, MaxTokens: 400}
}

// Judge rates how well evidence supports an answer with the grounding prompt.
// Safe for concurrent use.
type Judge struct {
	b   judge.Backend
	opt judge.Options
}

// NewJudge returns the grounding judge on b; zero options take Defaults.
func NewJudge(b judge.Backend, opt judge.Options) (*Judge, error) {
	if b.Backend == nil {
		return nil, errors.New("grounding: judge needs a backend")
	}
	return &Judge{b: b, opt: opt.Defaults(Defaults())}, nil
}

// Score rates it. A reply without a valid "Score: N" line (none, or out of
// 1..5, or not whole) gets a follow-up quoting the problem while the retry
// budget lasts; the result is the mean of the valid ratings, and with none
// Result.Err says why (never a made-up score). The error is a failed model
// call or a cancelled ctx, for the caller to classify.
func (j *Judge) Score(ctx context.Context, it Item) (judge.Result, error) {
	res := judge.Result{Judge: j.b.Name, Template: groundingPrompt.Hash}
	req := model.Request{
		Messages:    []model.Message{{Role: "user", Content: Prompt(it)}},
		N:           j.opt.Samples,
		Temperature: j.opt.Temperature,
		MaxTokens:   j.opt.MaxTokens,
	}
	sc := judge.Scoring{
		Request: req, Min: MinScore, Max: MaxScore, Integral: true, Retries: j.opt.MaxRetries,
		Retry: func(req model.Request, reply, problem string) model.Request {
			fix := req
			fix.N = 1
			fix.Messages = append(append([]model.Message(nil), req.Messages...),
				model.Message{Role: "assistant", Content: reply},
				model.Message{Role: "user", Content: retryPrompt.MustRender(struct{ Problem string }{problem})})
			return fix
		},
	}
	if err := sc.Run(ctx, j.b, &res); err != nil {
		return res, fmt.Errorf("grounding: %w", err)
	}
	return res, nil
}
