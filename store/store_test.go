package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

func openTemp(t testing.TB) *Store {
	t.Helper()
	s, err := Open(context.Background(), filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

var t0 = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// fullRecord sets every field so a round trip proves nothing is lost.
func fullRecord(stage, id string, seq int64, st record.Status) *record.Record {
	yes := true
	r := &record.Record{
		ID: id, Stage: stage, Seq: seq, Status: st,
		Instruction: "Translate to French: " + id, Input: "hello", Output: "bonjour",
		IsClassification: &yes,
		Messages:         []record.Turn{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello"}},
		Candidates:       []record.Candidate{{Text: "a", FinishReason: "stop", Scores: map[string]float64{"judge": 4.5}}},
		Chosen:           "a", Rejected: "b",
		Scores: map[string]float64{"rougeL": 0.25},
		Meta:   map[string]any{"similar": []any{"x", "y"}, "n": 3.0},
		Error:  "",
		Usage:  record.Usage{PromptTokens: 10, CompletionTokens: 5, CostUSD: 0.001},
		Prov: record.Provenance{
			Generator: "selfinstruct", Stage: stage, Backend: "openai", Model: "gpt-4o-mini",
			TemplateHash: "abc123", Params: map[string]any{"temperature": 0.7},
			ParentIDs: []string{"p1"}, SeedIDs: []string{"seed_1", "seed_2"}, RequestKeys: []string{"k1"},
			Round: 2, CreatedAt: t0,
		},
	}
	switch st {
	case record.Rejected:
		r.Decisions = []record.Decision{
			{Filter: "length", Passed: true},
			{Filter: "rouge", Passed: false, Reason: "too similar", Value: 0.8},
		}
	case record.Failed:
		r.Error = "model: timeout"
	}
	return r
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)

	// Seqs are committed out of order to prove Records sorts.
	u1 := pipeline.Unit{Stage: "gen", Key: "batch-000001", Usage: pipeline.UnitUsage{Requests: 2, CachedRequests: 1, PromptTokens: 100, CompletionTokens: 50, CostUSD: 0.5, Errors: 1},
		Records: []*record.Record{
			fullRecord("gen", "g3", 3, record.Kept),
			fullRecord("gen", "g1", 1, record.Rejected),
		}}
	u2 := pipeline.Unit{Stage: "gen", Key: "batch-000002", Usage: pipeline.UnitUsage{Requests: 1, PromptTokens: 10, CompletionTokens: 5, CostUSD: 0.25},
		Records: []*record.Record{
			fullRecord("gen", "g2", 2, record.Kept),
			fullRecord("gen", "g0", 0, record.Failed),
		}}
	u3 := pipeline.Unit{Stage: "inst", Key: "g3", Records: []*record.Record{fullRecord("", "i1", 3000, record.Kept)}}
	for _, u := range []pipeline.Unit{u1, u2, u3} {
		if err := s.Commit(ctx, u); err != nil {
			t.Fatal(err)
		}
	}

	got := collect(t, s.Records(ctx, "gen", ""))
	if ids := idsOf(got); !reflect.DeepEqual(ids, []string{"g0", "g1", "g2", "g3"}) {
		t.Fatalf("Records(gen) ids = %v, want g0..g3 in seq order", ids)
	}
	want := fullRecord("gen", "g3", 3, record.Kept)
	if !reflect.DeepEqual(got[3], want) {
		t.Errorf("round trip lost data:\n got %+v\nwant %+v", got[3], want)
	}
	if ids := idsOf(collect(t, s.Records(ctx, "gen", record.Kept))); !reflect.DeepEqual(ids, []string{"g2", "g3"}) {
		t.Errorf("Records(gen, kept) = %v, want [g2 g3]", ids)
	}
	// A record committed with no Stage takes the unit's.
	if r, err := s.Record(ctx, "i1"); err != nil || r.Stage != "inst" {
		t.Errorf("Record(i1) = %+v, %v; want stage inst", r, err)
	}
	if _, err := s.Record(ctx, "nope"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Record(nope) error = %v, want ErrNotFound", err)
	}
	for _, c := range []struct {
		stage  string
		status record.Status
		want   int
	}{{"gen", "", 4}, {"gen", record.Kept, 2}, {"gen", record.Failed, 1}, {"", "", 5}, {"", record.Kept, 3}, {"none", "", 0}} {
		if n, err := s.Count(ctx, c.stage, c.status); err != nil || n != c.want {
			t.Errorf("Count(%q, %q) = %d, %v; want %d", c.stage, c.status, n, err, c.want)
		}
	}
	if st, err := s.Stages(ctx); err != nil || !reflect.DeepEqual(st, []string{"gen", "inst"}) {
		t.Errorf("Stages = %v, %v; want [gen inst]", st, err)
	}
	done, err := s.DoneUnits(ctx, "gen")
	if err != nil || !reflect.DeepEqual(done, map[string]bool{"batch-000001": true, "batch-000002": true}) {
		t.Errorf("DoneUnits(gen) = %v, %v", done, err)
	}

	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	g := stats[0]
	g.FirstCommit, g.LastCommit = time.Time{}, time.Time{}
	wantStats := StageStats{Stage: "gen", Units: 2, Records: 4, Kept: 2, Rejected: 1, Failed: 1,
		Requests: 3, CachedRequests: 1, PromptTokens: 110, CompletionTokens: 55, CostUSD: 0.75, Errors: 1,
		Rejections: []FilterCount{{Filter: "rouge", Count: 1, Reasons: []ReasonCount{{"too similar", 1, []string{"too similar"}}}}},
		Failures:   []ReasonCount{{"model: timeout", 1, []string{"model: timeout"}}},
	}
	if !reflect.DeepEqual(g, wantStats) {
		t.Errorf("Stats[gen] =\n %+v\nwant\n %+v", g, wantStats)
	}
	if len(stats) != 2 || stats[1].Stage != "inst" || stats[1].Kept != 1 || stats[1].Units != 1 {
		t.Errorf("Stats[inst] = %+v", stats[1:])
	}
	if stats[0].FirstCommit.IsZero() || stats[0].LastCommit.Before(stats[0].FirstCommit) {
		t.Errorf("commit times = %v .. %v", stats[0].FirstCommit, stats[0].LastCommit)
	}
}

func TestStatsRejectionOrder(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var recs []*record.Record
	add := func(filter, reason string, n int) {
		for range n {
			r := &record.Record{ID: fmt.Sprint("r", len(recs)), Seq: int64(len(recs)), Status: record.Rejected,
				Decisions: []record.Decision{{Filter: filter, Reason: reason}}}
			recs = append(recs, r)
		}
	}
	add("rouge", "similar to A", 5)
	add("rouge", "similar to B", 2)
	add("rouge", "similar to C", 1)
	add("rouge", "similar to D", 1)
	// Reasons that differ only in their numbers are one reason.
	add("words", "12 words > 10", 2)
	add("words", "15 words > 10", 3)
	add("words", "1.5 words > 10", 1)
	add("blacklist", "image", 3)
	add("length", "too short", 9)
	// Near-duplicates of many records are one kind, shown with examples.
	for i := range 5 {
		add("dedup", fmt.Sprintf("near-duplicate of clean:prompts:p.jsonl:%d (est. Jaccard 0.8%d)", 100+i, i), 1)
	}
	add("dedup", "exact duplicate of clean:prompts:p.jsonl:7", 2)
	// Two failing decisions of one filter on one record count as one record.
	recs = append(recs, &record.Record{ID: "two", Seq: 99, Status: record.Rejected,
		Decisions: []record.Decision{{Filter: "blacklist", Reason: "image"}, {Filter: "blacklist", Reason: "draw"}}})
	if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := []FilterCount{
		{"rouge", 9, []ReasonCount{{"similar to A", 5, []string{"similar to A"}}, {"similar to B", 2, []string{"similar to B"}}, {"similar to C", 1, []string{"similar to C"}}}},
		{"length", 9, []ReasonCount{{"too short", 9, []string{"too short"}}}},
		{"dedup", 7, []ReasonCount{
			{"near-duplicate of … (est. Jaccard …)", 5, []string{"near-duplicate of clean:prompts:p.jsonl:100 (est. Jaccard 0.80)", "near-duplicate of clean:prompts:p.jsonl:101 (est. Jaccard 0.81)"}},
			{"exact duplicate of …", 2, []string{"exact duplicate of clean:prompts:p.jsonl:7"}}}},
		{"words", 6, []ReasonCount{{"… words > …", 6, []string{"15 words > 10", "12 words > 10"}}}},
		{"blacklist", 4, []ReasonCount{{"image", 4, []string{"image"}}, {"draw", 1, []string{"draw"}}}},
	}
	// rouge and length tie at 9: the tie breaks by filter name.
	want[0], want[1] = want[1], want[0]
	if !reflect.DeepEqual(stats[0].Rejections, want) {
		t.Errorf("Rejections =\n %+v\nwant\n %+v", stats[0].Rejections, want)
	}
}

func TestIdempotentReplay(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	u := pipeline.Unit{Stage: "gen", Key: "b1", Usage: pipeline.UnitUsage{Requests: 3, PromptTokens: 30, CostUSD: 1.5},
		Records: []*record.Record{fullRecord("gen", "a", 1, record.Kept), fullRecord("gen", "b", 2, record.Rejected)}}
	for range 3 {
		if err := s.Commit(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	if n, _ := s.Count(ctx, "gen", ""); n != 2 {
		t.Errorf("after 3 replays Count = %d, want 2", n)
	}
	stats, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if g := stats[0]; g.Units != 1 || g.Requests != 3 || g.PromptTokens != 30 || g.CostUSD != 1.5 {
		t.Errorf("after replays stats = %+v, want usage counted once", g)
	}
	// A replay that changes a record (a rerun with a different decision) wins.
	u.Records[1] = fullRecord("gen", "b", 2, record.Kept)
	if err := s.Commit(ctx, u); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx, "gen", record.Kept); n != 2 {
		t.Errorf("after changed replay kept = %d, want 2", n)
	}
}

func TestCommitValidation(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	for _, c := range []struct {
		name string
		u    pipeline.Unit
	}{
		{"no stage", pipeline.Unit{Key: "k"}},
		{"no key", pipeline.Unit{Stage: "s"}},
		{"nil record", pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{nil}}},
		{"no id", pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{Status: record.Kept}}}},
		{"bad status", pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{ID: "x", Status: "maybe"}}}},
		{"duplicate id", pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{ID: "x", Status: record.Kept}, {ID: "x", Status: record.Rejected}}}},
		{"other stage", pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{ID: "x", Stage: "t", Status: record.Kept}}}},
	} {
		err := s.Commit(ctx, c.u)
		if err == nil {
			t.Errorf("%s: Commit succeeded, want error", c.name)
			continue
		}
		if got := err.Error(); len(got) < 7 || got[:7] != "store: " {
			t.Errorf("%s: error %q lacks the store: prefix", c.name, got)
		}
	}
	if n, _ := s.Count(ctx, "", ""); n != 0 {
		t.Errorf("invalid commits left %d records", n)
	}
	if d, _ := s.DoneUnits(ctx, "s"); len(d) != 0 {
		t.Errorf("invalid commits left done-marks %v", d)
	}
}

func TestEmptyUnitIsDone(t *testing.T) {
	// A unit that produced nothing (every sample failed to parse) is still done.
	ctx := context.Background()
	s := openTemp(t)
	if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: "empty", Usage: pipeline.UnitUsage{Requests: 1}}); err != nil {
		t.Fatal(err)
	}
	if d, _ := s.DoneUnits(ctx, "s"); !d["empty"] {
		t.Errorf("DoneUnits = %v, want empty unit done", d)
	}
}

func TestCommitAfterCancel(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{ID: "x", Status: record.Kept}}}); err != nil {
		t.Fatalf("Commit with a cancelled ctx = %v; finished work must still be kept", err)
	}
	if err := s.Put(ctx, "key", []byte("v")); err != nil {
		t.Fatalf("Put with a cancelled ctx = %v", err)
	}
	if n, _ := s.Count(context.Background(), "s", ""); n != 1 {
		t.Errorf("Count = %d, want 1", n)
	}
}

func TestCache(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if _, ok, err := s.Get(ctx, "k"); ok || err != nil {
		t.Fatalf("Get(missing) = ok %v, err %v", ok, err)
	}
	if err := s.Put(ctx, "k", []byte(`{"choices":[]}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "empty", nil); err != nil {
		t.Fatal(err)
	}
	if v, ok, err := s.Get(ctx, "k"); !ok || err != nil || string(v) != `{"choices":[]}` {
		t.Errorf("Get(k) = %q, %v, %v", v, ok, err)
	}
	if v, ok, err := s.Get(ctx, "empty"); !ok || err != nil || len(v) != 0 {
		t.Errorf("Get(empty) = %q, %v, %v", v, ok, err)
	}
	if err := s.Put(ctx, "k", []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if v, _, _ := s.Get(ctx, "k"); string(v) != "v2" {
		t.Errorf("after overwrite Get(k) = %q", v)
	}
}

func TestMeta(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Meta(ctx); !errors.Is(err, ErrNotFound) {
		t.Errorf("Meta before PutMeta: %v, want ErrNotFound", err)
	}
	m := Meta{Config: "stages:\n  - name: gen\n", Source: "pipelines/demo.yaml", Seed: -42, Created: t0.Add(123 * time.Nanosecond), Version: "v0.1.0"}
	if err := s.PutMeta(ctx, m); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s, err = OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Meta(ctx)
	if err != nil {
		t.Fatal(err)
	}
	m.ConfigHash = HashConfig(m.Config)
	if !reflect.DeepEqual(got, m) {
		t.Errorf("Meta = %+v, want %+v", got, m)
	}
	if v, ok, err := s.MetaValue(ctx, "config_source"); v != m.Source || !ok || err != nil {
		t.Errorf("MetaValue(config_source) = %q, %v, %v", v, ok, err)
	}
	if err := s.SetMetaValue(ctx, "x", "y"); err == nil {
		t.Error("SetMetaValue on a read-only store succeeded")
	}
}

func TestMetaValues(t *testing.T) {
	// The runner writes metadata key by key; Meta must read what it wrote.
	ctx := context.Background()
	s := openTemp(t)
	if v, ok, err := s.MetaValue(ctx, "config_hash"); ok || err != nil || v != "" {
		t.Errorf("MetaValue(missing) = %q, %v, %v", v, ok, err)
	}
	for _, kv := range [][2]string{{"config_hash", "abc"}, {"config", "a: 1"}, {"config_source", "p.yaml"},
		{"seed", "9"}, {"created", "2026-11-28T12:00:00Z"}, {"version", "v1"}, {"custom", "kept too"}} {
		if err := s.SetMetaValue(ctx, kv[0], kv[1]); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetMetaValue(ctx, "seed", "10"); err != nil {
		t.Fatal(err)
	}
	got, err := s.Meta(ctx)
	if err != nil {
		t.Fatal(err)
	}
	want := Meta{Config: "a: 1", ConfigHash: "abc", Source: "p.yaml", Seed: 10, Created: t0, Version: "v1"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("Meta = %+v, want %+v", got, want)
	}
	if v, ok, _ := s.MetaValue(ctx, "custom"); !ok || v != "kept too" {
		t.Errorf("MetaValue(custom) = %q, %v", v, ok)
	}
}

func TestReopenAndCloseTwice(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "a", "b", "run")
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{ID: "x", Status: record.Kept}}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileName)); err != nil {
		t.Fatal(err)
	}
	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if n, _ := s.Count(ctx, "s", ""); n != 1 {
		t.Errorf("after reopen Count = %d, want 1", n)
	}
}

func TestOpenReadOnly(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "missing")
	if _, err := OpenReadOnly(ctx, missing); !errors.Is(err, ErrNotFound) {
		t.Errorf("OpenReadOnly(missing) = %v, want ErrNotFound", err)
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("OpenReadOnly created %s", missing)
	}
	w := openTemp(t)
	if err := w.Commit(ctx, pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{ID: "x", Status: record.Kept}}}); err != nil {
		t.Fatal(err)
	}
	// A reader alongside a live writer, as `synthloop status` during a run.
	r, err := OpenReadOnly(ctx, w.Dir())
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if n, err := r.Count(ctx, "s", ""); err != nil || n != 1 {
		t.Errorf("read-only Count = %d, %v", n, err)
	}
	if err := r.Commit(ctx, pipeline.Unit{Stage: "s", Key: "k2"}); err == nil {
		t.Error("Commit on a read-only store succeeded")
	}
	if err := r.Put(ctx, "k", nil); err == nil {
		t.Error("Put on a read-only store succeeded")
	}
	if err := w.Commit(ctx, pipeline.Unit{Stage: "s", Key: "k3", Records: []*record.Record{{ID: "y", Status: record.Kept}}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := r.Count(ctx, "s", ""); n != 2 {
		t.Errorf("reader does not see the writer's new commit: Count = %d", n)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	dir := s.Dir()
	if _, err := s.w.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", SchemaVersion+1)); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := Open(ctx, dir); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("Open(newer) = %v, want ErrNewerSchema", err)
	}
	if _, err := OpenReadOnly(ctx, dir); !errors.Is(err, ErrNewerSchema) {
		t.Errorf("OpenReadOnly(newer) = %v, want ErrNewerSchema", err)
	}
}

func TestNotARunDatabase(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, FileName), []byte("this is not sqlite, just text that is long enough to have a header of sorts....."), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(ctx, dir); err == nil {
		t.Error("Open on a text file succeeded")
	}
	// A valid SQLite file that some other program made.
	dir2 := t.TempDir()
	db, err := sql.Open("sqlite", filepath.Join(dir2, FileName))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("CREATE TABLE other (x)"); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open(ctx, dir2); err == nil {
		t.Error("Open on a foreign SQLite database succeeded")
	}
}

func TestRecordsEarlyBreakReleasesConnection(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var recs []*record.Record
	for i := range 100 {
		recs = append(recs, &record.Record{ID: fmt.Sprint(i), Seq: int64(i), Status: record.Kept})
	}
	if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: "k", Records: recs}); err != nil {
		t.Fatal(err)
	}
	for range 20 {
		for r, err := range s.Records(ctx, "s", "") {
			if err != nil {
				t.Fatal(err)
			}
			_ = r
			break
		}
	}
	if n := s.r.Stats().InUse; n != 0 {
		t.Errorf("%d read connections still in use after broken-off iterations", n)
	}
	// Commits while an iteration is open must not block (reads use their own pool).
	n := 0
	for r, err := range s.Records(ctx, "s", "") {
		if err != nil {
			t.Fatal(err)
		}
		if n == 0 {
			if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: "k2", Records: []*record.Record{{ID: "late", Seq: 1000, Status: record.Kept}}}); err != nil {
				t.Fatal(err)
			}
		}
		_ = r
		n++
	}
	if n != 100 {
		t.Errorf("iteration saw %d records, want the 100 of its snapshot", n)
	}
}

func TestRecordsCancelled(t *testing.T) {
	s := openTemp(t)
	if err := s.Commit(context.Background(), pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{ID: "x", Status: record.Kept}}}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	var gotErr error
	for _, err := range s.Records(ctx, "s", "") {
		gotErr = err
	}
	if !errors.Is(gotErr, context.Canceled) {
		t.Errorf("Records with cancelled ctx yielded error %v, want context.Canceled", gotErr)
	}
}

func TestConcurrentCommits(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const workers, perWorker = 8, 40
	var wg sync.WaitGroup
	errc := make(chan error, workers*2)
	for w := range workers {
		wg.Go(func() {
			for i := range perWorker {
				k := fmt.Sprintf("w%d-u%d", w, i)
				if err := s.Put(ctx, "req-"+k, []byte(k)); err != nil {
					errc <- err
					return
				}
				u := pipeline.Unit{Stage: fmt.Sprint("stage", w%2), Key: k, Usage: pipeline.UnitUsage{Requests: 1},
					Records: []*record.Record{
						{ID: k + "-0", Seq: int64(i * 2), Status: record.Kept},
						{ID: k + "-1", Seq: int64(i*2 + 1), Status: record.Rejected},
					}}
				if err := s.Commit(ctx, u); err != nil {
					errc <- err
					return
				}
			}
		})
		// Readers run alongside the writers.
		wg.Go(func() {
			for range perWorker / 4 {
				for _, err := range s.Records(ctx, "stage0", record.Kept) {
					if err != nil {
						errc <- err
						return
					}
				}
				if _, err := s.Stats(ctx); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errc)
	for err := range errc {
		t.Error(err)
	}
	if n, _ := s.Count(ctx, "", ""); n != workers*perWorker*2 {
		t.Errorf("Count = %d, want %d", n, workers*perWorker*2)
	}
	stats, _ := s.Stats(ctx)
	units := 0
	for _, st := range stats {
		units += st.Units
		if st.Requests != st.Units {
			t.Errorf("stage %s: requests %d != units %d", st.Stage, st.Requests, st.Units)
		}
	}
	if units != workers*perWorker {
		t.Errorf("units = %d, want %d", units, workers*perWorker)
	}
	for w := range workers {
		k := fmt.Sprintf("w%d-u%d", w, perWorker-1)
		if v, ok, _ := s.Get(ctx, "req-"+k); !ok || string(v) != k {
			t.Errorf("cache %s = %q, %v", k, v, ok)
		}
	}
}

func collect(t *testing.T, seq func(func(*record.Record, error) bool)) []*record.Record {
	t.Helper()
	var out []*record.Record
	for r, err := range seq {
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

func idsOf(rs []*record.Record) []string {
	var ids []string
	for _, r := range rs {
		ids = append(ids, r.ID)
	}
	return ids
}

func TestSecondWriterLockedOut(t *testing.T) {
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "run")
	s, err := Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Open(ctx, dir)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open = %v, want ErrLocked", err)
	}
	if want := fmt.Sprintf("process %d", os.Getpid()); !strings.Contains(err.Error(), want) {
		t.Errorf("lock error %q does not name the holder (%s)", err, want)
	}
	// Readers are not locked out.
	r, err := OpenReadOnly(ctx, dir)
	if err != nil {
		t.Fatalf("OpenReadOnly beside a writer: %v", err)
	}
	r.Close()
	s.Close()
	s, err = Open(ctx, dir)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	s.Close()
}

func TestOddRunDirNames(t *testing.T) {
	ctx := context.Background()
	// Relative paths too: that is what `synthloop run` gets by default.
	t.Chdir(t.TempDir())
	for _, name := range []string{"runs/plain", "run with space", "run#1", "run%20x", "run?x=1", "ラン", "a:b"} {
		s, err := Open(ctx, name)
		if err != nil {
			t.Errorf("Open(%q): %v", name, err)
			continue
		}
		err = s.Commit(ctx, pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{ID: "x", Status: record.Kept}}})
		s.Close()
		if err != nil {
			t.Errorf("%q: %v", name, err)
			continue
		}
		if _, err := os.Stat(filepath.Join(name, FileName)); err != nil {
			t.Errorf("%q: database not inside the run directory: %v", name, err)
		}
		r, err := OpenReadOnly(ctx, name)
		if err != nil {
			t.Errorf("OpenReadOnly(%q): %v", name, err)
			continue
		}
		if n, err := r.Count(ctx, "", ""); n != 1 || err != nil {
			t.Errorf("%q: Count after reopen = %d, %v", name, n, err)
		}
		r.Close()
	}
	ents, _ := os.ReadDir(".")
	if len(ents) != 7 {
		var names []string
		for _, e := range ents {
			names = append(names, e.Name())
		}
		t.Errorf("stray files beside the run directories: %q", names)
	}
}

func TestInjectedClock(t *testing.T) {
	ctx := context.Background()
	clock := t0
	s, err := OpenWith(ctx, t.TempDir(), Options{Now: func() time.Time { clock = clock.Add(time.Second); return clock }})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	for i := range 3 {
		if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
	}
	st, err := s.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !st[0].FirstCommit.Equal(t0.Add(time.Second)) || !st[0].LastCommit.Equal(t0.Add(3*time.Second)) {
		t.Errorf("commit times = %v .. %v, want the injected clock's", st[0].FirstCommit, st[0].LastCommit)
	}
}

func TestDurableOption(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		durable bool
		want    int // PRAGMA synchronous: 1 NORMAL, 2 FULL
	}{{false, 1}, {true, 2}} {
		s, err := OpenWith(ctx, t.TempDir(), Options{Durable: c.durable})
		if err != nil {
			t.Fatal(err)
		}
		var got int
		err = s.write(func(ctx context.Context, tx *sql.Tx) error {
			return tx.QueryRowContext(ctx, "PRAGMA synchronous").Scan(&got)
		})
		if err != nil || got != c.want {
			t.Errorf("Durable %v: synchronous = %d, %v; want %d", c.durable, got, err, c.want)
		}
		var mode string
		if err := s.r.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("journal_mode = %q, %v; want wal", mode, err)
		}
		if err := s.Commit(ctx, pipeline.Unit{Stage: "s", Key: "k", Records: []*record.Record{{ID: "x", Status: record.Kept}}}); err != nil {
			t.Error(err)
		}
		s.Close()
	}
}

func TestSpentUSD(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	if v, err := s.SpentUSD(ctx); v != 0 || err != nil {
		t.Errorf("SpentUSD(empty) = %v, %v", v, err)
	}
	for i, cost := range []float64{0.25, 0.5, 0.125} {
		u := pipeline.Unit{Stage: fmt.Sprint("s", i%2), Key: fmt.Sprint("k", i), Usage: pipeline.UnitUsage{CostUSD: cost}}
		if err := s.Commit(ctx, u); err != nil {
			t.Fatal(err)
		}
		if i == 0 { // a replay must not count twice
			if err := s.Commit(ctx, u); err != nil {
				t.Fatal(err)
			}
		}
	}
	if v, err := s.SpentUSD(ctx); v != 0.875 || err != nil {
		t.Errorf("SpentUSD = %v, %v; want 0.875 across stages, replay counted once", v, err)
	}
}

func TestReasonKind(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"near-duplicate of clean:prompts:prompts.jsonl:106384 (est. Jaccard 0.83)", "near-duplicate of … (est. Jaccard …)"},
		{"exact duplicate of instructions/b0003-2", "exact duplicate of …"},
		{"max ROUGE-L 0.83 > 0.7", "max ROUGE-L … > …"},
		{"ROUGE-L 0.91 with seed:12, above 0.7", "ROUGE-L … with …, above …"},
		{"12 words", "… words"},
		{"v1.2.3", "…"},
		{`no tasks found in the reply (finish reason "length")`, `no tasks found in the reply (finish reason "length")`},
		{"model: teacher (openai/gpt-4o at https://x/v1): HTTP 500", "model: teacher (… at …): HTTP …"},
		{"ends with '.'", "ends with '.'"},
		{"3.", "…."},
		{"too  short", "too  short"},
		{"", ""},
	} {
		if got := ReasonKind(c.in); got != c.want {
			t.Errorf("ReasonKind(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

// TestReopenFailed reopens the units that committed a failed record: each
// goes whole (records, done-mark, usage), and nothing else changes.
func TestReopenFailed(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	units := []pipeline.Unit{
		{Stage: "gen", Key: "ok", Usage: pipeline.UnitUsage{Requests: 1}, Records: []*record.Record{
			fullRecord("gen", "ok/0", 0, record.Kept), fullRecord("gen", "ok/1", 1, record.Rejected)}},
		{Stage: "gen", Key: "mixed", Usage: pipeline.UnitUsage{Requests: 2}, Records: []*record.Record{
			fullRecord("gen", "mixed/0", 10, record.Kept), fullRecord("gen", "mixed/1", 11, record.Failed)}},
		{Stage: "gen", Key: "failed", Usage: pipeline.UnitUsage{Requests: 4}, Records: []*record.Record{
			fullRecord("gen", "failed/0", 20, record.Failed)}},
		{Stage: "next", Key: "other", Records: []*record.Record{fullRecord("next", "other/0", 0, record.Failed)}},
	}
	for _, u := range units {
		if err := s.Commit(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.ReopenFailed(ctx, "gen")
	if err != nil || n != 2 {
		t.Fatalf("ReopenFailed(gen) = %d, %v; want 2 units", n, err)
	}
	done, err := s.DoneUnits(ctx, "gen")
	if err != nil {
		t.Fatal(err)
	}
	if want := map[string]bool{"ok": true}; !reflect.DeepEqual(done, want) {
		t.Errorf("done units of gen after reopening = %v, want %v", done, want)
	}
	var ids []string
	for r, err := range s.Records(ctx, "gen", "") {
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.ID)
	}
	if want := []string{"ok/0", "ok/1"}; !reflect.DeepEqual(ids, want) {
		t.Errorf("records of gen after reopening = %v, want %v", ids, want)
	}
	if spent, _ := s.Stats(ctx); spent[0].Requests != 1 {
		t.Errorf("gen counts %d requests after reopening, want 1: a redo would count the reopened units twice", spent[0].Requests)
	}
	if n, _ := s.Count(ctx, "next", record.Failed); n != 1 {
		t.Errorf("stage next has %d failed records, want its 1 untouched", n)
	}
	if n, err := s.ReopenFailed(ctx, "gen"); n != 0 || err != nil {
		t.Errorf("second ReopenFailed(gen) = %d, %v; want 0, nil", n, err)
	}
	// The redo commits the unit again, as the first run did.
	if err := s.Commit(ctx, pipeline.Unit{Stage: "gen", Key: "failed", Records: []*record.Record{fullRecord("gen", "failed/0", 20, record.Kept)}}); err != nil {
		t.Fatal(err)
	}
	if n, _ := s.Count(ctx, "gen", record.Kept); n != 2 {
		t.Errorf("gen has %d kept records after the redo, want 2", n)
	}
}

// TestRecordsAfter reads a stage from every cursor, ties in Seq included,
// and wants what Records yields after it.
func TestRecordsAfter(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	var recs []*record.Record
	for i, seq := range []int64{-3, 0, 0, 0, 2, 5, 5, 9} {
		st := record.Kept
		if i == 4 {
			st = record.Rejected
		}
		recs = append(recs, &record.Record{ID: fmt.Sprintf("r%d", 9-i), Seq: seq, Status: st})
	}
	if err := s.Commit(ctx, pipeline.Unit{Stage: "a", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	var all []string
	for r, err := range s.Records(ctx, "a", record.Kept) {
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, fmt.Sprint(r.Seq, r.ID))
	}
	ids := func(seq int64, id string) []string {
		var got []string
		for r, err := range s.RecordsAfter(ctx, "a", record.Kept, seq, id) {
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, fmt.Sprint(r.Seq, r.ID))
		}
		return got
	}
	if got := ids(-1<<63, ""); !reflect.DeepEqual(got, all) {
		t.Errorf("RecordsAfter(start) = %v, want %v", got, all)
	}
	for i, r := range recs {
		if r.Status != record.Kept {
			continue
		}
		k := slices.Index(all, fmt.Sprint(r.Seq, r.ID))
		if got := ids(r.Seq, r.ID); !slices.Equal(got, all[k+1:]) {
			t.Errorf("RecordsAfter(%d, %s) (record %d) = %v, want %v", r.Seq, r.ID, i, got, all[k+1:])
		}
	}
}
