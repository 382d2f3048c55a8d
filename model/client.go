package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"
)

// Client is a provider's raw backend behind the reliability layer. Open builds
// it; it is safe for concurrent use, and Generate blocks until every sample is
// there, ctx ends, the budget is spent, or a request fails for good.
type Client struct {
	pool       *pool // the endpoints, each with its raw backend and AIMD window
	info       Info
	ref        Ref
	keyEnv     string
	redact     func(string) string // removes the API key; the key itself is not kept here
	cache      Cache
	budget     *Budget
	log        *slog.Logger
	maxN       int
	timeout    time.Duration
	maxRetries int
	rpm, tpm   *rate.Limiter
	sleep      func(context.Context, time.Duration) error
	now        func() time.Time
	rand       func() float64
	thinkTags  bool     // split <think> blocks off answers (Config.ThinkTags)
	batch      *batcher // the provider's batch API, nil without one
	batchAll   bool     // Config.Batch: every call goes through batches

	pauseUntil atomic.Int64 // unix nanos: a server-requested wait that holds back every caller
	// downUntil (unix nanos) is set when a call ran out of retries without
	// ever reaching the server; until then calls fail at once with downErr
	// instead of each spending the whole retry schedule on a dead address.
	downUntil atomic.Int64
	downErr   atomic.Pointer[Error]

	mu         sync.Mutex
	st         Stats
	inflight   map[string]chan struct{} // sample keys being fetched, closed when done
	complAvg   float64                  // running mean of completion tokens per sample, for estimates
	complCount int
}

// Stats are a backend's counters since Open, for progress bars and `status`.
type Stats struct {
	Calls       int64 // Generate calls
	Requests    int64 // requests sent to the server (attempts)
	Retries     int64 // attempts after a retryable failure
	CacheHits   int64 // samples answered from the cache
	Samples     int64 // samples returned (cached or not)
	RateLimited int64 // 429 answers
	Overloaded  int64 // 429, 503, 529 answers and timeouts: each may shrink the window
	Failures    int64 // Generate calls that returned an error
	// InFlight and Concurrency are the requests in flight now and the current
	// adaptive window; MaxConcurrency is its ceiling.
	InFlight         int
	Concurrency      int
	MaxConcurrency   int
	PromptTokens     int64 // as reported by the server, this process only
	CompletionTokens int64 // reasoning tokens included
	ReasoningTokens  int64 // the part of CompletionTokens spent reasoning, where the server says
	// CachedPromptTokens is the part of PromptTokens the provider's prompt
	// cache served.
	CachedPromptTokens int64
	CostUSD            float64 // paid in this process (cache hits are free)
	// Endpoints has one entry per endpoint when the model has several.
	Endpoints []EndpointStats
}

// StatsSource is implemented by backends that count their traffic (*Client).
type StatsSource interface{ Stats() Stats }

// Stats returns a snapshot of the counters.
func (c *Client) Stats() Stats {
	c.mu.Lock()
	s := c.st
	c.mu.Unlock()
	eps, limit, inflight, ceiling := c.pool.stats()
	s.Concurrency, s.InFlight, s.MaxConcurrency = limit, inflight, ceiling
	if len(eps) > 1 {
		s.Endpoints = eps
	}
	return s
}

// Info describes the backend.
func (c *Client) Info() Info { return c.info }

func (c *Client) count(f func(s *Stats)) {
	c.mu.Lock()
	f(&c.st)
	c.mu.Unlock()
}

// Generate implements Backend. Samples already in the cache are not asked for
// again: only the missing sample indices are requested, and each sample is
// put in the cache as soon as its response arrives, before Generate
// returns, so whatever is built from it is committed after it (see Cache).
func (c *Client) Generate(ctx context.Context, req Request) (*Response, error) {
	return c.generate(ctx, req, c.maxRetries, true, c.batchAll)
}

// generate answers req from the cache and the server, or, in batch mode,
// from the cache and the batches (see Batched).
func (c *Client) generate(ctx context.Context, req Request, maxRetries int, useCache, batch bool) (*Response, error) {
	c.count(func(s *Stats) { s.Calls++ })
	resp, err := c.generateSamples(ctx, req, maxRetries, useCache, batch)
	if err != nil {
		if !errors.Is(err, ErrDeferred) {
			c.count(func(s *Stats) { s.Failures++ })
		}
		return nil, err
	}
	c.count(func(s *Stats) { s.Samples += int64(len(resp.Choices)) })
	return resp, nil
}

func (c *Client) generateSamples(ctx context.Context, req Request, maxRetries int, useCache, batch bool) (*Response, error) {
	if len(req.Messages) == 0 {
		return nil, errNoMessages
	}
	if req.N < 0 {
		return nil, fmt.Errorf("model: request n must be >= 0, got %d", req.N)
	}
	n := max(req.N, 1)
	var keys []string
	if c.cache != nil {
		keys = CacheKeys(c.ref.Provider, c.ref.Model, req)
	}
	g := &gather{choices: make([]Choice, n), have: make([]bool, n)}
	g.resp.Model = c.ref.Model
	missing := make([]int, n)
	for i := range missing {
		missing[i] = i
	}
	fetched := false
	for {
		if useCache && c.cache != nil {
			if err := c.readCache(ctx, keys, missing, g); err != nil {
				return nil, err
			}
			missing = missing[:0]
			for i, ok := range g.have {
				if !ok {
					missing = append(missing, i)
				}
			}
		}
		if len(missing) == 0 {
			break
		}
		// Samples another call is already fetching are waited for, then read
		// from the cache: identical concurrent requests are paid once.
		mine, wait := c.claim(keys, missing, useCache)
		if len(mine) > 0 {
			fetched = true
			var err error
			if batch && keys != nil && c.batch != nil {
				err = c.batch.add(ctx, req, mine, keys)
			} else {
				err = c.fetchAll(ctx, req, mine, keys, maxRetries, g)
			}
			c.unclaim(keys, mine)
			if err != nil {
				return nil, err
			}
		}
		if len(wait) == 0 {
			break
		}
		for _, ch := range wait {
			select {
			case <-ch:
			case <-ctx.Done():
				return nil, fmt.Errorf("model: %s: %w", c.info.Name, ctx.Err())
			}
		}
		missing = missing[:0]
		for i, ok := range g.have {
			if !ok {
				missing = append(missing, i)
			}
		}
	}
	g.resp.Choices, g.resp.Cached, g.resp.CacheKeys = g.choices, !fetched && !g.paid, keys
	return &g.resp, nil
}

// claim marks the samples idx as being fetched by this call and returns them,
// with the channels of those another call is fetching already. Without a
// cache there is nothing to share, so everything is this call's.
func (c *Client) claim(keys []string, idx []int, useCache bool) (mine []int, wait []chan struct{}) {
	if keys == nil || !useCache {
		return idx, nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.inflight == nil {
		c.inflight = map[string]chan struct{}{}
	}
	for _, i := range idx {
		if ch, ok := c.inflight[keys[i]]; ok {
			wait = append(wait, ch)
			continue
		}
		c.inflight[keys[i]] = make(chan struct{})
		mine = append(mine, i)
	}
	return mine, wait
}

func (c *Client) unclaim(keys []string, idx []int) {
	if keys == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range idx {
		if ch, ok := c.inflight[keys[i]]; ok {
			close(ch)
			delete(c.inflight, keys[i])
		}
	}
}

// fetchAll fetches the samples idx: in one call (more if the server answers
// short), or, for providers without n, one call per sample in parallel.
func (c *Client) fetchAll(ctx context.Context, req Request, idx []int, keys []string, maxRetries int, g *gather) error {
	if c.maxN != 1 || len(idx) == 1 {
		return c.fetch(ctx, req, idx, keys, maxRetries, g)
	}
	// Siblings are not cancelled when one fails: whatever they get is paid
	// for and goes to the cache.
	var eg errgroup.Group
	for _, i := range idx {
		eg.Go(func() error { return c.fetch(ctx, req, []int{i}, keys, maxRetries, g) })
	}
	return eg.Wait()
}

// gather collects the samples of one Generate call from cache and calls.
type gather struct {
	mu      sync.Mutex
	choices []Choice
	have    []bool
	resp    Response
	paid    bool // a batch answer came from the cache: it was paid for this request
}

func (c *Client) readCache(ctx context.Context, keys []string, idx []int, g *gather) error {
	hits := 0
	for _, i := range idx {
		val, ok, err := c.cache.Get(ctx, keys[i])
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			// A broken cache costs money, not correctness: ask the server.
			c.log.Warn("model: cache read failed; asking the server", "model", c.info.Name, "err", err)
			continue
		}
		if !ok {
			continue
		}
		var e cacheEntry
		if json.Unmarshal(val, &e) != nil || e.V != cacheKeyVersion {
			continue
		}
		g.choices[i] = Choice{
			Text: e.Text, FinishReason: e.FinishReason, Reasoning: e.Reasoning,
			ReasoningSignature: e.ReasoningSignature, ToolCalls: e.ToolCalls,
		}
		if c.thinkTags {
			// Entries written before the split existed hold the tags still.
			splitChoice(&g.choices[i])
		}
		g.have[i] = true
		g.resp.Usage.PromptTokens += e.PromptTokens
		g.resp.Usage.CompletionTokens += e.CompletionTokens
		g.resp.Usage.ReasoningTokens += e.ReasoningTokens
		g.resp.Usage.CachedPromptTokens += e.CachedPromptTokens
		g.resp.Usage.CacheWriteTokens += e.CacheWriteTokens
		if e.Model != "" {
			g.resp.Model = e.Model
		}
		if e.Batch {
			// A batch's answers reach their callers through the cache:
			// they are what this request paid, not a free repeat.
			g.resp.CostUSD += e.CostUSD
			g.paid = true
		}
		hits++
	}
	c.count(func(s *Stats) { s.CacheHits += int64(hits) })
	return nil
}

// fetch obtains the samples idx, in as many calls as the server needs (some
// ignore n and answer with fewer choices than asked).
func (c *Client) fetch(ctx context.Context, req Request, idx []int, keys []string, maxRetries int, g *gather) error {
	for len(idx) > 0 {
		batch := idx
		if c.maxN > 0 && len(batch) > c.maxN {
			batch = batch[:c.maxN]
		}
		sub := req
		sub.N = len(batch)
		if req.Seed != nil && batch[0] > 0 {
			// Shift the seed by the first sample index, or a seeded server
			// would repeat samples 0..k-1 when asked for samples k.. later.
			s := *req.Seed + int64(batch[0])
			sub.Seed = &s
		}
		r, cost, err := c.call(ctx, sub, maxRetries)
		if err != nil {
			return err
		}
		got := min(len(r.Choices), len(batch))
		for j := range got {
			i := batch[j]
			ch := r.Choices[j]
			if c.thinkTags {
				// Here, not in each provider, so that every provider and
				// the cache see answers split alike.
				splitChoice(&ch)
			}
			e := cacheEntry{
				V: cacheKeyVersion, Text: ch.Text, FinishReason: ch.FinishReason, Model: r.Model,
				PromptTokens:     share(r.Usage.PromptTokens, j, got),
				CompletionTokens: share(r.Usage.CompletionTokens, j, got),
				CostUSD:          cost / float64(got),
				Reasoning:        ch.Reasoning, ReasoningSignature: ch.ReasoningSignature, ToolCalls: ch.ToolCalls,
				ReasoningTokens:    share(r.Usage.ReasoningTokens, j, got),
				CachedPromptTokens: share(r.Usage.CachedPromptTokens, j, got),
				CacheWriteTokens:   share(r.Usage.CacheWriteTokens, j, got),
			}
			if keys != nil {
				c.writeCache(ctx, keys[i], e)
			}
			g.mu.Lock()
			g.choices[i] = ch
			g.have[i] = true
			g.mu.Unlock()
		}
		g.mu.Lock()
		g.resp.Usage.PromptTokens += r.Usage.PromptTokens
		g.resp.Usage.CompletionTokens += r.Usage.CompletionTokens
		g.resp.Usage.ReasoningTokens += r.Usage.ReasoningTokens
		g.resp.Usage.CachedPromptTokens += r.Usage.CachedPromptTokens
		g.resp.Usage.CacheWriteTokens += r.Usage.CacheWriteTokens
		g.resp.CostUSD += cost
		if r.Model != "" {
			g.resp.Model = r.Model
		}
		g.mu.Unlock()
		idx = idx[got:]
	}
	return nil
}

func (c *Client) writeCache(ctx context.Context, key string, e cacheEntry) {
	val, _ := json.Marshal(e)
	// The answer is paid for: store it even if the caller is being cancelled
	// (Ctrl-C) right now, so the resume gets it free.
	if err := c.cache.Put(context.WithoutCancel(ctx), key, val); err != nil {
		// The answer is still returned (it is paid for); a rerun will pay again.
		c.log.Warn("model: cache write failed; a rerun will ask for this sample again", "model", c.info.Name, "err", err)
	}
}

// call sends one request (sub.N samples) with retries, and accounts for it.
func (c *Client) call(ctx context.Context, sub Request, maxRetries int) (*Response, float64, error) {
	if e := c.down(); e != nil {
		return nil, 0, e
	}
	promptEst := estimateTokens(sub.Messages)
	complEst := c.estimateCompletion(sub.MaxTokens) * max(sub.N, 1)
	tokEst := promptEst + complEst
	costEst := c.info.Price.Cost(Usage{PromptTokens: promptEst, CompletionTokens: complEst})
	if err := c.budget.reserve(ctx, costEst); err != nil {
		return nil, 0, err
	}
	settled := false
	defer func() {
		if !settled {
			c.budget.settle(costEst, 0) // failed calls are not billed
		}
	}()

	var last *endpoint // a retry goes elsewhere when it can
	for attempt := 1; ; attempt++ {
		tpmTaken, err := c.waitRate(ctx, tokEst)
		if err != nil {
			return nil, 0, err
		}
		l, err := c.pool.acquire(ctx, last)
		if err != nil {
			return nil, 0, err
		}
		last = l.ep
		c.count(func(s *Stats) { s.Requests++ })
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		start := c.now()
		r, err := l.ep.raw.Generate(actx, sub)
		l.latency = c.now().Sub(start)
		timedOut := actx.Err() == context.DeadlineExceeded
		cancel()
		if err == nil && (r == nil || len(r.Choices) == 0) {
			err = ErrEmptyResponse
		}
		if err == nil {
			settled = true
			return r, c.succeeded(l, tpmTaken, costEst, r), nil
		}
		if ctx.Err() != nil {
			c.pool.release(l, outcomeNeutral, &failure{})
			return nil, 0, fmt.Errorf("model: %s: %w", c.info.Name, ctx.Err())
		}
		if timedOut {
			err = fmt.Errorf("no response within %s (timeout): %w", c.timeout, context.DeadlineExceeded)
		}
		f := classify(err, c.now(), c.keyEnv)
		o := outcomeNeutral
		if f.overload {
			o = outcomeOverload
		}
		c.pool.release(l, o, &f)
		c.count(func(s *Stats) {
			if f.status == 429 {
				s.RateLimited++
			}
			if f.overload {
				s.Overloaded++
			}
		})
		if !f.retry || attempt > maxRetries {
			e := &Error{
				Name: c.info.Name, Ref: c.ref.String(), BaseURL: l.ep.url, Attempts: attempt,
				Retryable: f.retry, Transient: f.transient, Status: f.status, Hint: f.hint, Err: err, redact: c.redact,
			}
			if f.retry && f.unreachable && maxRetries > 0 {
				c.downErr.Store(e)
				c.downUntil.Store(c.now().Add(downCooldown).UnixNano())
			}
			return nil, 0, e
		}
		d := c.backoff(attempt, f.wait)
		switch {
		case len(c.pool.eps) > 1 && (f.wait > 0 || f.unreachable):
			// Only this endpoint asked to wait or cannot be reached: the
			// retry goes to another one at once.
			if f.wait > 0 {
				c.pool.pause(l.ep, f.wait)
			}
			d = 0
		case f.wait > 0:
			// The server asked everyone to wait, not just this request.
			c.pauseAll(f.wait)
		}
		c.count(func(s *Stats) { s.Retries++ })
		c.log.Debug("model: retrying", "model", c.info.Name, "endpoint", l.ep.url, "attempt", attempt, "wait", d,
			"cause", c.redact(errText(err)))
		if err := c.sleep(ctx, d); err != nil {
			return nil, 0, fmt.Errorf("model: %s: %w", c.info.Name, err)
		}
	}
}

// down returns, while calls fail fast after one ran out of retries on an
// unreachable server, a copy of that call's error with no attempts of its own.
func (c *Client) down() *Error {
	if until := c.downUntil.Load(); until != 0 && c.now().UnixNano() < until {
		if e := c.downErr.Load(); e != nil {
			fast := *e
			fast.Attempts = 0
			return &fast
		}
	}
	return nil
}

// succeeded accounts for a call that returned r on lease l: the server is
// up, the rate and budget reservations are settled at what r really used,
// and the stats count it. It returns r's cost.
func (c *Client) succeeded(l lease, tpmTaken int, costEst float64, r *Response) float64 {
	c.downUntil.Store(0)
	l.tokens = r.Usage.CompletionTokens
	c.pool.release(l, outcomeSuccess, nil)
	c.correctTPM(tpmTaken, r.Usage)
	c.learn(r)
	cost := c.info.Price.Cost(r.Usage)
	c.budget.settle(costEst, cost)
	c.count(func(s *Stats) {
		s.PromptTokens += int64(r.Usage.PromptTokens)
		s.CompletionTokens += int64(r.Usage.CompletionTokens)
		s.ReasoningTokens += int64(r.Usage.ReasoningTokens)
		s.CachedPromptTokens += int64(r.Usage.CachedPromptTokens)
		s.CostUSD += cost
	})
	return cost
}

// pauseAll holds every call of the client for d from now, unless a longer
// pause is already set.
func (c *Client) pauseAll(d time.Duration) {
	until := c.now().Add(d).UnixNano()
	for {
		cur := c.pauseUntil.Load()
		if cur >= until || c.pauseUntil.CompareAndSwap(cur, until) {
			return
		}
	}
}

// downCooldown is how long calls fail fast after one ran out of retries
// without an answer from the server (refused, reset, timed out).
const downCooldown = 30 * time.Second

// Backoff shape: 0.5s, 1s, 2s, ... capped at 30s, with "equal jitter" (half
// fixed, half random) so that many callers failing together spread out.
const (
	backoffBase = 500 * time.Millisecond
	backoffMax  = 30 * time.Second
)

func (c *Client) backoff(attempt int, serverWait time.Duration) time.Duration {
	if serverWait > 0 {
		// Honour Retry-After exactly, plus up to 10% (at most 1s) of spread.
		return serverWait + time.Duration(c.rand()*float64(min(serverWait/10, time.Second)))
	}
	d := backoffMax
	if attempt < 20 {
		d = min(backoffBase<<(attempt-1), backoffMax)
	}
	return d/2 + time.Duration(c.rand()*float64(d/2))
}

// waitRate waits out a server-requested pause and the RPM and TPM limiters.
// It returns how many tokens it took from the TPM limiter.
func (c *Client) waitRate(ctx context.Context, tokens int) (int, error) {
	if until := c.pauseUntil.Load(); until != 0 {
		if d := time.Duration(until - c.now().UnixNano()); d > 0 {
			if err := c.sleep(ctx, d); err != nil {
				return 0, fmt.Errorf("model: %s: %w", c.info.Name, err)
			}
		}
	}
	taken := 0
	for _, l := range []struct {
		lim *rate.Limiter
		n   int
	}{{c.rpm, 1}, {c.tpm, tokens}} {
		if l.lim == nil {
			continue
		}
		n := min(l.n, l.lim.Burst()) // a request larger than the burst waits for a full burst
		now := c.now()
		r := l.lim.ReserveN(now, n)
		if d := r.DelayFrom(now); d > 0 {
			if err := c.sleep(ctx, d); err != nil {
				r.CancelAt(c.now())
				return 0, fmt.Errorf("model: %s: %w", c.info.Name, err)
			}
		}
		if l.lim == c.tpm {
			taken = n
		}
	}
	return taken, nil
}

// correctTPM replaces the token estimate taken from the TPM limiter by the
// actual usage: more usage is taken as debt that later callers wait for, less
// is handed back (a negative reservation adds tokens to x/time/rate's bucket).
func (c *Client) correctTPM(taken int, u Usage) {
	actual := u.PromptTokens + u.CompletionTokens
	if c.tpm == nil || actual == 0 {
		return
	}
	diff := actual - taken
	if diff > 0 {
		diff = min(diff, c.tpm.Burst())
	}
	if diff != 0 {
		c.tpm.ReserveN(c.now(), diff)
	}
}

// learn keeps a running mean of completion tokens per sample.
func (c *Client) learn(r *Response) {
	if r.Usage.CompletionTokens <= 0 || len(r.Choices) == 0 {
		return
	}
	per := float64(r.Usage.CompletionTokens) / float64(len(r.Choices))
	c.mu.Lock()
	c.complCount++
	w := 1 / float64(min(c.complCount, 50)) // exact mean for the first 50, then exponential
	c.complAvg += w * (per - c.complAvg)
	c.mu.Unlock()
}

// defaultCompletionEstimate stands in for max_tokens when a request leaves it
// unset and nothing has been learned yet.
const defaultCompletionEstimate = 512

// estimateCompletion guesses completion tokens per sample before a call: the
// learned mean with headroom once there are enough samples, never more than
// max_tokens.
func (c *Client) estimateCompletion(maxTokens int) int {
	c.mu.Lock()
	avg, cnt := c.complAvg, c.complCount
	c.mu.Unlock()
	est := maxTokens
	if est <= 0 {
		est = defaultCompletionEstimate
	}
	if cnt >= 8 {
		est = min(est, int(math.Ceil(avg*1.5))+1)
	}
	return est
}

// estimateTokens guesses prompt tokens: EstimateTokens of each message's
// content and 4 per message.
func estimateTokens(msgs []Message) int {
	n := 0
	for _, m := range msgs {
		n += 4 + EstimateTokens(m.Content)
	}
	return n
}

// EstimateTokens guesses the tokens of s where no tokenizer is at hand:
// about 4 ASCII bytes per token and one token per other character (CJK
// text is close to that); 0 only for "".
func EstimateTokens(s string) int {
	ascii, other := 0, 0
	for i := 0; i < len(s); {
		if s[i] < utf8.RuneSelf {
			ascii++
			i++
			continue
		}
		_, w := utf8.DecodeRuneInString(s[i:])
		other++
		i += w
	}
	return (ascii+3)/4 + other
}
