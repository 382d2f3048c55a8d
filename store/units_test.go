package store

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// TestUnitsImport reads two stores' units out and imports them into a
// third: records round-trip, a unit both did sums its parts, a record
// both hold is refused, and ResetStage empties a stage.
func TestUnitsImport(t *testing.T) {
	ctx := context.Background()
	a, b, dst := openTemp(t), openTemp(t), openTemp(t)
	commit := func(s *Store, key string, calls int, recs ...*record.Record) {
		t.Helper()
		if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: key, Records: recs, Usage: pipeline.UnitUsage{Requests: calls, CostUSD: 0.5}}); err != nil {
			t.Fatal(err)
		}
	}
	commit(a, "chunk#0", 1, fullRecord("s", "r1", 1, record.Kept), fullRecord("s", "r3", 3, record.Rejected))
	commit(b, "chunk#0", 2, fullRecord("s", "r2", 2, record.Kept))
	commit(a, "empty", 0)
	commit(b, "x", 4, fullRecord("s", "r4", 4, record.Failed))
	n := 0
	for _, src := range []*Store{a, b} {
		for u, err := range src.Units(ctx, "s") {
			if err != nil {
				t.Fatal(err)
			}
			n += len(u.Records)
			if err := dst.Import(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	if n != 4 {
		t.Fatalf("Units yielded %d records, want 4", n)
	}
	var got []pipeline.Unit
	for u, err := range dst.Units(ctx, "s") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, u)
	}
	if len(got) != 3 || got[0].Key != "chunk#0" || len(got[0].Records) != 3 || got[0].Usage.Requests != 3 || got[0].Usage.CostUSD != 1 || got[1].Key != "empty" || got[2].Key != "x" {
		t.Fatalf("merged units = %+v", got)
	}
	for i, id := range []string{"r1", "r2", "r3"} {
		want := fullRecord("s", id, int64(i+1), got[0].Records[i].Status)
		if !reflect.DeepEqual(got[0].Records[i], want) {
			t.Errorf("record %s did not round-trip:\n got %+v\nwant %+v", id, got[0].Records[i], want)
		}
	}
	if err := dst.Import(ctx, got[2]); !errors.Is(err, ErrDuplicate) {
		t.Errorf("importing a record twice: %v, want ErrDuplicate", err)
	}
	if err := dst.ResetStage(ctx, "s"); err != nil {
		t.Fatal(err)
	}
	if done, _ := dst.DoneUnits(ctx, "s"); len(done) != 0 {
		t.Errorf("after ResetStage, done units %v", done)
	}
	if c, _ := dst.Count(ctx, "s", ""); c != 0 {
		t.Errorf("after ResetStage, %d records", c)
	}
}
