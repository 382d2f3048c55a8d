package model

import (
	"context"
	"fmt"
	"sync"
)

// Budget is a spending cap shared by every backend of a run; a nil *Budget
// is unlimited. Before a call the
// layer reserves the call's estimated cost; after it, the actual cost replaces
// the estimate. A call whose estimate does not fit waits while other calls are
// in flight (their actual cost is usually lower) and is refused with
// ErrBudgetExceeded once everything is settled, so the cap is overshot by at
// most one call's cost beyond its estimate. Safe for concurrent use.
type Budget struct {
	max float64

	mu       sync.Mutex
	spent    float64
	reserved float64
	inflight int
	changed  chan struct{} // closed and replaced whenever spent or reserved drops
}

// NewBudget caps spending at maxUSD (> 0).
func NewBudget(maxUSD float64) *Budget {
	return &Budget{max: maxUSD, changed: make(chan struct{})}
}

// Max returns the cap in USD (0 for a nil, unlimited Budget).
func (b *Budget) Max() float64 {
	if b == nil {
		return 0
	}
	return b.max
}

// Spent returns the USD spent so far.
func (b *Budget) Spent() float64 {
	if b == nil {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent
}

// Exceeded reports whether the whole budget is spent.
func (b *Budget) Exceeded() bool {
	if b == nil {
		return false
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.spent >= b.max
}

// reserve blocks until est fits next to what is spent and reserved, or fails
// with ErrBudgetExceeded when the budget is spent. A nil Budget is unlimited.
func (b *Budget) reserve(ctx context.Context, est float64) error {
	if b == nil {
		return nil
	}
	for {
		b.mu.Lock()
		if b.spent >= b.max {
			spent := b.spent
			b.mu.Unlock()
			return fmt.Errorf("%w: spent $%.4f of $%.4f", ErrBudgetExceeded, spent, b.max)
		}
		// With nothing in flight the call goes even if its estimate does not
		// fit: estimates are pessimistic, and refusing would stop the run while
		// money is left.
		if b.inflight == 0 || b.spent+b.reserved+est <= b.max {
			b.reserved += est
			b.inflight++
			b.mu.Unlock()
			return nil
		}
		ch := b.changed
		b.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// settle replaces a reservation of est by the actual cost.
func (b *Budget) settle(est, actual float64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.reserved -= est
	if b.reserved < 1e-12 {
		b.reserved = 0
	}
	b.inflight--
	b.spent += actual
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}

// Charge adds cost spent outside the layer (e.g. a batch API job).
func (b *Budget) Charge(usd float64) {
	if b == nil {
		return
	}
	b.mu.Lock()
	b.spent += usd
	close(b.changed)
	b.changed = make(chan struct{})
	b.mu.Unlock()
}
