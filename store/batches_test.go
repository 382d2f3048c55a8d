package store

import (
	"context"
	"fmt"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/record"
)

// TestBatches: a batch and its request map are committed whole; a result
// is committed once, with its cache entry, and a second commit of it (a
// rerun reading the same results again) changes nothing.
func TestBatches(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	items := []model.BatchItem{
		{CustomID: "k1", Request: model.Request{Messages: []model.Message{{Role: "user", Content: "one"}}}},
		{CustomID: "k2", Request: model.Request{Messages: []model.Message{{Role: "user", Content: "two"}}, MaxTokens: 9}},
	}
	b := model.BatchInfo{Tag: "t1", Model: "teacher", Provider: "openai", State: model.BatchPending, Created: t0, Updated: t0}
	if err := s.AddBatch(ctx, b, items); err != nil {
		t.Fatal(err)
	}
	infos, got, err := s.Batches(ctx, "teacher")
	if err != nil || len(infos) != 1 || infos[0].Items != 2 || len(got[0]) != 2 || got[0][1].Request.MaxTokens != 9 {
		t.Fatalf("Batches = %+v %+v, %v", infos, got, err)
	}
	b.ID, b.State, b.Status = "batch_1", model.BatchRunning, "in_progress"
	if err := s.UpdateBatch(ctx, b); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := s.BatchResult(ctx, "t1", "k1", "done", "", "k1", []byte(`{"v":1}`)); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.BatchResult(ctx, "t1", "k2", "failed", "HTTP 400", "", nil); err != nil {
		t.Fatal(err)
	}
	if v, ok, _ := s.Get(ctx, "k1"); !ok || string(v) != `{"v":1}` {
		t.Errorf("cache k1 = %q %v", v, ok)
	}
	_, got, _ = s.Batches(ctx, "teacher")
	if len(got[0]) != 0 {
		t.Errorf("items still pending: %+v", got[0])
	}
	all, err := s.AllBatches(ctx)
	if err != nil || len(all) != 1 || all[0].ID != "batch_1" || all[0].Succeeded != 1 || all[0].Failed != 1 {
		t.Errorf("AllBatches = %+v, %v", all, err)
	}
	b.State = model.BatchFinished
	s.UpdateBatch(ctx, b)
	if infos, _, _ := s.Batches(ctx, "teacher"); len(infos) != 0 {
		t.Errorf("a finished batch is still open: %+v", infos)
	}
	// The result's entry is found by a reader and after a reopen, where
	// only the table can tell.
	ro, err := OpenReadOnly(ctx, s.Dir())
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := ro.Get(ctx, "k1"); err != nil || !ok || string(v) != `{"v":1}` {
		t.Errorf("read-only: cache k1 = %q %v %v", v, ok, err)
	}
	ro.Close()
	s = reopen(t, s)
	if v, ok, err := s.Get(ctx, "k1"); err != nil || !ok || string(v) != `{"v":1}` {
		t.Errorf("reopened: cache k1 = %q %v %v", v, ok, err)
	}
}

// TestUpgrade opens runs as versions 2 (no batch or review tables) and 3 (no
// review tables) left them: read-only they read as empty; a writable open adds
// the missing tables and keeps the records.
func TestUpgrade(t *testing.T) {
	for _, tc := range []struct {
		version int
		drop    []string
	}{
		{2, []string{`DROP TABLE batch_items`, `DROP TABLE batches`, `DROP TABLE reviews`, `DROP TABLE review_sample`}},
		{3, []string{`DROP TABLE reviews`, `DROP TABLE review_sample`}},
	} {
		t.Run(fmt.Sprint(tc.version), func(t *testing.T) {
			ctx := context.Background()
			s := openTemp(t)
			dir := s.Dir()
			pageRecords(t, s, 2)
			for _, q := range append(tc.drop, fmt.Sprintf(`PRAGMA user_version = %d`, tc.version)) {
				if _, err := s.w.ExecContext(ctx, q); err != nil {
					t.Fatal(err)
				}
			}
			s.Close()
			r, err := OpenReadOnly(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if all, err := r.AllBatches(ctx); err != nil || len(all) != 0 {
				t.Errorf("batches of a version %d run read-only: %v, %v", tc.version, all, err)
			}
			for _, err := range r.Reviews(ctx, "", "") {
				t.Fatalf("reviews of a version %d run: %v", tc.version, err)
			}
			r.Close()
			w, err := Open(ctx, dir)
			if err != nil {
				t.Fatalf("upgrade: %v", err)
			}
			defer w.Close()
			if err := w.AddBatch(ctx, model.BatchInfo{Tag: "t", Model: "m", State: model.BatchPending, Created: t0, Updated: t0}, nil); err != nil {
				t.Errorf("batch after the upgrade: %v", err)
			}
			if _, err := w.AddReview(ctx, Review{RecordID: "r001", Reviewer: "ann", Kind: Accept}); err != nil {
				t.Errorf("review after the upgrade: %v", err)
			}
			if n, err := w.Count(ctx, "j", record.Rejected); err != nil || n != 2 {
				t.Errorf("records after the upgrade: %d, %v", n, err)
			}
		})
	}
}
