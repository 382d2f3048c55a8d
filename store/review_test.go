package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// pageRecords commits n judged records of stage "j": record i scores i%10
// against a threshold of 5, odd ones come from parent "p1", and those
// scoring under 5 are rejected by the judge.
func pageRecords(t testing.TB, s *Store, n int) {
	t.Helper()
	var recs []*record.Record
	for i := range n {
		sc := float64(i % 10)
		r := &record.Record{ID: fmt.Sprintf("r%03d", i), Seq: int64(i), Status: record.Kept, Output: "out",
			Scores: map[string]float64{"judge": sc}, Meta: map[string]any{"lang": "en"},
			Prov: record.Provenance{Params: map[string]any{"threshold": 5.0}}}
		if sc < 5 {
			r.Status = record.Rejected
			r.Decisions = []record.Decision{{Filter: "judge", Passed: false, Value: sc}}
		}
		if i%2 == 1 {
			r.Prov.ParentIDs = []string{"p1"}
			r.Meta["lang"] = "ja"
		}
		recs = append(recs, r)
	}
	if err := s.Commit(context.Background(), pipeline.Unit{Stage: "j", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
}

// allPages follows Next to the end and returns the IDs in page order.
func allPages(t *testing.T, s *Store, q PageQuery) []string {
	t.Helper()
	var ids []string
	for pages := 0; ; pages++ {
		p, err := s.RecordPage(context.Background(), q)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range p.Records {
			ids = append(ids, r.ID)
		}
		if p.Next == "" {
			return ids
		}
		if pages > 100 {
			t.Fatal("pages never end")
		}
		q.After = p.Next
	}
}

func TestRecordPage(t *testing.T) {
	s := openTemp(t)
	pageRecords(t, s, 40)
	f := func(v float64) *float64 { return &v }
	tests := []struct {
		name  string
		q     PageQuery
		n     int
		first []string
	}{
		{"all in order", PageQuery{Stage: "j", Limit: 7}, 40, []string{"r000", "r001", "r002"}},
		{"kept", PageQuery{Stage: "j", Status: record.Kept, Limit: 3}, 20, []string{"r005", "r006", "r007"}},
		{"rejected by judge", PageQuery{Stage: "j", RejectedBy: "judge", Limit: 3}, 20, []string{"r000", "r001", "r002"}},
		{"score range", PageQuery{Stage: "j", MinScore: f(8), MaxScore: f(9), Limit: 3}, 8, []string{"r008", "r009", "r018"}},
		{"meta", PageQuery{Stage: "j", MetaKey: "lang", MetaValue: "ja", Limit: 5}, 20, []string{"r001", "r003"}},
		{"parent", PageQuery{Stage: "j", Parent: "p1", Limit: 5}, 20, []string{"r001", "r003"}},
		{"by score", PageQuery{Stage: "j", Sort: "score", Limit: 3}, 40, []string{"r009", "r019", "r029", "r039", "r008"}},
		{"uncertain", PageQuery{Stage: "j", Sort: "uncertain", Limit: 3}, 40, []string{"r005", "r015", "r025", "r035", "r004"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ids := allPages(t, s, tt.q)
			if len(ids) != tt.n {
				t.Fatalf("%d records, want %d: %v", len(ids), tt.n, ids)
			}
			if !slices.Equal(ids[:len(tt.first)], tt.first) {
				t.Errorf("first %v, want %v", ids[:len(tt.first)], tt.first)
			}
			seen := map[string]bool{}
			for _, id := range ids {
				if seen[id] {
					t.Fatalf("%s on two pages", id)
				}
				seen[id] = true
			}
		})
	}
	if _, err := s.RecordPage(context.Background(), PageQuery{Stage: "j", After: "!!"}); err == nil {
		t.Error("a bad cursor was accepted")
	}
}

func TestReviewLog(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	pageRecords(t, s, 4)
	add := func(rv Review) Review {
		t.Helper()
		got, err := s.AddReview(ctx, rv)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	a := add(Review{RecordID: "r001", Reviewer: "ann", Kind: Accept})
	if a.ID == 0 || a.Stage != "j" || a.At.IsZero() {
		t.Fatalf("added %+v", a)
	}
	add(Review{RecordID: "r001", Reviewer: "ann", Kind: Edit, Edits: map[string]string{"output": "better"}})
	add(Review{RecordID: "r001", Reviewer: "bob", Kind: Reject, Reason: "wrong"})
	u, err := s.Undo(ctx, "r001", "ann")
	if err != nil || u.Undoes != a.ID+1 {
		t.Fatalf("undo = %+v, %v; want it to cancel the edit", u, err)
	}
	if _, err := s.Undo(ctx, "r001", "ann"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Undo(ctx, "r001", "ann"); !errors.Is(err, ErrNothingToUndo) {
		t.Fatalf("third undo: %v, want ErrNothingToUndo", err)
	}
	if _, err := s.AddReview(ctx, Review{RecordID: "nope", Reviewer: "ann", Kind: Accept}); !errors.Is(err, ErrNotFound) {
		t.Errorf("review of a missing record: %v", err)
	}
	for _, bad := range []Review{{RecordID: "r001", Kind: Accept}, {RecordID: "r001", Reviewer: "a", Kind: Undo}, {RecordID: "r001", Reviewer: "a", Kind: Edit}} {
		if _, err := s.AddReview(ctx, bad); err == nil {
			t.Errorf("AddReview(%+v) accepted", bad)
		}
	}
	var kinds []ReviewKind
	for rv, err := range s.Reviews(ctx, "j", "") {
		if err != nil {
			t.Fatal(err)
		}
		kinds = append(kinds, rv.Kind)
	}
	if want := []ReviewKind{Accept, Edit, Reject, Undo, Undo}; !slices.Equal(kinds, want) {
		t.Errorf("log %v, want %v", kinds, want)
	}
	// ann has nothing standing on r001 any more; bob has.
	ids := allPages(t, s, PageQuery{Stage: "j", Pending: true, Reviewer: "ann"})
	if !slices.Contains(ids, "r001") || len(ids) != 4 {
		t.Errorf("pending for ann %v", ids)
	}
	if ids := allPages(t, s, PageQuery{Stage: "j", Pending: true, Reviewer: "bob"}); slices.Contains(ids, "r001") {
		t.Errorf("pending for bob %v has r001", ids)
	}

	if err := s.SetSample(ctx, "j", []string{"r002", "r000"}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Sample(ctx, "j"); !slices.Equal(got, []string{"r000", "r002"}) {
		t.Errorf("sample %v", got)
	}
	if ids := allPages(t, s, PageQuery{Stage: "j", InSample: true}); !slices.Equal(ids, []string{"r000", "r002"}) {
		t.Errorf("sample page %v", ids)
	}
}

func FuzzDecodeCursor(f *testing.F) {
	f.Add(encodeCursor(cursor{K: -3.5, Seq: 7, ID: "a:b"}))
	f.Add("")
	f.Add("e30")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := decodeCursor(s)
		if err != nil {
			return
		}
		back, err := decodeCursor(encodeCursor(c))
		if err != nil || back != c {
			t.Fatalf("round trip of %+v: %+v, %v", c, back, err)
		}
	})
}

// TestScoreSortsUseTheIndex: once IndexScores ran, the score sorts of the
// judge score page through the index (BenchmarkRecordPage shows the time)
// and give the pages they give without it.
func TestScoreSortsUseTheIndex(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	pageRecords(t, s, 2000)
	want := allPages(t, s, PageQuery{Stage: "j", Sort: "uncertain", Limit: 50})
	if err := s.IndexScores(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexScores(ctx); err != nil {
		t.Fatalf("a second IndexScores: %v", err)
	}
	if got := allPages(t, s, PageQuery{Stage: "j", Sort: "uncertain", Limit: 50}); !slices.Equal(got, want) {
		t.Errorf("uncertain first with the index: %v..., without %v...", got[:5], want[:5])
	}
	// The pages are the same as without the index.
	if ids := allPages(t, s, PageQuery{Stage: "j", Sort: "score", Limit: 50}); len(ids) != 2000 || ids[0] != "r009" {
		t.Errorf("by score with the index: %v", ids)
	}
	c, err := s.StageCounts(ctx)
	if err != nil || len(c) != 1 || c[0].Kept != 1000 || c[0].Rejected != 1000 || !slices.Equal(c[0].Filters, []string{"judge"}) {
		t.Errorf("StageCounts = %+v, %v", c, err)
	}
}

// TestPanelSorts: a judge panel's spread sorts the disagreement sort and
// moves a record up the uncertain one, in a judge stage's meta.judgment and
// in a reject stage's judgment of its best candidate; the same pages with
// the index as without.
func TestPanelSorts(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	rec := func(id string, score float64, meta map[string]any) *record.Record {
		r := &record.Record{ID: id, Status: record.Kept, Meta: meta, Prov: record.Provenance{Params: map[string]any{"threshold": 4.0}}}
		if score >= 0 {
			r.Scores = map[string]float64{"judge": score}
		}
		return r
	}
	recs := []*record.Record{
		rec("one-judge-on-threshold", 4, nil),                                                  // 0
		rec("panel-straddles", 4.5, map[string]any{"judgment": map[string]any{"spread": 3.0}}), // 0.5 - 1.5
		rec("panel-close", 6, map[string]any{"judgment": map[string]any{"spread": 1.0}}),       // 2 - 0.5
		rec("one-judge-far", 9, nil),                                                           // 5
		rec("reject-best", 7, map[string]any{"best": 1, "judgments": []any{map[string]any{"spread": 0.5}, map[string]any{"spread": 4.0}}}), // 3 - 2
		rec("no-score", -1, nil),
	}
	for i, r := range recs {
		r.Seq = int64(i)
	}
	if err := s.Commit(ctx, pipeline.Unit{Stage: "p", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"uncertain":    {"panel-straddles", "one-judge-on-threshold", "reject-best", "panel-close", "one-judge-far", "no-score"},
		"disagreement": {"reject-best", "panel-straddles", "panel-close", "one-judge-on-threshold", "one-judge-far", "no-score"},
	}
	for _, indexed := range []bool{false, true} {
		if indexed {
			if err := s.IndexScores(ctx); err != nil {
				t.Fatal(err)
			}
		}
		for sort, ids := range want {
			if got := allPages(t, s, PageQuery{Stage: "p", Sort: sort, Limit: 2}); !slices.Equal(got, ids) {
				t.Errorf("sort %s (indexed %v): %v, want %v", sort, indexed, got, ids)
			}
		}
	}
}

// TestIndexScoresReplacesTheOldUncertainIndex: a run reviewed before the
// uncertain key counted a panel's spread has an index on the old key; it is
// dropped, and the uncertain sort pages as on a new run.
func TestIndexScoresReplacesTheOldUncertainIndex(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	pageRecords(t, s, 100)
	want := allPages(t, s, PageQuery{Stage: "j", Sort: "uncertain", Limit: 7})
	old := `COALESCE(abs(json_extract(data, '$.scores."judge"') - json_extract(data, '$.provenance.params.threshold')), 1e+300)`
	if err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `CREATE INDEX records_review_uncertain ON records (stage, `+old+`, seq, id)`)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.IndexScores(ctx); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE name = 'records_review_uncertain'`).Scan(&n); err != nil || n != 0 {
		t.Errorf("the old index: %d left, %v", n, err)
	}
	if got := allPages(t, s, PageQuery{Stage: "j", Sort: "uncertain", Limit: 7}); !slices.Equal(got, want) {
		t.Errorf("uncertain after IndexScores: %v, want %v", got, want)
	}
}

func TestParseCandidatePref(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want CandidatePref
		ok   bool
	}{
		{"2>5", CandidatePref{2, 5, false}, true},
		{"5=2", CandidatePref{5, 2, true}, true},
		{"0>10", CandidatePref{0, 10, false}, true},
		{"3>3", CandidatePref{}, false}, // a candidate with itself
		{"chosen", CandidatePref{}, false},
		{">1", CandidatePref{}, false},
		{"1>", CandidatePref{}, false},
		{"-1>2", CandidatePref{}, false},
		{"1>2>3", CandidatePref{}, false},
		{"12345>1", CandidatePref{}, false},
		{" 1>2", CandidatePref{}, false},
	} {
		got, ok := ParseCandidatePref(tc.in)
		if ok != tc.ok || ok && got != tc.want {
			t.Errorf("ParseCandidatePref(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func FuzzParseCandidatePref(f *testing.F) {
	for _, s := range []string{"2>5", "5=2", "chosen", "1>2>3", "0>0", "9999=0"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, ok := ParseCandidatePref(s)
		if !ok {
			return
		}
		// What parses prints back to itself, but for leading zeros.
		if back, ok := ParseCandidatePref(c.String()); !ok || back != c || c.Win == c.Lose || c.Win < 0 || c.Lose < 0 {
			t.Errorf("ParseCandidatePref(%q) = %+v, printed %q reads %+v, %v", s, c, c.String(), back, ok)
		}
	})
}

// TestCandidatePreference: a preference between two candidates is logged
// against a record that has them, and refused for one it has not.
func TestCandidatePreference(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	r := &record.Record{ID: "rej:1", Status: record.Kept, Candidates: []record.Candidate{{Text: "a"}, {Text: "b"}, {Text: "c"}}}
	if err := s.Commit(ctx, pipeline.Unit{Stage: "rej", Key: "u", Records: []*record.Record{r, {ID: "rej:2", Status: record.Kept}}}); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		id, reason string
		ok         bool
	}{
		{"rej:1", "2>0", true},
		{"rej:1", "1=2", true},
		{"rej:1", "3>0", false}, // no candidate 3
		{"rej:2", "1>0", false}, // no candidates at all
		{"rej:1", "2>", false},
	} {
		_, err := s.AddReview(ctx, Review{RecordID: tc.id, Reviewer: "ann", Kind: Prefer, Reason: tc.reason})
		if (err == nil) != tc.ok {
			t.Errorf("prefer %s on %s: %v, want ok %v", tc.reason, tc.id, err, tc.ok)
		}
	}
}
