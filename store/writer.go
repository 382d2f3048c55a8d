package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// Group commit. SQLite takes one writer at a time, and most of a small
// commit's cost is the transaction itself (WAL frames for the table and index
// pages it touched), not its rows. So one goroutine owns the write
// connection, and when several writes are waiting it runs them in one
// transaction, each inside a savepoint so that one failing write is rolled
// back alone. Every caller still returns only after the transaction holding
// its write has committed, and every unit is still whole or absent after a
// crash: a transaction with several units is all-or-nothing too.

// maxBatch bounds how many writes share a transaction, so that one commit's
// latency stays bounded under heavy load.
const maxBatch = 64

type writeReq struct {
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

var errClosed = errors.New("store: closed")

func (s *Store) startWriter() {
	s.reqs = make(chan writeReq) // unbuffered: a waiting sender is a write ready to join the batch
	s.writerDone = make(chan struct{})
	go s.writeLoop()
}

// stopWriter lets the writes already handed over finish, then ends the loop.
func (s *Store) stopWriter() {
	if s.reqs == nil {
		return
	}
	s.mu.Lock()
	s.closed = true
	close(s.reqs)
	s.mu.Unlock()
	<-s.writerDone
}

// write runs fn in a write transaction and returns once it is committed or
// has failed. It ignores cancellation on purpose (see Commit); the context fn
// receives is never cancelled.
func (s *Store) write(fn func(ctx context.Context, tx *sql.Tx) error) error {
	req := writeReq{fn: fn, done: make(chan error, 1)}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return errClosed
	}
	s.reqs <- req
	s.mu.RUnlock()
	return <-req.done
}

func (s *Store) writeLoop() {
	defer close(s.writerDone)
	batch := make([]writeReq, 0, maxBatch)
	for req := range s.reqs {
		batch = append(batch[:0], req)
	drain:
		for len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		s.commitBatch(batch)
	}
}

func (s *Store) commitBatch(batch []writeReq) {
	s.txs.Add(1)
	s.writes.Add(int64(len(batch)))
	ctx := context.Background()
	errs := make([]error, len(batch))
	finish := func() {
		for i, req := range batch {
			req.done <- errs[i]
		}
	}
	fail := func(err error) {
		for i := range errs {
			if errs[i] == nil {
				errs[i] = err
			}
		}
		finish()
	}
	tx, err := s.w.BeginTx(ctx, nil)
	if err != nil {
		fail(err)
		return
	}
	if len(batch) == 1 {
		if errs[0] = batch[0].fn(ctx, tx); errs[0] != nil {
			tx.Rollback()
		} else if err := tx.Commit(); err != nil {
			errs[0] = err
		}
		finish()
		return
	}
	ok := 0
	for i, req := range batch {
		if _, err := tx.ExecContext(ctx, "SAVEPOINT w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("savepoint: %w", err))
			return
		}
		errs[i] = req.fn(ctx, tx)
		if errs[i] != nil {
			if _, err := tx.ExecContext(ctx, "ROLLBACK TO w"); err != nil {
				tx.Rollback()
				fail(fmt.Errorf("rollback to savepoint: %w", err))
				return
			}
		} else {
			ok++
		}
		if _, err := tx.ExecContext(ctx, "RELEASE w"); err != nil {
			tx.Rollback()
			fail(fmt.Errorf("release savepoint: %w", err))
			return
		}
	}
	if ok == 0 {
		tx.Rollback()
		finish()
		return
	}
	if err := tx.Commit(); err != nil {
		fail(err)
		return
	}
	finish()
}
