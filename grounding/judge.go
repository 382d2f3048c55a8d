package grounding

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"text/template"

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

type prompt struct {
	name string
	hash string
	tmpl *template.Template
}

func mustPrompt(name string) *prompt {
	b, err := templateFS.ReadFile("templates/" + name + ".tmpl")
	if err != nil {
		panic(err) // embedded: a failure is a build defect
	}
	sum := sha256.Sum256(b)
	return &prompt{name: name, hash: hex.EncodeToString(sum[:]),
		tmpl: template.Must(template.New(name).Option("missingkey=error").Parse(string(b)))}
}

var (
	groundingPrompt = mustPrompt("grounding")
	retryPrompt     = mustPrompt("retry")
)

func (p *prompt) render(data any) string {
	var buf bytes.Buffer
	if err := p.tmpl.Execute(&buf, data); err != nil {
		panic(fmt.Sprintf("grounding: render %s: %v", p.name, err)) // golden tests render every template
	}
	return strings.TrimRight(buf.String(), "\n")
}

type promptData struct {
	Nonce, Question, Evidence, Answer string
}

// TemplateHash is the hash of the grounding prompt template.
func TemplateHash() string { return groundingPrompt.hash }

// Item is what the grounding judge checks: an answer to a question against
// the evidence it must follow from.
type Item struct {
	Question string
	Evidence string
	Answer   string
}

// Prompt renders the grounding judge's prompt for it.
func Prompt(it Item) string {
	return groundingPrompt.render(promptData{
		Nonce:    Nonce(it.Question, it.Evidence, it.Answer),
		Question: it.Question, Evidence: it.Evidence, Answer: it.Answer,
	})
}

// Options tune the grounding judge's requests. Zero values take the defaults.
type Options struct {
	// Samples is how many ratings are asked for and averaged (1).
	Samples int
	// Retries bounds the follow-ups that ask the judge to restate a reply
	// without a valid score, per item (2); negative means none.
	Retries int
	// Temperature of the judge (0: grounding is a factual check).
	Temperature *float64
	// MaxTokens bounds each reply (400).
	MaxTokens int
}

func (o Options) resolve() Options {
	if o.Samples <= 0 {
		o.Samples = 1
	}
	if o.Retries == 0 {
		o.Retries = 2
	}
	if o.Retries < 0 {
		o.Retries = 0
	}
	if o.Temperature == nil {
		t := 0.0
		o.Temperature = &t
	}
	if o.MaxTokens <= 0 {
		o.MaxTokens = 400
	}
	return o
}

// Judge rates how well evidence supports an answer with the grounding prompt.
// Safe for concurrent use.
type Judge struct {
	b   judge.Backend
	opt Options
}

// NewJudge returns the grounding judge on b.
func NewJudge(b judge.Backend, opt Options) (*Judge, error) {
	if b.Backend == nil {
		return nil, errors.New("grounding: judge needs a backend")
	}
	return &Judge{b: b, opt: opt.resolve()}, nil
}

// Score rates it. A reply without a valid "Score: N" line (none, or out of
// 1..5, or not whole) gets a follow-up quoting the problem while the retry
// budget lasts; the result is the mean of the valid ratings, and with none
// Result.Err says why (never a made-up score). The error is a failed model
// call or a cancelled ctx, for the caller to classify.
func (j *Judge) Score(ctx context.Context, it Item) (judge.Result, error) {
	res := judge.Result{Judge: j.b.Name, Template: groundingPrompt.hash}
	req := model.Request{
		Messages:    []model.Message{{Role: "user", Content: Prompt(it)}},
		N:           j.opt.Samples,
		Temperature: j.opt.Temperature,
		MaxTokens:   j.opt.MaxTokens,
	}
	replies, err := j.generate(ctx, req, &res)
	if err != nil {
		return res, err
	}
	parse := func(reply string) judge.Sample {
		s, reason, err := judge.ParseScore(reply, MinScore, MaxScore, true)
		if err != nil {
			return judge.Sample{Reason: err.Error()}
		}
		return judge.Sample{Score: s, Valid: true, Reason: reason}
	}
	retries := j.opt.Retries
	for _, reply := range replies {
		s := parse(reply)
		for !s.Valid && retries > 0 && strings.TrimSpace(reply) != "" {
			retries--
			res.Usage.Errors++
			res.Samples = append(res.Samples, s)
			fix := req
			fix.N = 1
			fix.Messages = append(append([]model.Message(nil), req.Messages...),
				model.Message{Role: "assistant", Content: reply},
				model.Message{Role: "user", Content: retryPrompt.render(struct{ Problem string }{s.Reason})})
			out, err := j.generate(ctx, fix, &res)
			if err != nil {
				return res, err
			}
			reply = out[0]
			s = parse(reply)
		}
		if !s.Valid {
			res.Usage.Errors++
		}
		res.Samples = append(res.Samples, s)
	}
	var sum float64
	n := 0
	for _, s := range res.Samples {
		if s.Valid {
			sum += s.Score
			n++
		} else {
			res.Err = s.Reason
		}
	}
	if n == 0 {
		return res, nil
	}
	res.Err = ""
	res.Score = sum / float64(n)
	return res, nil
}

// generate sends req, accounting for it in res; a sample the server did not
// return is "" (which fails to parse, the honest outcome).
func (j *Judge) generate(ctx context.Context, req model.Request, res *judge.Result) ([]string, error) {
	res.RequestKeys = append(res.RequestKeys, model.CacheKeys(j.b.Provider, j.b.Model, req)...)
	resp, err := j.b.Generate(ctx, req)
	res.Usage.Requests++
	if err != nil {
		return nil, fmt.Errorf("grounding: %w", err)
	}
	if resp.Cached {
		res.Usage.CachedRequests++
	}
	res.Usage.PromptTokens += resp.Usage.PromptTokens
	res.Usage.CompletionTokens += resp.Usage.CompletionTokens
	res.Usage.CostUSD += resp.CostUSD
	out := make([]string, max(req.N, 1))
	for i, c := range resp.Choices {
		if i < len(out) {
			out[i] = c.Text
		}
	}
	return out, nil
}
