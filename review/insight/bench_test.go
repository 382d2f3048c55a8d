package insight

import (
	"context"
	"flag"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/cputime"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

var benchRecords = flag.Int("insight-records", 100_000, "records in the stage BenchmarkLoad reads")

// BenchmarkLoad computes the Insight figures of a big stage as the review
// app does, over the default sample:
//
//	go test -run XXX -bench Load -benchtime 3x ./review/insight -args -insight-records=1000000
func BenchmarkLoad(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "run")
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	start := time.Now()
	for u := 0; u*1000 < *benchRecords; u++ {
		unit := pipeline.Unit{Stage: "answers", Key: fmt.Sprintf("u%07d", u)}
		for i := u * 1000; i < min(*benchRecords, (u+1)*1000); i++ {
			r := &record.Record{ID: fmt.Sprintf("answers:%08d", i), Seq: int64(i), Status: record.Kept,
				Instruction: fmt.Sprintf("Write a short note number %d about the tides of the northern sea.", i%997),
				Output:      fmt.Sprintf("Tides rise and fall twice a day; note %d says the moon pulls the water.", i%991),
				Scores:      map[string]float64{"judge": float64(i % 11)}}
			if i%4 == 0 {
				r.Status, r.Decisions = record.Rejected, []record.Decision{{Filter: "rouge", Value: 0.8}}
			}
			unit.Records = append(unit.Records, r)
		}
		if err := st.Commit(context.Background(), unit); err != nil {
			b.Fatal(err)
		}
	}
	b.Logf("wrote %d records in %v", *benchRecords, time.Since(start).Round(time.Millisecond))
	b.ReportAllocs()
	b.ResetTimer()
	cpu := cputime.Process() // the CPU clock, which other processes on a shared machine do not move
	for b.Loop() {
		rep, err := Load(context.Background(), st, "answers", DefaultLimit)
		if err != nil {
			b.Fatal(err)
		}
		if rep.Sampled != min(DefaultLimit, *benchRecords) {
			b.Fatalf("sampled %d", rep.Sampled)
		}
	}
	b.ReportMetric((cputime.Process()-cpu).Seconds()/float64(b.N), "cpu-s/op")
}
