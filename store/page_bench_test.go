package store

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

var pageRecordsN = flag.Int("page-records", 100_000, "records in the stage BenchmarkRecordPage pages through")

// pageBenchStore writes a stage of n judged records (~400 bytes of JSON
// each, a third rejected by the judge) in units of 1,000.
func pageBenchStore(b *testing.B, n int) string {
	b.Helper()
	dir := filepath.Join(b.TempDir(), "run")
	s, err := Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	start := time.Now()
	for u := 0; u*1000 < n; u++ {
		unit := pipeline.Unit{Stage: "judge", Key: fmt.Sprintf("u%07d", u)}
		for j := 0; j < 1000 && u*1000+j < n; j++ {
			i := u*1000 + j
			sc := float64(i*7919%100) / 10
			r := &record.Record{ID: fmt.Sprintf("judge:%08d", i), Seq: int64(i), Status: record.Kept,
				Instruction: "Explain why the sky looks blue at noon and red at sunset, in two sentences.",
				Output:      "Air molecules scatter short blue wavelengths most; at sunset light crosses more air, so red remains.",
				Scores:      map[string]float64{"judge": sc},
				Prov:        record.Provenance{Generator: "judge", Stage: "judge", Model: "m", Params: map[string]any{"threshold": 5.0}}}
			if sc < 5 {
				r.Status, r.Decisions = record.Rejected, []record.Decision{{Filter: "judge", Value: sc, Reason: "scored low"}}
			}
			unit.Records = append(unit.Records, r)
		}
		if err := s.Commit(context.Background(), unit); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("wrote %d records in %v", n, time.Since(start).Round(time.Millisecond))
	start = time.Now()
	if err := s.IndexScores(context.Background()); err != nil {
		b.Fatal(err)
	}
	b.Logf("indexed their scores in %v", time.Since(start).Round(time.Millisecond))
	return dir
}

// BenchmarkRecordPage pages a big stage the way the review app does:
//
//	go test -run XXX -bench RecordPage -page-records 1000000 -benchtime 20x ./store
func BenchmarkRecordPage(b *testing.B) {
	ctx := context.Background()
	dir := pageBenchStore(b, *pageRecordsN)
	s, err := OpenReadOnly(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	mid := encodeCursor(cursor{Seq: int64(*pageRecordsN / 2), ID: fmt.Sprintf("judge:%08d", *pageRecordsN/2)})
	for _, c := range []struct {
		name string
		q    PageQuery
	}{
		{"first", PageQuery{Stage: "judge"}},
		{"middle", PageQuery{Stage: "judge", After: mid}},
		{"kept/middle", PageQuery{Stage: "judge", Status: record.Kept, After: mid}},
		{"rejected-by-judge", PageQuery{Stage: "judge", RejectedBy: "judge"}},
		{"pending", PageQuery{Stage: "judge", Pending: true, Reviewer: "ann"}},
		{"by-score", PageQuery{Stage: "judge", Sort: "score"}},
		{"by-score/middle", PageQuery{Stage: "judge", Sort: "score", After: encodeCursor(cursor{K: -5, Seq: int64(*pageRecordsN / 2), ID: fmt.Sprintf("judge:%08d", *pageRecordsN/2)})}},
		{"uncertain", PageQuery{Stage: "judge", Sort: "uncertain"}},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				p, err := s.RecordPage(ctx, c.q)
				if err != nil || len(p.Records) != 50 {
					b.Fatalf("%d records, %v", len(p.Records), err)
				}
			}
		})
	}
	// What opening the app costs before its first page: the store, the
	// stages with their counts and the filters that rejected.
	b.Run("open+stages", func(b *testing.B) {
		for b.Loop() {
			s, err := OpenReadOnly(ctx, dir)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.StageCounts(ctx); err != nil {
				b.Fatal(err)
			}
			s.Close()
		}
	})
}
