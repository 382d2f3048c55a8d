package model

import (
	"context"
	"sync"
)

// aimd is a semaphore whose size adapts like TCP congestion control: it starts
// small, doubles each window of successes until the first overload (slow
// start), then grows by one per window of successes and halves on overload
// (a 429, 503, 529 or a timeout). Only requests sent after the last decrease
// can cause the next one, so a burst of 429s from one window halves it once.
type aimd struct {
	mu       sync.Mutex
	limit    int
	max      int
	inflight int
	streak   int  // successes since the last change of limit
	slow     bool // still in slow start
	gen      uint64
	changed  chan struct{} // closed and replaced when a slot may have opened
	waiting  int           // acquire calls waiting on changed: without any, it is left alone
}

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
	outcomeOverload                // shrink
)

func (a *aimd) release(s slot, o outcome) {
	a.mu.Lock()
	a.inflight--
	switch o {
	case outcomeSuccess:
		a.streak++
		if a.slow {
			if a.limit < a.max {
				a.limit++ // +1 per success doubles the window each round trip
			}
		} else if a.streak >= a.limit {
			a.streak = 0
			if a.limit < a.max {
				a.limit++
			}
		}
	case outcomeOverload:
		if s.gen == a.gen {
			a.limit = max(1, a.limit/2)
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
