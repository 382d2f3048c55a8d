package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"sync"
	"time"
)

// The response cache (model.Cache). The model layer puts each answer in the
// cache the moment it arrives, and the unit built from it commits a moment
// later. Each in a transaction of its own made twice the transactions, and
// transactions were most of the store's cost. So Put hands the entry to the
// writer and returns at once; the writer commits it with the next write it
// runs, and on its own after cacheLinger when no write comes. What a resume
// relies on still holds:
//   - every write committed after Put returned is committed with the entry or
//     after it, so a committed unit never lacks the answers it was made from;
//   - an answer whose unit never commits (a long unit, a run stopped
//     mid-unit) is committed in the writer's next transaction, begun at most
//     cacheLinger after the writer is free, so kill -9 loses it only in that
//     moment, as it did before when the kill fell before Put's own
//     transaction committed.
//
// Get answers a miss without SQLite when the key was never stored: the store
// keeps a hash of every key in the table (loaded at open) and of every key
// put since, about 16 bytes per entry. Most lookups of a fresh run are such
// misses; each cost a query before.

// cacheLinger is how long entries wait for a write to share a transaction.
// A unit commits well within it after the answer it uses arrives.
const cacheLinger = 2 * time.Millisecond

type cacheState struct {
	mu       sync.Mutex
	pending  map[string][]byte // put and not yet in a transaction
	inflight map[string][]byte // in the transaction being committed
	// index holds the hashes of every key in the table or pending; nil on a
	// read-only store, whose Get always asks SQLite.
	index map[uint64]struct{}
	seed  maphash.Seed
	// err is the failure of the last transaction that carried entries,
	// reported by the next Put: those entries were not stored.
	err  error
	kick chan struct{} // capacity 1: entries are pending
}

// loadCacheIndex reads every key of the cache table into the index. It runs
// at open, before the writer starts.
func (s *Store) loadCacheIndex(ctx context.Context) error {
	c := &s.cache
	c.seed = maphash.MakeSeed()
	c.index = map[uint64]struct{}{}
	c.pending = map[string][]byte{}
	c.kick = make(chan struct{}, 1)
	rows, err := s.w.QueryContext(ctx, `SELECT key FROM cache`)
	if err != nil {
		return fmt.Errorf("store: open %s: cache keys: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var k string
		if err := rows.Scan(&k); err != nil {
			return fmt.Errorf("store: open %s: cache keys: %w", s.path, err)
		}
		c.index[maphash.String(c.seed, k)] = struct{}{}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: open %s: cache keys: %w", s.path, err)
	}
	return nil
}

// lookup answers Get from memory when it can: known is false when SQLite
// must be asked.
func (c *cacheState) lookup(key string) (val []byte, ok, known bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index == nil {
		return nil, false, false
	}
	if _, maybe := c.index[maphash.String(c.seed, key)]; !maybe {
		return nil, false, true
	}
	if v, ok := c.pending[key]; ok {
		return bytes.Clone(v), true, true
	}
	if v, ok := c.inflight[key]; ok {
		return bytes.Clone(v), true, true
	}
	return nil, false, false
}

// mayHold notes that key may be in the cache table, for an entry written
// outside Put (a batch result commits its entry with the item's state).
func (c *cacheState) mayHold(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.index != nil {
		c.index[maphash.String(c.seed, key)] = struct{}{}
	}
}

// Get returns the cached response stored under key (model.Cache), including
// one put but not yet committed.
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if v, ok, known := s.cache.lookup(key); known {
		return v, ok, nil
	}
	var v []byte
	err := s.getCache.QueryRowContext(ctx, key).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: cache get: %w", err)
	}
	return v, true, nil
}

// Put stores a response under key (model.Cache). It returns before the entry
// is committed; the entry is committed with the next write the store commits,
// or on its own cacheLinger after the writer is free (see above). It fails on a closed or
// read-only store, and reports once that an earlier entry could not be
// written. Like Commit, it completes even when ctx is cancelled.
func (s *Store) Put(ctx context.Context, key string, val []byte) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errClosed
	}
	c := &s.cache
	c.mu.Lock()
	c.pending[key] = bytes.Clone(val) // the caller may reuse val; nil becomes empty
	if c.pending[key] == nil {
		c.pending[key] = []byte{}
	}
	c.index[maphash.String(c.seed, key)] = struct{}{}
	err := c.err
	c.err = nil
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	if err != nil {
		return fmt.Errorf("store: cache put: earlier entries were not written: %w", err)
	}
	return nil
}

// take moves the pending entries into the transaction about to run.
func (c *cacheState) take() map[string][]byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.pending) == 0 {
		return nil
	}
	c.inflight, c.pending = c.pending, map[string][]byte{}
	return c.inflight
}

// settle ends the transaction that carried the entries take returned: err
// is its failure.
func (c *cacheState) settle(err error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.err = err
	}
	c.inflight = nil
}

// putEntries writes the entries in tx.
func (s *Store) putEntries(ctx context.Context, tx *sql.Tx, entries map[string][]byte) error {
	st := tx.StmtContext(ctx, s.putCache)
	for k, v := range entries {
		if _, err := st.ExecContext(ctx, k, v); err != nil {
			return fmt.Errorf("cache put: %w", err)
		}
	}
	return nil
}
