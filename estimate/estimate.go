// Package estimate predicts a pipeline run's requests, tokens, cost and time before any money is spent, by running the pipeline against placeholder replies and counting what would be sent.
//
// The estimate is a dry run: every stage runs as it would, into a throwaway
// store, except that each model call is answered by a placeholder (see
// Placeholder) and tallied instead of sent. Its assumptions:
//   - Requests: exactly those the stages make with placeholder replies. For
//     stages whose requests do not depend on the replies (one request per
//     input record, a fixed number per unit) the count is exact. For stages
//     that go on until a target is met or ask again when a reply does not
//     parse or pass a check, it is what the placeholder replies lead to,
//     which a real model's replies may not (see Placeholder).
//   - Input tokens: counted with the model's tokenizer when it is one of
//     OpenAI's (o200k_base, cl100k_base, embedded), plus 3 per message and 3
//     per request for the chat format; otherwise about one token per 4 bytes
//     of ASCII and one per other character (labelled as an estimate).
//   - Output tokens: a low figure from the placeholder replies and a high one
//     from each request's max_tokens (1,024 when it sets none).
//   - Response cache: a request repeating an earlier one is not counted, as
//     the run store's response cache would answer it.
//   - Prompt cache: as if the provider kept every prefix for the whole run
//     (an upper bound on the saving): OpenAI caches prefixes of 1,024 tokens
//     and more by itself; Anthropic caches the prefixes the requests mark
//     (model.Request.CacheBreakpoints).
//   - Time: stages one after another; within one, each model's requests at
//     its concurrency ceiling taking 1 s plus 20 ms per output token, or its
//     rpm and tpm caps where they bind.
package estimate

import (
	"context"
	"sync"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
)

// Estimator records the calls of a dry run. Give its Open to
// pipeline.Options.OpenModel and the Estimator itself as the Reporter, so it
// knows which stage each call belongs to. Safe for concurrent use.
type Estimator struct {
	ph      model.Backend
	samples int

	mu      sync.Mutex
	stage   string
	stages  []string
	rows    map[rowKey]*Row
	infos   map[string]model.Info
	counts  map[string]*counter
	caches  map[string]*prefixCache
	seen    map[string]bool // sample keys already asked for
	example map[string][]Sample
}

type rowKey struct{ stage, model string }

// Options configure an Estimator.
type Options struct {
	// Placeholder answers the calls; nil means NewPlaceholder(Seed).
	Placeholder model.Backend
	Seed        int64
	// Samples is how many requests per stage are kept to show (default 1).
	Samples int
}

// New returns an Estimator.
func New(o Options) *Estimator {
	if o.Placeholder == nil {
		o.Placeholder = NewPlaceholder(o.Seed)
	}
	if o.Samples <= 0 {
		o.Samples = 1
	}
	return &Estimator{
		ph: o.Placeholder, samples: o.Samples, rows: map[rowKey]*Row{}, infos: map[string]model.Info{},
		counts: map[string]*counter{}, caches: map[string]*prefixCache{}, seen: map[string]bool{},
		example: map[string][]Sample{},
	}
}

// Open stands in for model.Open: the model is described (price, limits),
// not opened, so no key is needed, and its calls are recorded.
func (e *Estimator) Open(_ context.Context, name string, cfg model.Config, _ model.Options) (model.Backend, model.Info, error) {
	info, err := model.Describe(name, cfg)
	if err != nil {
		return nil, model.Info{}, err
	}
	e.mu.Lock()
	e.infos[name] = info
	e.counts[name] = newCounter(info.Provider, info.Model)
	e.caches[name] = newPrefixCache(info.Provider)
	e.mu.Unlock()
	return &recorder{e: e, name: name, info: info}, info, nil
}

// OneStageAtATime implements pipeline.OneStageAtATime: the calls of a run
// belong to the stage that started last, so the run must be staged.
func (e *Estimator) OneStageAtATime() bool { return true }

// Stage implements pipeline.Reporter: calls from now on belong to stage name.
func (e *Estimator) Stage(name string, _, _ int) pipeline.Progress {
	e.mu.Lock()
	e.stage = name
	e.stages = append(e.stages, name)
	e.mu.Unlock()
	return nopProgress{}
}

// StageDone implements pipeline.Reporter.
func (e *Estimator) StageDone(string, error) {}

type nopProgress struct{}

func (nopProgress) SetTotal(int)               {}
func (nopProgress) Done(int, int, int, int)    {}
func (nopProgress) Usage(u pipeline.UnitUsage) {}

// Sample is one request as it would be sent.
type Sample struct {
	Model    string
	Messages []model.Message
}

// recorder is the backend a stage gets in a dry run.
type recorder struct {
	e    *Estimator
	name string
	info model.Info
}

func (r *recorder) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	resp, err := r.e.ph.Generate(ctx, req)
	if err != nil {
		return nil, err
	}
	fresh := r.e.fresh(r.info, req)
	r.e.record(r.name, r.info, req, fresh, resp)
	out := *resp
	out.CostUSD, out.Cached = 0, fresh == 0
	return &out, nil
}

// fresh counts the samples of req no earlier request asked for.
func (e *Estimator) fresh(info model.Info, req model.Request) int {
	keys := model.CacheKeys(info.Provider, info.Model, req)
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, k := range keys {
		if !e.seen[k] {
			e.seen[k] = true
			n++
		}
	}
	return n
}

// defaultOutputBound stands in for max_tokens when a request sets none.
const defaultOutputBound = 1024

func (e *Estimator) record(name string, info model.Info, req model.Request, fresh int, resp *model.Response) {
	e.mu.Lock()
	stage := e.stage
	row := e.rows[rowKey{stage, name}]
	if row == nil {
		row = &Row{Stage: stage, Model: name}
		e.rows[rowKey{stage, name}] = row
	}
	cnt, pc := e.counts[name], e.caches[name]
	if len(e.example[stage]) < e.samples {
		e.example[stage] = append(e.example[stage], Sample{Model: name, Messages: req.Messages})
	}
	e.mu.Unlock()

	calls := Row{Calls: 1}
	if fresh == 0 {
		calls.ResponseCacheHits = 1
	} else {
		reqs := 1
		switch per := model.SamplesPerRequest(info.Provider); {
		case per == 1:
			reqs = fresh
		case per > 1:
			reqs = (fresh + per - 1) / per
		}
		in := cnt.request(req)
		calls.Requests = reqs
		calls.Samples = fresh
		calls.InputTokens = reqs * in
		for range reqs {
			read, write := pc.observe(req, in)
			calls.CachedInputTokens += read
			calls.CacheWriteTokens += write
		}
		out := 0
		for _, c := range resp.Choices {
			out += cnt.text(c.Text) + cnt.text(c.Reasoning)
			for _, tc := range c.ToolCalls {
				out += cnt.text(tc.Name + tc.Arguments)
			}
		}
		if len(resp.Choices) > 0 {
			out = out * fresh / len(resp.Choices)
		}
		calls.OutputTokens = out
		bound := req.MaxTokens
		if bound <= 0 {
			bound = defaultOutputBound
		}
		calls.OutputBound = fresh * bound
	}
	e.mu.Lock()
	row.add(calls)
	e.mu.Unlock()
}
