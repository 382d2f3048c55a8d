package model

import (
	"container/heap"
	"testing"
	"time"
)

// TestAIMDProbes walks the window through an overload, the regain below
// it, failed probes spaced ever further apart, and a probe that holds.
func TestAIMDProbes(t *testing.T) {
	a := newAIMD(16, 64)
	a.slow = false
	one := func(o outcome) {
		t.Helper()
		s, ok := a.tryAcquire()
		if !ok {
			t.Fatal("window full")
		}
		a.release(s, o)
	}
	limit := func() int { l, _ := a.snapshot(); return l }
	one(outcomeOverload)
	if limit() != 8 || a.ceil != 16 {
		t.Fatalf("after an overload at 16: limit %d ceil %d, want 8 and 16", limit(), a.ceil)
	}
	// Regain: one per success up to ceil-1, then no further at once.
	for range 7 {
		one(outcomeSuccess)
	}
	if limit() != 15 {
		t.Fatalf("after 7 successes of the regain: limit %d, want 15", limit())
	}
	for k := range 4 {
		// The probe to 16 needs 2^k windows of 15 successes.
		for range 15<<k - 1 {
			one(outcomeSuccess)
		}
		if limit() != 15 {
			t.Fatalf("probe %d came early: limit %d", k, limit())
		}
		one(outcomeSuccess)
		if limit() != 16 {
			t.Fatalf("probe %d did not come after %d windows: limit %d", k, 1<<k, limit())
		}
		// It fails: back to 15, not halved.
		one(outcomeOverload)
		if limit() != 15 || a.probes != k+1 {
			t.Fatalf("failed probe %d: limit %d probes %d", k, limit(), a.probes)
		}
	}
	// A probe that holds for its window forgets the ceiling.
	for range 15 << 4 {
		one(outcomeSuccess)
	}
	for range 16 {
		one(outcomeSuccess)
	}
	if limit() != 17 || a.ceil != 0 || a.probes != 0 {
		t.Fatalf("after a probe that held: limit %d ceil %d probes %d, want 17, 0, 0", limit(), a.ceil, a.probes)
	}
	// An overload below the ceiling (the server has less room) halves.
	a.ceil = 40
	one(outcomeOverload)
	if limit() != 8 || a.ceil != 17 {
		t.Fatalf("overload below the ceiling: limit %d ceil %d, want 8 and 17", limit(), a.ceil)
	}
}

// TestAIMDAtCapacity runs the window against a simulated server that
// serves capacity requests at a time for latency each and answers 429 at
// once to any request beyond them, on a virtual clock: the throughput
// must be at least 95% of capacity/latency, with 429s under 1% of the
// requests. Deterministic: nothing real sleeps.
func TestAIMDAtCapacity(t *testing.T) {
	for _, tt := range []struct {
		capacity, ceiling int
		latency           time.Duration
	}{
		{8, 64, 50 * time.Millisecond},
		{32, 256, 20 * time.Millisecond},
		{100, 256, 200 * time.Millisecond},
	} {
		const requests = 50_000
		a := newAIMD(min(tt.ceiling, 8), tt.ceiling)
		done, refused, took := simulateCapacity(a, tt.capacity, tt.latency, requests)
		ideal := float64(tt.capacity) / tt.latency.Seconds()
		got := float64(done) / took.Seconds()
		t.Logf("capacity %d, latency %v: %.0f requests/s = %.1f%% of %.0f; %d 429s (%.2f%%); window %d",
			tt.capacity, tt.latency, got, 100*got/ideal, ideal, refused, 100*float64(refused)/requests, a.limit)
		if got < 0.95*ideal {
			t.Errorf("capacity %d: %.0f requests/s, want >= 95%% of %.0f", tt.capacity, got, ideal)
		}
		if refused > requests/100 {
			t.Errorf("capacity %d: %d 429s for %d requests", tt.capacity, refused, requests)
		}
	}
}

// simulateCapacity sends n requests through a, as many at a time as it
// allows, to a server of the given capacity and latency, on a virtual
// clock. A refused request waits retryWait and goes again. It returns the
// requests served, the 429s, and the virtual time taken.
func simulateCapacity(a *aimd, capacity int, latency time.Duration, n int) (done, refused int, took time.Duration) {
	const retryWait = 500 * time.Millisecond // the layer's first backoff, about
	var now time.Duration
	ready := n // requests waiting for a slot
	serving := 0
	var ev events
	for done < n {
		for ready > 0 {
			s, ok := a.tryAcquire()
			if !ok {
				break
			}
			ready--
			if serving >= capacity {
				refused++
				a.release(s, outcomeOverload)
				heap.Push(&ev, event{at: now + retryWait, retry: true})
				continue
			}
			serving++
			heap.Push(&ev, event{at: now + latency, s: s})
		}
		e := heap.Pop(&ev).(event)
		now = e.at
		if e.retry {
			ready++
			continue
		}
		serving--
		done++
		a.release(e.s, outcomeSuccess)
	}
	return done, refused, now
}

// event is an answer arriving (or a refused request's retry) at a virtual time.
type event struct {
	at    time.Duration
	s     slot
	retry bool
}

type events []event

func (e events) Len() int           { return len(e) }
func (e events) Less(i, j int) bool { return e[i].at < e[j].at }
func (e events) Swap(i, j int)      { e[i], e[j] = e[j], e[i] }
func (e *events) Push(x any)        { *e = append(*e, x.(event)) }
func (e *events) Pop() any {
	old := *e
	x := old[len(old)-1]
	*e = old[:len(old)-1]
	return x
}
