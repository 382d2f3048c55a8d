package model

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// pool spreads one model's requests over its endpoints (servers that serve
// the same model: vLLM replicas, several `synthloop serve`). Each endpoint
// has its own raw backend, its own adaptive concurrency window and its own
// health. A request goes to the eligible endpoint with the fewest requests
// outstanding per unit of weight, so a slow endpoint, which holds its
// requests longer, is given fewer; a failing one is ejected for a backoff,
// then readmitted by its first successful request (the probe).
//
// A model with one endpoint is a pool of one: nothing is ever ejected, and
// the client behaves as it did before pools existed. Safe for concurrent use.
type pool struct {
	eps []*endpoint
	now func() time.Time
	// saturation is Config.SaturationLatency: 0 leaves latency out of
	// the concurrency window.
	saturation float64

	mu      sync.Mutex
	next    int           // where the next tie-break starts, so ties rotate
	changed chan struct{} // closed and replaced when a slot may have opened
	waiting int           // acquire calls waiting on changed: without any, it is left alone
}

// endpoint is one server of a pool. Fields below mu are guarded by the
// pool's mutex.
type endpoint struct {
	url    string
	raw    Backend
	weight float64
	aimd   *aimd

	fails        int       // transient failures in a row
	ejections    int       // ejections in a row: the backoff's exponent
	ejectedUntil time.Time // zero when admitted
	probing      bool      // ejection over: the next request is the probe
	probeOut     bool      // the probe is in flight
	pauseUntil   time.Time // a Retry-After from this endpoint
	requests     int64
	failures     int64
	lat          latency
}

// latency follows an endpoint's latency per output token: a fast moving
// average against the minimum of the last two windows of samples, which
// is what the server does when it is not queueing.
type latency struct {
	n             int
	avg           float64
	winMin, prior float64 // minimum of this window and of the last
	win           int
	hold          int // samples to ignore after a shrink, while the queue drains
}

// latencyWindow is how many samples the minimum is kept over.
const latencyWindow = 200

// observe adds a sample and reports whether the endpoint looks saturated.
func (l *latency) observe(perToken, factor float64) bool {
	l.n++
	if l.avg == 0 {
		l.avg = perToken
	} else {
		l.avg += 0.2 * (perToken - l.avg)
	}
	if l.winMin == 0 || perToken < l.winMin {
		l.winMin = perToken
	}
	if l.win++; l.win >= latencyWindow {
		l.prior, l.winMin, l.win = l.winMin, 0, 0
	}
	base := l.winMin
	if l.prior > 0 && (base == 0 || l.prior < base) {
		base = l.prior
	}
	if l.hold > 0 {
		l.hold--
		return false
	}
	return factor > 0 && l.n >= 16 && base > 0 && l.avg > factor*base
}

// saturationFactor is the model's saturation_latency, defaulted.
func saturationFactor(cfg Config, spec ProviderSpec) float64 {
	switch {
	case cfg.SaturationLatency != nil:
		return *cfg.SaturationLatency
	case spec.Free && spec.DefaultBaseURL != "":
		// A local HTTP server; not the in-process engine, whose batching
		// makes latency per token rise with load by design.
		return 3
	}
	return 0
}

// latencyFixed stands for the fixed part of a request's latency, in output
// tokens, so that short replies do not look fast per token.
const latencyFixed = 16

// Ejection: an endpoint is taken out of rotation after ejectAfter transient
// failures in a row (at once when it cannot be reached), for ejectBase,
// doubling with each ejection in a row up to ejectMax.
var (
	ejectBase = time.Second
	ejectMax  = 30 * time.Second
)

const ejectAfter = 3

func newPool(eps []*endpoint, now func() time.Time) *pool {
	return &pool{eps: eps, now: now, changed: make(chan struct{})}
}

// lease is an endpoint slot held by one attempt.
type lease struct {
	ep      *endpoint
	s       slot
	probe   bool
	latency time.Duration // of the attempt, set by the caller before release
	tokens  int           // output tokens of a successful attempt
}

// acquire waits for a slot on the best endpoint, preferring any endpoint
// other than avoid (the one the previous attempt failed on). Ejected and
// paused endpoints are skipped while another endpoint is admitted; when
// every endpoint is ejected, requests go to them anyway (each failure is
// then an attempt of its own request, retried and finally reported, as with
// a single server), so ejection steers traffic and never strands it.
func (p *pool) acquire(ctx context.Context, avoid *endpoint) (lease, error) {
	for {
		p.mu.Lock()
		now := p.now()
		l, ok, wake := p.pick(now, avoid)
		ch := p.changed
		if !ok {
			p.waiting++
		}
		p.mu.Unlock()
		if ok {
			return l, nil
		}
		var timer *time.Timer
		var tc <-chan time.Time
		if !wake.IsZero() {
			timer = time.NewTimer(max(wake.Sub(now), time.Millisecond))
			tc = timer.C
		}
		select {
		case <-ch:
		case <-tc:
		case <-ctx.Done():
		}
		if timer != nil {
			timer.Stop()
		}
		p.mu.Lock()
		p.waiting--
		p.mu.Unlock()
		if ctx.Err() != nil {
			return lease{}, ctx.Err()
		}
	}
}

// pick chooses an endpoint under p.mu. When none has a free slot it returns
// the earliest time a pause or ejection ends (zero if none), to wait for.
func (p *pool) pick(now time.Time, avoid *endpoint) (l lease, ok bool, wake time.Time) {
	admitted := false
	for _, e := range p.eps {
		if e.admitted(now) {
			admitted = true
		}
	}
	var best *endpoint
	var bestLoad float64
	bestAvoided := true
	n := len(p.eps)
	for k := range n {
		e := p.eps[(p.next+k)%n]
		if e.pauseUntil.After(now) {
			wake = earliest(wake, e.pauseUntil)
			continue
		}
		if len(p.eps) > 1 && admitted && !e.admitted(now) {
			if e.ejectedUntil.After(now) {
				wake = earliest(wake, e.ejectedUntil)
			}
			continue
		}
		limit, inflight := e.aimd.snapshot()
		if inflight >= limit {
			continue
		}
		load := float64(inflight+1) / e.weight
		if e.probing && len(p.eps) > 1 && admitted {
			load = 0 // its probe goes first, so that it is readmitted soon
		}
		avoided := e == avoid && n > 1
		// An endpoint other than avoid wins over avoid whatever its load.
		if best == nil || (bestAvoided && !avoided) || (avoided == bestAvoided && load < bestLoad) {
			best, bestLoad, bestAvoided = e, load, avoided
		}
	}
	if best == nil {
		return lease{}, false, wake
	}
	s, _ := best.aimd.tryAcquire()
	p.next = (p.next + 1) % n
	l = lease{ep: best, s: s}
	if best.probing && !best.ejectedUntil.After(now) && len(p.eps) > 1 {
		best.probeOut = true
		l.probe = true
	}
	best.requests++
	return l, true, wake
}

// admitted reports whether e takes ordinary traffic: not ejected, or its
// ejection is over and its probe is not yet out.
func (e *endpoint) admitted(now time.Time) bool {
	if e.ejectedUntil.After(now) {
		return false
	}
	return !e.probing || !e.probeOut
}

func earliest(a, b time.Time) time.Time {
	if a.IsZero() || b.Before(a) {
		return b
	}
	return a
}

// release returns l's slot with the attempt's outcome and updates the
// endpoint's health: a success readmits it, a transient failure counts
// towards ejection (an unreachable endpoint is ejected at once), and a
// failure of the request itself says nothing about the endpoint.
func (p *pool) release(l lease, o outcome, f *failure) {
	p.mu.Lock()
	e := l.ep
	if f == nil && l.latency > 0 && p.saturation > 0 {
		perToken := float64(l.latency) / float64(l.tokens+latencyFixed)
		if e.lat.observe(perToken, p.saturation) {
			o = outcomeSlow
			limit, _ := e.aimd.snapshot()
			e.lat.hold = limit // one window of samples
		}
	}
	e.aimd.release(l.s, o)
	if l.probe {
		e.probeOut = false
	}
	switch {
	case f == nil:
		e.fails, e.ejections, e.probing = 0, 0, false
		e.ejectedUntil = time.Time{}
	case f.transient && !f.overload && len(p.eps) > 1:
		e.failures++
		e.fails++
		if f.unreachable || e.fails >= ejectAfter || l.probe {
			d := ejectMax
			if e.ejections < 16 {
				d = min(ejectBase<<e.ejections, ejectMax)
			}
			e.ejections++
			e.fails = 0
			e.ejectedUntil = p.now().Add(d)
			e.probing = true
		}
	case f.transient:
		e.failures++
	}
	if p.waiting > 0 {
		close(p.changed)
		p.changed = make(chan struct{})
	}
	p.mu.Unlock()
}

// pause holds e back for d (a Retry-After it sent), unless a longer pause is set.
func (p *pool) pause(e *endpoint, d time.Duration) {
	p.mu.Lock()
	if until := p.now().Add(d); until.After(e.pauseUntil) {
		e.pauseUntil = until
	}
	p.mu.Unlock()
}

// EndpointStats are one endpoint's counters, for the run summary.
type EndpointStats struct {
	BaseURL     string
	Requests    int64 // attempts sent to it
	Failures    int64 // attempts that failed for a transient cause
	InFlight    int
	Concurrency int  // its adaptive window now
	Ejected     bool // out of rotation now, waiting for its probe
}

func (p *pool) stats() (out []EndpointStats, limit, inflight, ceiling int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	for _, e := range p.eps {
		l, in := e.aimd.snapshot()
		limit += l
		inflight += in
		ceiling += e.aimd.max
		out = append(out, EndpointStats{
			BaseURL: e.url, Requests: e.requests, Failures: e.failures, InFlight: in, Concurrency: l,
			Ejected: e.ejectedUntil.After(now) || (e.probing && len(p.eps) > 1),
		})
	}
	return out, limit, inflight, ceiling
}

// EndpointCheck is the health check of one endpoint of a model.
type EndpointCheck struct {
	BaseURL string
	CheckResult
}

// CheckEndpoints sends Check's tiny request to every endpoint of b, one
// after another, bypassing routing, retries and the cache, so that
// `synthloop models` finds a dead replica the pool would hide. It returns
// nil for a backend that is not a *Client with several endpoints.
func CheckEndpoints(ctx context.Context, b Backend) []EndpointCheck {
	c, ok := b.(*Client)
	if !ok || len(c.pool.eps) < 2 {
		return nil
	}
	req := Request{Messages: []Message{{Role: "user", Content: "Reply with the single word: ok"}}, MaxTokens: 16}
	var out []EndpointCheck
	for _, e := range c.pool.eps {
		actx, cancel := context.WithTimeout(ctx, c.timeout)
		start := c.now()
		resp, err := e.raw.Generate(actx, req)
		cancel()
		res := EndpointCheck{BaseURL: e.url, CheckResult: CheckResult{Latency: c.now().Sub(start)}}
		switch {
		case err != nil:
			res.Err = fmt.Errorf("model: %s at %s: %s", c.info.Name, e.url, c.redact(errText(err)))
		case resp == nil || len(resp.Choices) == 0:
			res.Err = fmt.Errorf("model: %s at %s: %w", c.info.Name, e.url, ErrEmptyResponse)
		default:
			res.Model, res.Reply = resp.Model, resp.Choices[0].Text
		}
		out = append(out, res)
	}
	return out
}
