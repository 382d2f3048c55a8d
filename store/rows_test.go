package store

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// TestCommitUnitsRows commits groups of every size around the multi-row
// statements' powers of two, with units of zero to three records and
// record IDs written twice in one group, and reads back what one
// statement per row wrote: every unit, its usage and records, and for an
// ID written twice the later unit's record.
func TestCommitUnitsRows(t *testing.T) {
	ctx := context.Background()
	for _, n := range []int{1, 2, 3, 20, 31, 32, 33, 64, 100} {
		t.Run(fmt.Sprint(n), func(t *testing.T) {
			s := openTemp(t)
			var group []pipeline.Unit
			want := map[string]pipeline.Unit{} // by key
			owner := map[string]string{}       // record ID -> unit key of its last write
			for i := range n {
				u := pipeline.Unit{Stage: "s", Key: fmt.Sprintf("u%03d", i),
					Usage: pipeline.UnitUsage{Requests: i, PromptTokens: 2 * i, CostUSD: float64(i) / 8}}
				for j := range i % 4 {
					id := fmt.Sprintf("r%03d-%d", i, j)
					if j == 2 && i > 0 {
						id = fmt.Sprintf("r%03d-%d", i-1, 0) // the previous unit's first record, written again
					}
					u.Records = append(u.Records, &record.Record{ID: id, Seq: int64(i), Status: record.Kept, Output: u.Key})
					owner[id] = u.Key
				}
				group = append(group, u)
				want[u.Key] = u
			}
			if err := s.CommitUnits(ctx, group); err != nil {
				t.Fatal(err)
			}
			got := 0
			for u, err := range s.Units(ctx, "s") {
				if err != nil {
					t.Fatal(err)
				}
				got++
				w, ok := want[u.Key]
				if !ok {
					t.Fatalf("unit %s was not committed", u.Key)
				}
				if !reflect.DeepEqual(u.Usage, w.Usage) {
					t.Errorf("unit %s: usage %+v, want %+v", u.Key, u.Usage, w.Usage)
				}
				for _, r := range u.Records {
					if owner[r.ID] != u.Key || r.Output != u.Key {
						t.Errorf("record %s is in unit %s with output %q, want unit %s", r.ID, u.Key, r.Output, owner[r.ID])
					}
				}
			}
			if got != n {
				t.Errorf("%d units read back, want %d", got, n)
			}
			c, err := s.Count(ctx, "s", "")
			if err != nil {
				t.Fatal(err)
			}
			if c != len(owner) {
				t.Errorf("%d records, want %d", c, len(owner))
			}
		})
	}
}

// TestCommitUnitsMixedGroup commits one group whose units change stage and
// whose records change status, within a unit and across units, and reads
// back each record's stage, status and unit from the columns: CommitUnits
// boxes a stage, a key and a status once for the rows that share them, and
// a value kept from the previous unit or record would land in the wrong
// row.
func TestCommitUnitsMixedGroup(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	type row struct{ stage, unit string }
	statuses := []record.Status{record.Kept, record.Rejected, record.Kept, record.Failed, record.Failed}
	want := map[record.Status]map[string]row{} // status -> record ID -> where it was written
	units := map[string][]string{}             // stage -> unit keys
	var group []pipeline.Unit
	for i, st := range []string{"a", "b", "b", "a", "c", "a"} {
		u := pipeline.Unit{Stage: st, Key: fmt.Sprintf("k%d", i%4), Usage: pipeline.UnitUsage{Requests: i}}
		for j := range i % 4 {
			r := &record.Record{ID: fmt.Sprintf("%s-%d-%d", st, i, j), Seq: int64(i), Status: statuses[(i+j)%len(statuses)]}
			if r.Status != record.Kept {
				r.Error = "no"
			}
			u.Records = append(u.Records, r)
			if want[r.Status] == nil {
				want[r.Status] = map[string]row{}
			}
			want[r.Status][r.ID] = row{st, u.Key}
		}
		units[st] = append(units[st], u.Key)
		group = append(group, u)
	}
	if err := s.CommitUnits(ctx, group); err != nil {
		t.Fatal(err)
	}
	for _, status := range []record.Status{record.Kept, record.Rejected, record.Failed} {
		got := map[string]row{}
		for _, st := range []string{"a", "b", "c"} {
			for r, err := range s.Records(ctx, st, status) {
				if err != nil {
					t.Fatal(err)
				}
				got[r.ID] = row{st, ""}
			}
		}
		for id, w := range want[status] {
			if g, ok := got[id]; !ok || g.stage != w.stage {
				t.Errorf("record %s (%s): read back in stage %q (found %v), want %q", id, status, g.stage, ok, w.stage)
			}
		}
		if len(got) != len(want[status]) {
			t.Errorf("%d records %s, want %d", len(got), status, len(want[status]))
		}
	}
	for st, keys := range units {
		var got []string
		for u, err := range s.Units(ctx, st) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, u.Key)
			for _, r := range u.Records {
				if w := want[r.Status][r.ID]; w.stage != st || w.unit != u.Key {
					t.Errorf("record %s (%s) is in unit %s/%s, want %s/%s", r.ID, r.Status, st, u.Key, w.stage, w.unit)
				}
			}
		}
		slices.Sort(got)
		slices.Sort(keys)
		if !slices.Equal(got, keys) {
			t.Errorf("stage %s: units %v, want %v", st, got, keys)
		}
	}
}
