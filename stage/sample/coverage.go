package sample

import (
	"context"
	"maps"
	"slices"
	"sync"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/attrs"
)

// Coverage is how a sample stage's records cover each column's values.
type Coverage = attrs.Coverage

// Summarize reads the kept records of a sample stage and counts each
// column's values, unit by unit as the run does: what status shows is
// what the run reported, to the last bit of each mean.
func Summarize(ctx context.Context, st pipeline.Store, stage string) (Coverage, error) {
	var t unitTally
	err := t.readBack(ctx, st, stage)
	return t.coverage(), err
}

// unitOf is the unit that drew record r (Seq is the record index + 1).
func unitOf(r *record.Record) int { return int(max(r.Seq-1, 0)) / unitSize }

// unitTally is a sample stage's coverage counted unit by unit: the run
// counts the records of each unit it draws and reads back only those of
// the units earlier runs committed, and the units' counts are merged in
// unit order whatever order they come in, so that a resumed run reports
// exactly what a whole run reports. Safe for concurrent use.
type unitTally struct {
	mu    sync.Mutex
	total attrs.Tally
	next  int                  // the first unit not merged into total
	held  map[int]*attrs.Tally // units counted before the ones ahead of them
}

// put hands over the count of unit k, a unit that does not come twice.
func (u *unitTally) put(k int, t *attrs.Tally) {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.held == nil {
		u.held = map[int]*attrs.Tally{}
	}
	u.held[k] = t
	for {
		t, ok := u.held[u.next]
		if !ok {
			return
		}
		u.total.Merge(t)
		delete(u.held, u.next)
		u.next++
	}
}

// none notes that unit k has no records beyond those already put: a unit
// an earlier run committed whose records are all another shard's.
func (u *unitTally) none(k int) {
	u.mu.Lock()
	_, held := u.held[k]
	u.mu.Unlock()
	if k >= u.next && !held {
		u.put(k, new(attrs.Tally))
	}
}

// coverage merges the units still held (those past a unit that never came:
// not run in a capped run, or with no record of this shard's) in order and
// returns the coverage.
func (u *unitTally) coverage() Coverage {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, k := range slices.Sorted(maps.Keys(u.held)) {
		u.total.Merge(u.held[k])
	}
	clear(u.held)
	return u.total.Coverage()
}

// readBack counts the kept records a stage has in st, unit by unit (the
// records come in Seq order, so a unit's records are together).
func (u *unitTally) readBack(ctx context.Context, st pipeline.Store, stage string) error {
	var part *attrs.Tally
	k := -1
	for r, err := range st.Records(ctx, stage, record.Kept) {
		if err != nil {
			return err
		}
		spec, ok := attrs.Of(r)
		if !ok {
			continue
		}
		if part == nil || unitOf(r) != k {
			if part != nil {
				u.put(k, part)
			}
			part, k = new(attrs.Tally), unitOf(r)
		}
		part.Add(r, spec)
	}
	if part != nil {
		u.put(k, part)
	}
	return nil
}
