package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/synthloop/synthloop/model"
)

// ErrBackendDown reports a model that failed many requests in a row (after
// the model layer's own retries): the server is down, the key is wrong, or
// every request is refused. Going on would only record the same failure on
// every remaining record, so the run stops; finished work is kept.
var ErrBackendDown = errors.New("pipeline: model keeps failing")

// DefaultMaxConsecutiveFailures is how many requests in a row may fail
// before a model is declared down.
const DefaultMaxConsecutiveFailures = 10

// breaker wraps a backend and trips after limit consecutive failures; once
// tripped every call fails at once with ErrBackendDown.
type breaker struct {
	b     model.Backend
	name  string
	limit int

	mu      sync.Mutex
	fails   int
	lastErr error
	tripped bool
}

func (br *breaker) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	br.mu.Lock()
	if br.tripped {
		err := br.lastErr
		br.mu.Unlock()
		return nil, br.downErr(err)
	}
	br.mu.Unlock()
	resp, err := br.b.Generate(ctx, req)
	br.mu.Lock()
	defer br.mu.Unlock()
	switch {
	case err == nil:
		br.fails = 0
	case ctx.Err() != nil || errors.Is(err, model.ErrBudgetExceeded) || errors.Is(err, context.Canceled) || errors.Is(err, model.ErrDeferred):
		// not the backend's fault
	default:
		br.fails++
		br.lastErr = err
		if br.fails >= br.limit {
			br.tripped = true
			return nil, br.downErr(err)
		}
	}
	return resp, err
}

func (br *breaker) downErr(last error) error {
	return &downError{
		msg:       fmt.Sprintf("model %q failed %d requests in a row, each after its retries; last error: %v", br.name, br.fails, last),
		transient: model.IsTransient(last),
	}
}

// downError is a tripped breaker's error. It matches ErrBackendDown, and
// ErrTransient too when the failures were transient (an outage): then the
// records they hit were left undone, and a rerun once the model answers
// again does them.
type downError struct {
	msg       string
	transient bool
}

func (e *downError) Error() string { return ErrBackendDown.Error() + ": " + e.msg }

func (e *downError) Is(target error) bool {
	return target == ErrBackendDown || (e.transient && target == ErrTransient)
}
