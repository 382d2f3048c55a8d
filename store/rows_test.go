package store

import (
	"context"
	"fmt"
	"reflect"
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
