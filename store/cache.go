package store

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"hash/maphash"
	"slices"
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
// Since schema version 6 the cache table has no index on its key. Keys are
// SHA-256 hashes, so each entry's key landed on a random page of that index,
// and every transaction wrote one such page per entry to the log: without
// it, the store's benchmark commits 11–20% more units per CPU-second. Rows
// are appended under increasing ids instead, and the store finds them
// through an index in memory: a hash of each key and the row's id, about 16
// bytes per entry, read from the table at open (so a resume after kill -9
// knows every committed row). A writable store is the table's only writer,
// so its index is always complete and a miss never asks SQLite. A read-only
// store reads the index at its first lookup and, on a miss, the rows
// appended since by a writer in another process. Two keys with one hash are
// told apart by the key stored in the row: the second one's id is kept by
// its whole key (spill).

// cacheLinger is how long entries wait for a write to share a transaction.
// A unit commits well within it after the answer it uses arrives.
const cacheLinger = 2 * time.Millisecond

type cacheState struct {
	mu       sync.Mutex
	pending  map[string][]byte // put and not yet in a transaction
	inflight map[string][]byte // in the transaction being committed
	// index maps the hash of each committed key to its row id (entries
	// still waiting are found in pending and inflight by their key).
	index map[uint64]int64
	// spill holds the ids of keys whose hash another key in index has.
	spill map[string]int64
	// last is the highest row id read into the index, from which a
	// read-only store reads on a miss.
	last int64
	// loaded says the index was read; a read-only store reads it lazily,
	// and only from schema version 6 on (older tables have a key index).
	loaded bool
	seed   maphash.Seed
	// hash is maphash with seed; a test replaces it to make keys collide.
	hash func(string) uint64
	// err is the failure of the last transaction that carried entries,
	// reported by the next Put: those entries were not stored.
	err  error
	kick chan struct{} // capacity 1: entries are pending
}

// placed is where the writer put one entry, applied to the index once its
// transaction has committed.
type placed struct {
	key   string
	id    int64
	spill bool
}

func (c *cacheState) init() {
	c.seed = maphash.MakeSeed()
	c.hash = func(k string) uint64 { return maphash.String(c.seed, k) }
	c.index = map[uint64]int64{}
	c.spill = map[string]int64{}
	c.pending = map[string][]byte{}
	c.kick = make(chan struct{}, 1)
}

// readIndex adds the rows after c.last to the index. db is the writer's
// connection at open, the read pool on a read-only store.
func (s *Store) readIndex(ctx context.Context, db *sql.DB) error {
	c := &s.cache
	c.mu.Lock()
	defer c.mu.Unlock()
	rows, err := db.QueryContext(ctx, `SELECT id, key FROM cache WHERE id > ? ORDER BY id`, c.last)
	if err != nil {
		return fmt.Errorf("store: %s: cache index: %w", s.path, err)
	}
	defer rows.Close()
	for rows.Next() {
		var id int64
		var k string
		if err := rows.Scan(&id, &k); err != nil {
			return fmt.Errorf("store: %s: cache index: %w", s.path, err)
		}
		c.add(k, id)
		c.last = id
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: %s: cache index: %w", s.path, err)
	}
	c.loaded = true
	return nil
}

// add notes that key is in row id. Rows come in id order and a key has one
// row, so a second key with a taken hash is a different key.
func (c *cacheState) add(key string, id int64) {
	h := c.hash(key)
	if _, ok := c.index[h]; !ok {
		c.index[h] = id
		return
	}
	c.spill[key] = id
}

// find returns what memory knows of key: its value when it waits for a
// transaction, or the id of the row that may hold it (0: not stored).
func (c *cacheState) find(key string) (val []byte, ok bool, id int64) {
	if v, ok := c.pending[key]; ok {
		return bytes.Clone(v), true, 0
	}
	if v, ok := c.inflight[key]; ok {
		return bytes.Clone(v), true, 0
	}
	if id, ok := c.spill[key]; ok {
		return nil, false, id
	}
	return nil, false, c.index[c.hash(key)]
}

// Get returns the cached response stored under key (model.Cache), including
// one put but not yet committed.
func (s *Store) Get(ctx context.Context, key string) ([]byte, bool, error) {
	if s.version < 6 {
		// A file of an older version read as it is: its key is indexed.
		return s.getByKey(ctx, key)
	}
	v, ok, err := s.getIndexed(ctx, key)
	if ok || err != nil || s.w != nil {
		return v, ok, err
	}
	// A read-only store: another process may have stored it since.
	if err := s.readIndex(ctx, s.r); err != nil {
		return nil, false, err
	}
	return s.getIndexed(ctx, key)
}

// getIndexed looks key up through the index in memory.
func (s *Store) getIndexed(ctx context.Context, key string) ([]byte, bool, error) {
	c := &s.cache
	c.mu.Lock()
	if !c.loaded {
		c.mu.Unlock()
		if err := s.readIndex(ctx, s.r); err != nil {
			return nil, false, err
		}
		c.mu.Lock()
	}
	v, ok, id := c.find(key)
	c.mu.Unlock()
	if ok || id == 0 {
		return v, ok, nil
	}
	var k string
	err := s.getCache.QueryRowContext(ctx, id).Scan(&k, &v)
	if errors.Is(err, sql.ErrNoRows) || err == nil && k != key {
		return nil, false, nil // another key with the same hash
	}
	if err != nil {
		return nil, false, fmt.Errorf("store: cache get: %w", err)
	}
	return v, true, nil
}

func (s *Store) getByKey(ctx context.Context, key string) ([]byte, bool, error) {
	var v []byte
	err := s.r.QueryRowContext(ctx, `SELECT value FROM cache WHERE key = ?`, key).Scan(&v)
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
	err := s.cache.put(key, val)
	if err != nil {
		return fmt.Errorf("store: cache put: earlier entries were not written: %w", err)
	}
	return nil
}

// put hands an entry to the writer and returns the failure of the last
// transaction that carried entries, once.
func (c *cacheState) put(key string, val []byte) error {
	c.mu.Lock()
	v := bytes.Clone(val) // the caller may reuse val; nil becomes empty
	if v == nil {
		v = []byte{}
	}
	c.pending[key] = v
	err := c.err
	c.err = nil
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	return err
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
// is its failure; at is where they went when it committed.
func (c *cacheState) settle(err error, at []placed) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if err != nil {
		c.err = err
	} else {
		for _, p := range at {
			if p.spill {
				c.spill[p.key] = p.id
			} else {
				c.index[c.hash(p.key)] = p.id
			}
			c.last = max(c.last, p.id)
		}
	}
	c.inflight = nil
}

// putEntries writes the entries in tx and returns where each went. An entry
// whose key is stored already replaces its row's value; the others are
// appended in key order, so that a rerun writes the same file.
func (s *Store) putEntries(ctx context.Context, tx *sql.Tx, entries map[string][]byte) ([]placed, error) {
	c := &s.cache
	keys := make([]string, 0, len(entries))
	for k := range entries {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	at := make([]placed, 0, len(keys))
	var mine map[uint64]bool // hashes this transaction places in index
	for _, k := range keys {
		h := c.hash(k)
		c.mu.Lock()
		id, spilled := c.spill[k]
		if !spilled {
			id = c.index[h]
		}
		c.mu.Unlock()
		if !spilled && mine[h] {
			// A key of this transaction took the hash: k is another key
			// (entries holds each key once).
			id, spilled = 0, true
		}
		if id != 0 {
			// The row may hold k, or another key with its hash.
			var stored string
			err := tx.QueryRowContext(ctx, `SELECT key FROM cache WHERE id = ?`, id).Scan(&stored)
			if err != nil && !errors.Is(err, sql.ErrNoRows) {
				return nil, fmt.Errorf("cache put: %w", err)
			}
			if err == nil && stored == k {
				if _, err := tx.StmtContext(ctx, s.setCache).ExecContext(ctx, entries[k], id); err != nil {
					return nil, fmt.Errorf("cache put: %w", err)
				}
				at = append(at, placed{key: k, id: id, spill: spilled})
				continue
			}
			spilled = err == nil // a row of another key: k goes to spill
		}
		res, err := tx.StmtContext(ctx, s.putCache).ExecContext(ctx, k, entries[k])
		if err != nil {
			return nil, fmt.Errorf("cache put: %w", err)
		}
		if id, err = res.LastInsertId(); err != nil {
			return nil, fmt.Errorf("cache put: %w", err)
		}
		if !spilled {
			if mine == nil {
				mine = map[uint64]bool{}
			}
			mine[h] = true
		}
		at = append(at, placed{key: k, id: id, spill: spilled})
	}
	return at, nil
}
