package store

import (
	"context"
	"strings"
	"testing"
)

// TestQueryPlans: the record queries run off the records index, in its
// order, without sorting a stage (a sort of the ties by id is allowed).
func TestQueryPlans(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for _, q := range []string{
		`SELECT data FROM records WHERE stage = 'a' ORDER BY seq, id`,
		`SELECT data FROM records WHERE stage = 'a' AND status = 'kept' ORDER BY seq, id`,
		`SELECT data FROM records WHERE stage = 'a' AND status = 'kept' AND (seq, id) > (3, 'x') ORDER BY seq, id`,
		`SELECT count(*) FROM records WHERE stage = 'a' AND status = 'kept'`,
		`SELECT stage, count(*), sum(status = 'kept'), sum(status = 'rejected'), sum(status = 'failed') FROM records GROUP BY stage`,
	} {
		rows, err := s.r.QueryContext(ctx, "EXPLAIN QUERY PLAN "+q)
		if err != nil {
			t.Fatal(err)
		}
		var plan []string
		for rows.Next() {
			var id, parent, notused int
			var detail string
			if err := rows.Scan(&id, &parent, &notused, &detail); err != nil {
				t.Fatal(err)
			}
			plan = append(plan, detail)
		}
		rows.Close()
		p := strings.Join(plan, "; ")
		t.Logf("%s\n  %s", q, p)
		if !strings.Contains(p, "records_stage_seq_status") || strings.Contains(p, "TEMP B-TREE FOR ORDER BY") || strings.Contains(p, "TEMP B-TREE FOR GROUP BY") {
			t.Errorf("%s: plan %s", q, p)
		}
	}
}
