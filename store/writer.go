package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime"
	"time"
)

// Group commit. SQLite takes one writer at a time, and most of a small
// commit's cost is the transaction itself (WAL frames for the table and index
// pages it touched), not its rows. So one goroutine owns the write
// connection, and when several writes are waiting it runs them in one
// transaction, each inside a savepoint so that one failing write is rolled
// back alone. Every caller still returns only after the transaction holding
// its write has committed (except Put, which cache.go explains), and every unit is still whole or absent after a
// crash: a transaction with several units is all-or-nothing too.

// maxBatch bounds how many writes share a transaction, so that one commit's
// latency stays bounded under heavy load.
const maxBatch = 64

type writeReq struct {
	fn   func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

var errClosed = errors.New("store: closed")

// WriteCounts returns how many write transactions the store has committed
// and how many writes (unit commits, cache entries, metadata) they carried:
// for benchmarks that tune group commit.
func (s *Store) WriteCounts() (txs, writes int64) { return s.txs.Load(), s.writes.Load() }

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
	linger := time.NewTimer(cacheLinger)
	linger.Stop()
	for open := true; open; {
		batch = batch[:0]
		var req writeReq
		select {
		case req, open = <-s.reqs:
		case <-s.cache.kick:
			// Only cache entries wait. The unit made from their answer
			// usually commits a moment later: give it that moment to share
			// their transaction.
			linger.Reset(cacheLinger)
			select {
			case req, open = <-s.reqs:
			case <-linger.C:
			}
			linger.Stop()
		}
		if req.fn != nil {
			batch = append(batch, req)
			// Let the goroutines that are about to commit too (units
			// finishing at the same moment) hand over their writes first:
			// they then share this transaction.
			runtime.Gosched()
		}
	drain:
		for open && len(batch) < maxBatch {
			select {
			case r, ok := <-s.reqs:
				if !ok {
					open = false
					break drain
				}
				batch = append(batch, r)
			default:
				break drain
			}
		}
		// Once reqs is closed no Put can add entries, so this last batch
		// carries every pending one.
		s.commitBatch(batch)
	}
}

func (s *Store) commitBatch(batch []writeReq) {
	entries := s.cache.take()
	if len(batch) == 0 && len(entries) == 0 {
		return
	}
	s.txs.Add(1)
	s.writes.Add(int64(len(batch) + len(entries)))
	ctx := context.Background()
	errs := make([]error, len(batch))
	finish := func() {
		for i, req := range batch {
			req.done <- errs[i]
		}
	}
	var cacheErr error
	var at []placed
	defer func() { s.cache.settle(cacheErr, at) }()
	fail := func(err error) {
		if len(entries) > 0 {
			cacheErr = err
		}
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
	// The cache entries go first: every write of this batch was handed over
	// after them, and may be built from them.
	at, err = s.putEntries(ctx, tx, entries)
	if err != nil {
		tx.Rollback()
		fail(err)
		return
	}
	ok := 0
	if len(batch) == 1 && len(entries) == 0 {
		// Nothing to isolate it from: no savepoint.
		if errs[0] = batch[0].fn(ctx, tx); errs[0] == nil {
			ok++
		}
	} else {
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
	}
	if ok == 0 && len(entries) == 0 {
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
