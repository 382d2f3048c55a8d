package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

// groupStore is a MemStore that commits groups of units (UnitsCommitter),
// each group at once, slowly enough for groups to form, and can fail from
// its failAt-th write on. It refuses a unit committed twice.
type groupStore struct {
	*pipelinetest.MemStore
	mu     sync.Mutex
	writes int
	failAt int // 0: never
	sizes  []int
	seen   map[string]bool
}

func newGroupStore() *groupStore {
	return &groupStore{MemStore: pipelinetest.NewMemStore(), seen: map[string]bool{}}
}

func (g *groupStore) CommitUnits(ctx context.Context, units []pipeline.Unit) error {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.writes++
	if g.failAt > 0 && g.writes >= g.failAt {
		return errKilled
	}
	time.Sleep(200 * time.Microsecond)
	for _, u := range units {
		if g.seen[u.Key] {
			return fmt.Errorf("unit %s committed twice", u.Key)
		}
	}
	for _, u := range units {
		g.seen[u.Key] = true
		if err := g.MemStore.Commit(ctx, u); err != nil {
			return err
		}
	}
	g.sizes = append(g.sizes, len(units))
	return nil
}

func (g *groupStore) Commit(ctx context.Context, u pipeline.Unit) error {
	return g.CommitUnits(ctx, []pipeline.Unit{u})
}

// groupRun runs n two-record units at concurrency 8 against st.
func groupRun(st pipeline.Store, n int) error {
	units := make([]pipeline.UnitSpec, n)
	for i := range units {
		units[i] = pipeline.UnitSpec{Key: fmt.Sprintf("u%04d", i), Seq: int64(i) * 10}
	}
	env := &pipeline.Env{Name: "s", Store: st, Concurrency: 8}
	return pipeline.RunUnits(context.Background(), env, units, func(ctx context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
		k := units[i].Key
		return []*record.Record{{ID: k + "/0", Status: record.Kept, Output: k}, {ID: k + "/1", Status: record.Rejected}},
			pipeline.UnitUsage{Requests: 1}, nil
	})
}

// storedRecords reads stage s back as the next stage would.
func storedRecords(t *testing.T, st pipeline.Store) []*record.Record {
	t.Helper()
	var out []*record.Record
	for r, err := range st.Records(context.Background(), "s", "") {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestGroupCommit: units committed in groups give the records and
// done-marks of units committed one by one, each unit once.
func TestGroupCommit(t *testing.T) {
	const n = 400
	one := pipelinetest.NewMemStore()
	if err := groupRun(one, n); err != nil {
		t.Fatal(err)
	}
	g := newGroupStore()
	if err := groupRun(g, n); err != nil {
		t.Fatal(err)
	}
	if got, want := storedRecords(t, g), storedRecords(t, one); !reflect.DeepEqual(got, want) {
		t.Errorf("records committed in groups differ from one by one (%d and %d records)", len(got), len(want))
	}
	done, _ := g.DoneUnits(context.Background(), "s")
	if len(done) != n || g.Commits != n {
		t.Errorf("%d units done in %d commits, want %d", len(done), g.Commits, n)
	}
	biggest := 0
	for _, s := range g.sizes {
		biggest = max(biggest, s)
	}
	if biggest < 2 {
		t.Errorf("every group had one unit (%d writes): units were not grouped", len(g.sizes))
	}
	t.Logf("%d units in %d writes, the largest of %d", n, len(g.sizes), biggest)
}

// TestGroupCommitFailure: a failed write stops the stage with its error;
// the units it carried and those after it are not done, and a rerun does
// exactly them, none twice.
func TestGroupCommitFailure(t *testing.T) {
	const n = 400
	g := newGroupStore()
	g.failAt = 5
	err := groupRun(g, n)
	if !errors.Is(err, errKilled) {
		t.Fatalf("run with a failing write: %v, want %v", err, errKilled)
	}
	done, _ := g.DoneUnits(context.Background(), "s")
	if len(done) == 0 || len(done) == n {
		t.Fatalf("%d of %d units done after the failed write", len(done), n)
	}
	g.failAt = 0
	if err := groupRun(g, n); err != nil {
		t.Fatal(err)
	}
	one := pipelinetest.NewMemStore()
	if err := groupRun(one, n); err != nil {
		t.Fatal(err)
	}
	if got, want := storedRecords(t, g), storedRecords(t, one); !reflect.DeepEqual(got, want) {
		t.Errorf("records after the rerun differ from a run without failure (%d and %d records)", len(got), len(want))
	}
}

// TestGroupCommitEnough: ErrEnough leaves uncommitted the unit that
// returns it and those finishing after it, not the units handed to the
// group committer before it (as when each unit committed in its slot).
func TestGroupCommitEnough(t *testing.T) {
	for round := range 20 {
		g := newGroupStore()
		units := []pipeline.UnitSpec{{Key: "a", Seq: 0}, {Key: "b", Seq: 10}}
		env := &pipeline.Env{Name: "s", Store: g, Concurrency: 1}
		err := pipeline.RunUnits(context.Background(), env, units, func(ctx context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
			if i == 1 {
				return nil, pipeline.UnitUsage{}, pipeline.ErrEnough
			}
			return []*record.Record{{ID: "a/0", Status: record.Kept}}, pipeline.UnitUsage{Requests: 1}, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		done, _ := g.DoneUnits(context.Background(), "s")
		if !done["a"] || done["b"] {
			t.Fatalf("round %d: units done %v, want a only: a unit finished before ErrEnough was not committed", round, done)
		}
	}
}
