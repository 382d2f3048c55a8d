package model

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"
)

// The batch path of the layer. A model in batch mode answers a sample from
// the response cache when it can; otherwise it queues the sample, keyed by
// its cache key, and returns ErrDeferred. Flush turns the queue into a
// batch — committed to the run store, tag and requests, before the
// provider hears of it — waits for the model's open batches to end, and
// commits each result to the cache as it is read. The caller then asks
// again and finds its answers in the cache.

// Poll backoff: by default the first look after a minute (Config.BatchPoll),
// then twice as long each time up to ten minutes; batches take minutes to hours.
const (
	batchPollFirst = time.Minute
	batchPollMax   = 10 * time.Minute
)

// batchTries is how often an item whose batch expired, was cancelled or
// answered a 5xx is sent again before its record is given up for this run.
const batchTries = 3

type batcher struct {
	c     *Client
	api   BatchAPI
	store BatchStore
	price Price         // the model's price at the batch discount
	poll  time.Duration // the first wait between looks

	flush sync.Mutex // one Flush at a time

	mu      sync.Mutex
	loaded  bool
	queue   []BatchItem
	queued  map[string]bool
	open    map[string]string // custom id → tag of the open batch that holds it
	mine    map[string]bool   // tags created by this process: no need to Find them
	failed  map[string]*Error // custom ids the provider refused for good
	tries   map[string]int
	created int // batches created at the provider by this process
}

func newBatcher(c *Client, api BatchAPI, st BatchStore, poll time.Duration) *batcher {
	if poll <= 0 {
		poll = batchPollFirst
	}
	return &batcher{
		c: c, api: api, store: st, price: c.info.Price.Batched(), poll: poll,
		queued: map[string]bool{}, open: map[string]string{}, mine: map[string]bool{},
		failed: map[string]*Error{}, tries: map[string]int{},
	}
}

// load reads the model's open batches once, so that a sample already in one
// is waited for rather than sent again.
func (b *batcher) load(ctx context.Context) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.loaded {
		return nil
	}
	infos, items, err := b.store.Batches(ctx, b.c.info.Name)
	if err != nil {
		return fmt.Errorf("model: %s: batches: %w", b.c.info.Name, err)
	}
	for i, bi := range infos {
		for _, it := range items[i] {
			b.open[it.CustomID] = bi.Tag
		}
	}
	b.loaded = true
	return nil
}

// add queues the samples idx of req that are in no open batch and returns
// ErrDeferred, or the error of a sample the provider refused for good.
func (b *batcher) add(ctx context.Context, req Request, idx []int, keys []string) error {
	if err := b.load(ctx); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, i := range idx {
		k := keys[i]
		if e, ok := b.failed[k]; ok {
			return e
		}
		if b.queued[k] || b.open[k] != "" {
			continue
		}
		sub := req
		sub.N = 1
		if req.Seed != nil && i > 0 {
			// As fetch shifts it, so sample i has its own seed.
			s := *req.Seed + int64(i)
			sub.Seed = &s
		}
		b.queue = append(b.queue, BatchItem{CustomID: k, Request: sub})
		b.queued[k] = true
	}
	return fmt.Errorf("model: %s: %d sample(s): %w", b.c.info.Name, len(idx), ErrDeferred)
}

// Flush implements BatchFlusher.
func (b *batcher) Flush(ctx context.Context) error {
	b.flush.Lock()
	defer b.flush.Unlock()
	if err := b.load(ctx); err != nil {
		return err
	}
	if err := b.commitQueue(ctx); err != nil {
		return err
	}
	infos, items, err := b.store.Batches(ctx, b.c.info.Name)
	if err != nil {
		return fmt.Errorf("model: %s: batches: %w", b.c.info.Name, err)
	}
	delay := b.poll
	defer note(ctx, "")
	for {
		open := 0
		for i := range infos {
			// On while it moves: a batch just created is looked at at
			// once, one just ended is read at once.
			for before := ""; infos[i].State != before && infos[i].State != BatchFinished; {
				before = infos[i].State
				if err := b.advance(ctx, &infos[i], items[i]); err != nil {
					return err
				}
			}
			if infos[i].State != BatchFinished {
				open++
			}
		}
		if open == 0 {
			return nil
		}
		b.c.log.Info("model: waiting for batches", "model", b.c.info.Name, "open", open, "next_look", delay)
		what := "1 batch"
		if open != 1 {
			what = fmt.Sprintf("%d batches", open)
		}
		note(ctx, fmt.Sprintf("%s: %s open at the provider; next look in %s", b.c.info.Name, what, delay))
		if err := b.c.sleep(ctx, delay); err != nil {
			return fmt.Errorf("model: %s: waiting for batches (they go on at the provider; run again to collect them): %w", b.c.info.Name, err)
		}
		delay = min(delay*2, max(batchPollMax, b.poll))
	}
}

// commitQueue commits the queued samples to the store as new batches, at
// most MaxBatchItems each.
func (b *batcher) commitQueue(ctx context.Context) error {
	b.mu.Lock()
	q := b.queue[:b.affordable()]
	b.queue = b.queue[len(q):]
	left := len(b.queue)
	b.mu.Unlock()
	if len(q) == 0 && left > 0 {
		return fmt.Errorf("model: %s: %w: spent $%.4f of $%.4f", b.c.info.Name, ErrBudgetExceeded, b.c.budget.Spent(), b.c.budget.Max())
	}
	for len(q) > 0 {
		part := q[:min(len(q), MaxBatchItems)]
		now := b.c.now().UTC()
		bi := BatchInfo{
			Tag: newBatchTag(), Model: b.c.info.Name, Provider: b.c.ref.Provider,
			State: BatchPending, Items: len(part), Created: now, Updated: now,
		}
		if err := b.store.AddBatch(context.WithoutCancel(ctx), bi, part); err != nil {
			b.mu.Lock()
			for _, it := range q {
				delete(b.queued, it.CustomID) // asked for again, they queue again
			}
			b.mu.Unlock()
			return fmt.Errorf("model: %s: commit batch: %w", b.c.info.Name, err)
		}
		b.mu.Lock()
		b.mine[bi.Tag] = true
		for _, it := range part {
			b.open[it.CustomID] = bi.Tag
			delete(b.queued, it.CustomID)
		}
		b.mu.Unlock()
		q = q[len(part):]
	}
	return nil
}

// affordable returns how many of the queued items fit in what is left of
// the budget, by the same estimate a live call reserves, at the batch
// price: a batch is paid whole, so it must fit before it is sent. The
// rest stay queued for a later flush, when the answers are in and the
// spend is known. b.mu must be held.
func (b *batcher) affordable() int {
	bud := b.c.budget
	if bud == nil {
		return len(b.queue)
	}
	room := bud.Max() - bud.Spent()
	if room <= 0 {
		return 0
	}
	sum := 0.0
	for i, it := range b.queue {
		prompt := estimateTokens(it.Request.Messages)
		sum += b.price.Cost(Usage{PromptTokens: prompt, CompletionTokens: b.c.estimateCompletion(it.Request.MaxTokens)})
		if sum > room && i > 0 {
			return i
		}
	}
	return len(b.queue)
}

// newBatchTag returns a fresh id for a batch: random, because two runs (or
// two shards) must never take each other's batches for their own.
func newBatchTag() string {
	var r [12]byte
	_, _ = rand.Read(r[:])
	return "synthloop-" + hex.EncodeToString(r[:])
}

// advance moves bi one step on: create it at the provider, look at its
// state, or read its results. Failures of the provider's API that may pass
// are logged and tried again at the next look.
func (b *batcher) advance(ctx context.Context, bi *BatchInfo, items []BatchItem) error {
	var err error
	switch bi.State {
	case BatchPending:
		err = b.create(ctx, bi, items)
	case BatchRunning:
		var st BatchState
		if st, err = b.api.Get(ctx, bi.ID); err == nil {
			bi.Status, bi.Updated = st.Status, b.c.now().UTC()
			if st.Ended {
				bi.State = BatchEnded
			}
			err = b.update(ctx, *bi)
		}
	case BatchEnded:
		err = b.collect(ctx, bi, items)
	}
	if err == nil || ctx.Err() != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("model: %s: batch %s (it goes on at the provider; run again to collect it): %w", b.c.info.Name, bi.Tag, ctx.Err())
		}
		return nil
	}
	if f := classify(err, b.c.now(), b.c.keyEnv); f.retry {
		b.c.log.Warn("model: batch API failed; trying again at the next look", "model", b.c.info.Name, "batch", bi.Tag, "err", b.c.redact(errText(err)))
		return nil
	}
	return fmt.Errorf("model: %s: batch %s: %s", b.c.info.Name, bi.Tag, b.c.redact(errText(err)))
}

// create creates bi at the provider, unless an earlier process did so
// before it was killed: a batch not created by this process is looked for
// by its tag first.
func (b *batcher) create(ctx context.Context, bi *BatchInfo, items []BatchItem) error {
	b.mu.Lock()
	mine := b.mine[bi.Tag]
	b.mu.Unlock()
	id, found := "", false
	if !mine {
		var err error
		if id, found, err = b.api.Find(ctx, *bi); err != nil {
			return err
		}
	}
	if !found {
		var err error
		if id, err = b.api.Create(ctx, bi.Tag, items); err != nil {
			// The provider may have created it all the same (an answer
			// lost on the way back): the next attempt looks first.
			b.mu.Lock()
			delete(b.mine, bi.Tag)
			b.mu.Unlock()
			return err
		}
		b.mu.Lock()
		b.created++
		b.mu.Unlock()
	}
	bi.ID, bi.State, bi.Status, bi.Updated = id, BatchRunning, "created", b.c.now().UTC()
	return b.update(ctx, *bi)
}

func (b *batcher) update(ctx context.Context, bi BatchInfo) error {
	if err := b.store.UpdateBatch(context.WithoutCancel(ctx), bi); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return nil
}

// collect reads an ended batch's results and commits each; items the
// results leave out (an expired batch's unfinished ones, lines that could
// not be read) are resubmitted.
func (b *batcher) collect(ctx context.Context, bi *BatchInfo, items []BatchItem) error {
	left := make(map[string]bool, len(items))
	for _, it := range items {
		left[it.CustomID] = true
	}
	err := b.api.Results(ctx, bi.ID, items, func(r BatchResult) error {
		if !left[r.CustomID] {
			// Not ours, already committed, or unreadable: the sweep
			// below resubmits whatever has no result.
			return nil
		}
		if err := b.commit(ctx, bi, r); err != nil {
			return err
		}
		delete(left, r.CustomID)
		return nil
	})
	if err != nil {
		return err
	}
	for id := range left {
		r := BatchResult{CustomID: id, Retry: true, Err: fmt.Errorf("no result for this request in batch %s (%s)", bi.ID, bi.Status)}
		if err := b.commit(ctx, bi, r); err != nil {
			return err
		}
	}
	bi.State, bi.Updated = BatchFinished, b.c.now().UTC()
	return b.update(ctx, *bi)
}

// commit commits one result: an answer to the cache at the batch price, a
// refusal as the sample's permanent error, anything else for resubmission.
func (b *batcher) commit(ctx context.Context, bi *BatchInfo, r BatchResult) error {
	ctx = context.WithoutCancel(ctx) // a result read is kept, Ctrl-C or not
	if r.Err == nil && (r.Response == nil || len(r.Response.Choices) == 0) {
		r.Err, r.Retry = ErrEmptyResponse, true
	}
	if r.Err == nil {
		ch := r.Response.Choices[0]
		if b.c.thinkTags {
			splitChoice(&ch)
		}
		u := r.Response.Usage
		cost := b.price.Cost(u)
		e := cacheEntry{
			V: cacheKeyVersion, Text: ch.Text, FinishReason: ch.FinishReason, Model: r.Response.Model,
			PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens, CostUSD: cost,
			Reasoning: ch.Reasoning, ReasoningSignature: ch.ReasoningSignature, ToolCalls: ch.ToolCalls,
			ReasoningTokens: u.ReasoningTokens, CachedPromptTokens: u.CachedPromptTokens,
			CacheWriteTokens: u.CacheWriteTokens, Batch: true,
		}
		val, _ := json.Marshal(e)
		if err := b.store.BatchResult(ctx, bi.Tag, r.CustomID, "done", "", r.CustomID, val); err != nil {
			return fmt.Errorf("store: %w", err)
		}
		bi.Succeeded++
		b.c.budget.Charge(cost)
		b.c.count(func(s *Stats) {
			s.PromptTokens += int64(u.PromptTokens)
			s.CompletionTokens += int64(u.CompletionTokens)
			s.ReasoningTokens += int64(u.ReasoningTokens)
			s.CachedPromptTokens += int64(u.CachedPromptTokens)
			s.CostUSD += cost
		})
		b.forget(r.CustomID)
		return nil
	}
	b.mu.Lock()
	b.tries[r.CustomID]++
	giveUp := !r.Retry || b.tries[r.CustomID] >= batchTries
	if giveUp {
		b.failed[r.CustomID] = &Error{
			Name: b.c.info.Name, Ref: b.c.ref.String(), BaseURL: "batch " + bi.ID, Attempts: b.tries[r.CustomID],
			Retryable: r.Retry, Transient: r.Retry, Status: r.Status, Err: r.Err, redact: b.c.redact,
		}
	}
	b.mu.Unlock()
	state := "retry"
	if giveUp {
		state = "failed"
	}
	if err := b.store.BatchResult(ctx, bi.Tag, r.CustomID, state, b.c.redact(errText(r.Err)), "", nil); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	bi.Failed++
	b.forget(r.CustomID)
	return nil
}

// forget takes a custom id out of the open batches: its answer is in the
// cache, its error is known, or it is to be sent again.
func (b *batcher) forget(id string) {
	b.mu.Lock()
	delete(b.open, id)
	b.mu.Unlock()
}

// Created reports how many batches this process created at the provider.
func (b *batcher) Created() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.created
}

// batchView is a *Client in batch mode, for a stage that asks for batches
// of a model the config does not put in batch mode for everyone.
type batchView struct{ c *Client }

func (v batchView) Generate(ctx context.Context, req Request) (*Response, error) {
	return v.c.generate(ctx, req, v.c.maxRetries, true, true)
}

func (v batchView) Flush(ctx context.Context) error { return v.c.Flush(ctx) }

func (v batchView) Stats() Stats { return v.c.Stats() }

// ErrNoBatchAPI is returned by Batched for a model whose provider has no
// batch API, or that was opened without a run store to keep batches in.
var ErrNoBatchAPI = errors.New("model: no batch API")

// Batched returns c in batch mode: every sample not in the cache is
// deferred to a provider batch (see ErrDeferred). The view shares c's
// cache, budget, counters and batches.
func (c *Client) Batched() (Backend, error) {
	if c.batch == nil {
		return nil, fmt.Errorf("model: %s (%s): %w (batches need the openai or anthropic provider and a run store)", c.info.Name, c.ref, ErrNoBatchAPI)
	}
	return batchView{c}, nil
}

// Flush implements BatchFlusher: it is a no-op for a model without batches.
func (c *Client) Flush(ctx context.Context) error {
	if c.batch == nil {
		return nil
	}
	return c.batch.Flush(ctx)
}
