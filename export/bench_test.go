package export

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// BenchmarkWrite measures export throughput over a 20,000-record stage
// (~1 KB per record): go test -run XXX -bench Write ./export
func BenchmarkWrite(b *testing.B) {
	ctx := context.Background()
	s, err := store.Open(ctx, b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	const units, per = 2000, 10
	for i := range units {
		u := pipeline.Unit{Stage: "gen", Key: fmt.Sprint("u", i)}
		for j := range per {
			st := record.Kept
			if j == 9 {
				st = record.Rejected
			}
			u.Records = append(u.Records, &record.Record{ID: fmt.Sprintf("r%d-%d", i, j), Seq: int64(i*per + j), Status: st,
				Instruction: "Write a short poem about the sea, number " + fmt.Sprint(i*per+j),
				Output:      strings.Repeat("Waves fold into foam, the gull writes its name in salt. ", 14),
				Prov:        prov("selfinstruct", "gen", j)})
		}
		if err := s.Commit(ctx, u); err != nil {
			b.Fatal(err)
		}
	}
	for _, format := range []string{"alpaca", "openai", "parquet", "hf"} {
		b.Run(format, func(b *testing.B) {
			out := filepath.Join(b.TempDir(), "out")
			written := 0
			for range b.N {
				c, err := Write(ctx, s, Options{Format: format}, out)
				if err != nil {
					b.Fatal(err)
				}
				written += c.Written
			}
			b.ReportMetric(float64(written)/b.Elapsed().Seconds(), "records/s")
		})
	}
}
