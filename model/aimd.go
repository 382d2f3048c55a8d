package model

import (
	"context"
	"sync"
)

// aimd is a semaphore whose size adapts like TCP congestion control: it starts
// small, doubles each window of successes until the first overload (slow
// start), then grows by one per window of successes and halves on overload
// (a 429, 503, 529, a timeout, or latency rising, see pool). Only requests
// sent after the last decrease can cause the next one, so a burst of 429s
// from one window halves it once.
//
// It remembers the window that last overloaded (ceil). Below ceil-1 it
// grows back as in slow start, so a halving costs one round trip, not
// ceil/2 of them. Growing from ceil-1 to ceil is a probe of whether the
// server has more room now; a probe that overloads again puts the window
// back to ceil-1 without halving and doubles the number of windows before
// the next probe (up to 2^maxProbeShift), so a server that serves a fixed
// number of requests at a time is kept at that number with a 429 now and
// then, instead of a sawtooth between half of it and all of it (which
// averages three quarters of what the server can do). A probe that holds
// for a full window forgets ceil: the server has more room than before.
// Rising latency (outcomeSlow) halves the window and forgets ceil: it is
// seen a window late and says that the server queues, not where it began to.
type aimd struct {
	mu       sync.Mutex
	limit    int
	max      int
	inflight int
	streak   int  // successes since the last change of limit
	slow     bool // still in slow start
	ceil     int  // the window that last overloaded; 0 when none or forgotten
	probes   int  // probes at ceil that overloaded in a row
	gen      uint64
	changed  chan struct{} // closed and replaced when a slot may have opened
	waiting  int           // acquire calls waiting on changed: without any, it is left alone
}

// maxProbeShift caps the wait between probes at 2^maxProbeShift windows.
const maxProbeShift = 6

func newAIMD(initial, ceiling int) *aimd {
	initial = min(max(initial, 1), ceiling)
	return &aimd{limit: initial, max: ceiling, slow: true, changed: make(chan struct{})}
}

// slot is a held permit; gen is the window it was taken in.
type slot struct{ gen uint64 }

func (a *aimd) acquire(ctx context.Context) (slot, error) {
	for {
		a.mu.Lock()
		if a.inflight < a.limit {
			a.inflight++
			s := slot{gen: a.gen}
			a.mu.Unlock()
			return s, nil
		}
		ch := a.changed
		a.waiting++
		a.mu.Unlock()
		var err error
		select {
		case <-ch:
		case <-ctx.Done():
			err = ctx.Err()
		}
		a.mu.Lock()
		a.waiting--
		a.mu.Unlock()
		if err != nil {
			return slot{}, err
		}
	}
}

// tryAcquire takes a permit if one is free, without waiting.
func (a *aimd) tryAcquire() (slot, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.inflight >= a.limit {
		return slot{}, false
	}
	a.inflight++
	return slot{gen: a.gen}, true
}

type outcome int

const (
	outcomeNeutral  outcome = iota // a failure that says nothing about load
	outcomeSuccess                 // grow
	outcomeOverload                // shrink: the server refused at this window
	outcomeSlow                    // shrink: latency rose, somewhere at or below this window
)

func (a *aimd) release(s slot, o outcome) {
	a.mu.Lock()
	a.inflight--
	switch o {
	case outcomeSuccess:
		a.streak++
		switch {
		case a.limit >= a.max:
		case a.slow:
			a.limit++ // +1 per success doubles the window each round trip
		case a.ceil > 0 && a.limit < a.ceil-1:
			a.limit++ // regaining the window that served before the overload
			a.streak = 0
		default:
			need := a.limit
			if a.limit == a.ceil-1 {
				need <<= min(a.probes, maxProbeShift) // the next step is a probe
			}
			if a.streak >= need {
				a.streak = 0
				a.limit++
			}
		}
		if a.ceil > 0 && a.limit > a.ceil {
			a.ceil, a.probes = 0, 0
		}
	case outcomeSlow:
		// Rising latency is seen a window late and says only that the
		// server queues, not at which window it began to: nothing is
		// remembered to regrow to, the window halves as in plain AIMD.
		if s.gen == a.gen {
			a.ceil, a.probes = 0, 0
			a.limit = max(1, a.limit/2)
			a.gen++
			a.streak = 0
			a.slow = false
		}
	case outcomeOverload:
		if s.gen == a.gen {
			if a.ceil > 0 && a.limit == a.ceil {
				// A probe failed: the window below it is known to serve.
				a.limit = max(1, a.ceil-1)
				a.probes++
			} else {
				a.ceil, a.probes = a.limit, 0
				a.limit = max(1, a.limit/2)
			}
			a.gen++
			a.streak = 0
			a.slow = false
		}
	}
	if a.waiting > 0 {
		close(a.changed)
		a.changed = make(chan struct{})
	}
	a.mu.Unlock()
}

func (a *aimd) snapshot() (limit, inflight int) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.limit, a.inflight
}
