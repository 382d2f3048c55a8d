// Package pipelinetest provides an in-memory run store and other helpers for
// testing stages without SQLite.
package pipelinetest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"sort"
	"sync"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// MemStore is an in-memory pipeline.RunStore, pipeline.FailedReopener and model.Cache. Records are
// deep-copied in and out, as a real store would, so tests catch aliasing bugs.
type MemStore struct {
	mu      sync.Mutex
	records map[string][]byte // id -> JSON
	stageOf map[string]string
	unitOf  map[string]string // record id -> unit key
	units   map[string]map[string]pipeline.UnitUsage
	meta    map[string]string
	cache   map[string][]byte
	// Commits counts Commit calls, for tests of resume behaviour.
	Commits int
}

// NewMemStore returns an empty store.
func NewMemStore() *MemStore {
	return &MemStore{
		records: map[string][]byte{},
		stageOf: map[string]string{},
		unitOf:  map[string]string{},
		units:   map[string]map[string]pipeline.UnitUsage{},
		meta:    map[string]string{},
		cache:   map[string][]byte{},
	}
}

// Commit implements pipeline.Store.
func (m *MemStore) Commit(ctx context.Context, u pipeline.Unit) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, r := range u.Records {
		if r.ID == "" {
			return fmt.Errorf("memstore: record without ID in unit %s/%s", u.Stage, u.Key)
		}
		b, err := json.Marshal(r)
		if err != nil {
			return err
		}
		m.records[r.ID] = b
		m.stageOf[r.ID] = r.Stage
		m.unitOf[r.ID] = u.Key
	}
	if m.units[u.Stage] == nil {
		m.units[u.Stage] = map[string]pipeline.UnitUsage{}
	}
	m.units[u.Stage][u.Key] = u.Usage
	m.Commits++
	return nil
}

// DoneUnits implements pipeline.Store.
func (m *MemStore) DoneUnits(ctx context.Context, stage string) (map[string]bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := map[string]bool{}
	for k := range m.units[stage] {
		out[k] = true
	}
	return out, nil
}

// Records implements pipeline.Store.
func (m *MemStore) Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {
		m.mu.Lock()
		var recs []*record.Record
		for id, b := range m.records {
			if m.stageOf[id] != stage {
				continue
			}
			var r record.Record
			if err := json.Unmarshal(b, &r); err != nil {
				m.mu.Unlock()
				yield(nil, err)
				return
			}
			if status == "" || r.Status == status {
				recs = append(recs, &r)
			}
		}
		m.mu.Unlock()
		sort.Slice(recs, func(i, j int) bool {
			if recs[i].Seq != recs[j].Seq {
				return recs[i].Seq < recs[j].Seq
			}
			return recs[i].ID < recs[j].ID
		})
		for _, r := range recs {
			if !yield(r, nil) {
				return
			}
		}
	}
}

// All returns every record of stage in order.
func (m *MemStore) All(stage string) []*record.Record {
	var out []*record.Record
	for r, err := range m.Records(context.Background(), stage, "") {
		if err == nil {
			out = append(out, r)
		}
	}
	return out
}

// ReopenFailed implements pipeline.FailedReopener: the units of stage that
// committed a failed record lose their records and done-marks.
func (m *MemStore) ReopenFailed(ctx context.Context, stage string) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	reopen := map[string]bool{}
	for id, b := range m.records {
		var r record.Record
		if err := json.Unmarshal(b, &r); err != nil {
			return 0, err
		}
		if m.stageOf[id] == stage && r.Status == record.Failed {
			reopen[m.unitOf[id]] = true
		}
	}
	for id := range m.records {
		if m.stageOf[id] == stage && reopen[m.unitOf[id]] {
			delete(m.records, id)
			delete(m.stageOf, id)
			delete(m.unitOf, id)
		}
	}
	for k := range reopen {
		delete(m.units[stage], k)
	}
	return len(reopen), nil
}

// MetaValue implements pipeline.RunStore.
func (m *MemStore) MetaValue(ctx context.Context, key string) (string, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.meta[key]
	return v, ok, nil
}

// SetMetaValue implements pipeline.RunStore.
func (m *MemStore) SetMetaValue(ctx context.Context, key, val string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.meta[key] = val
	return nil
}

// Get implements model.Cache.
func (m *MemStore) Get(ctx context.Context, key string) ([]byte, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	v, ok := m.cache[key]
	return v, ok, nil
}

// Put implements model.Cache.
func (m *MemStore) Put(ctx context.Context, key string, val []byte) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.cache[key] = append([]byte(nil), val...)
	return nil
}

// ErrCrash is what CrashStore's Commit fails with.
var ErrCrash = errors.New("pipelinetest: simulated crash")

// CrashStore is a MemStore whose Commit fails with ErrCrash once N units
// are committed, as a killed process would stop committing. Safe for the
// concurrent commits of a stage's units.
type CrashStore struct {
	*MemStore
	mu sync.Mutex
	N  int // commits left before the crash
}

// Commit implements pipeline.Store.
func (c *CrashStore) Commit(ctx context.Context, u pipeline.Unit) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.N <= 0 {
		return ErrCrash
	}
	c.N--
	return c.MemStore.Commit(ctx, u)
}
