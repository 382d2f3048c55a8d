package grounding

import (
	"context"
	"embed"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
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
	Nonce    string `doc:"a nonce derived from the item, for the markers around the texts"`
	Question string `doc:"the question the answer responds to"`
	Evidence string `doc:"the evidence the answer must follow from"`
	Answer   string `doc:"the answer to rate"`
}

type retryData struct {
	Problem string `doc:"why the last reply could not be used"`
}

// The prompts a user may replace under `grounding_prompts:`.
var (
	kindGrounding = prompt.Kind{Name: "grounding",
		Doc:     "Rates from 1 to 5 how well the evidence supports the answer; the reply must end with `Score: N`.",
		Samples: []any{promptData{Nonce: "7d3e", Question: "How long do refunds take?", Evidence: "Refunds take 5 days.", Answer: "About 5 days."}}}
	kindRetry = prompt.Kind{Name: "retry",
		Doc:     "The follow-up after a reply without a valid `Score: N` line.",
		Samples: []any{retryData{Problem: "no valid score in the reply"}}}
)

// PromptSet is the grounding judge's replaceable prompts, set under
// `grounding_prompts:` of every stage that embeds Config; those stages
// declare it.
var PromptSet = prompt.Set{Name: "grounding", Key: "grounding_prompts", Kinds: []prompt.Kind{kindGrounding, kindRetry}}

// TemplateHash is the hash of the grounding prompt template.
func TemplateHash() string { return groundingPrompt.Hash }

// Item is what the grounding judge checks: an answer to a question against
// the evidence it must follow from.
type Item struct {
	Question string
	Evidence string
	Answer   string
}

// Prompt renders the grounding judge's embedded prompt for it.
func Prompt(it Item) string {
	s, err := render(groundingPrompt, it)
	if err != nil {
		panic(err) // the embedded template renders: the golden tests say so
	}
	return s
}

func render(t *prompt.Template, it Item) (string, error) {
	return t.Render(promptData{
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
	b             judge.Backend
	opt           judge.Options
	prompt, retry *prompt.Template
	shape         *structured.Shaper // opt.Structured; nil: the Score: N line
}

// NewJudge returns the grounding judge on b; zero options take Defaults.
// opt.Prompts names the user's templates by this judge's kinds (PromptSet).
func NewJudge(b judge.Backend, opt judge.Options) (*Judge, error) {
	if b.Backend == nil {
		return nil, errors.New("grounding: judge needs a backend")
	}
	j := &Judge{b: b, opt: opt.Defaults(Defaults()), prompt: groundingPrompt, retry: retryPrompt}
	var err error
	if j.shape, err = judge.ScoreShaper(opt.Structured, MinScore, MaxScore, true); err != nil {
		return nil, fmt.Errorf("grounding: %w", err)
	}
	if len(opt.Prompts) == 0 {
		return j, nil
	}
	if err := opt.Prompts.PickAll(templateFS, "", prompt.Slot{Dst: &j.prompt, Kind: kindGrounding}, prompt.Slot{Dst: &j.retry, Kind: kindRetry}); err != nil {
		return nil, fmt.Errorf("grounding: %w", err)
	}
	return j, nil
}

// TemplateHash is the hash of the prompt template the judge uses.
func (j *Judge) TemplateHash() string { return j.prompt.Hash }

// Score rates it. A reply without a valid "Score: N" line (none, or out of
// 1..5, or not whole) gets a follow-up quoting the problem while the retry
// budget lasts; the result is the mean of the valid ratings, and with none
// Result.Err says why (never a made-up score). The error is a failed model
// call or a cancelled ctx, for the caller to classify.
func (j *Judge) Score(ctx context.Context, it Item) (judge.Result, error) {
	res := judge.Result{Judge: j.b.Name, Template: j.prompt.Hash}
	text, err := render(j.prompt, it)
	if err != nil {
		return res, fmt.Errorf("grounding: %w", err)
	}
	sc := judge.Scoring{
		Request: j.opt.Request(text), Min: MinScore, Max: MaxScore, Integral: true, Retries: j.opt.MaxRetries,
		Retry: func(req model.Request, reply, problem string) model.Request {
			return judge.FollowUp(req, reply, j.retryText(problem))
		},
		Shape: j.shape,
	}
	if err := sc.Run(ctx, j.b, &res); err != nil {
		return res, fmt.Errorf("grounding: %w", err)
	}
	return res, nil
}

// retryText renders the follow-up, which must be sent.
func (j *Judge) retryText(problem string) string {
	return j.retry.RenderOr(retryPrompt, retryData{problem})
}
