package main

import (
	"context"
	"fmt"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/store"
)

// BenchmarkPipeline measures synthloop's own overhead: Self-Instruct and
// instance generation through the HTTP client, the reliability layer, the
// filters and the SQLite store, against a scripted server that answers
// instantly. records/s counts every stored record, kept or rejected.
func BenchmarkPipeline(b *testing.B) {
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	text := fmt.Sprintf(`name: bench
seed: 1
concurrency: 16
models:
  teacher:
    ref: openai-compatible/scripted-teacher
    base_url: %s
    max_concurrency: 64
stages:
  - name: instructions
    type: selfinstruct
    with:
      model: teacher
      target: 300
  - name: instances
    type: selfinstruct-instances
    with:
      model: teacher
`, srv.URL)
	cfg, err := pipeline.ParseConfig("bench.yaml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	records := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := b.TempDir()
		st, err := store.Open(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		if err := pipeline.Run(ctx, cfg, pipeline.Options{Store: st, Cache: st}); err != nil {
			b.Fatal(err)
		}
		stats, err := st.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range stats {
			records += s.Records
		}
		st.Close()
	}
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
}
