package main

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/cputime"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/store"
)

// BenchmarkStreaming runs sample → generate → generate, the two generating
// stages on two servers of their own, staged and streaming. "instant":
// servers that answer at once, so what differs is synthloop's own cost per
// record (records/cpu-s, client, servers and store together). "latency":
// servers that answer after a fixed 20 ms, where a staged run keeps one
// server idle while the other works and streaming keeps both busy (the
// wall clock, records/s, is what differs; on a loaded machine it is only
// indicative). records counts the records of the two generating stages.
func BenchmarkStreaming(b *testing.B) {
	for _, c := range []struct {
		name    string
		n       int
		latency time.Duration
	}{{"instant", 4000, 0}, {"latency", 320, 20 * time.Millisecond}} {
		for _, staged := range []bool{true, false} {
			mode := "streaming"
			if staged {
				mode = "staged"
			}
			b.Run(c.name+"/"+mode, func(b *testing.B) { benchStreaming(b, c.n, c.latency, staged) })
		}
	}
}

func benchStreaming(b *testing.B, n int, latency time.Duration, staged bool) {
	var servers []*modeltest.Server
	for range 2 {
		srv := modeltest.NewServer(modeltest.Texts("A short answer."), modeltest.WithLatency(latency))
		defer srv.Close()
		servers = append(servers, srv)
	}
	text := fmt.Sprintf(`name: streambench
seed: 1
concurrency: 16
models:
  writer:
    ref: openai-compatible/instant
    base_url: %s
    max_concurrency: 64
  checker:
    ref: openai-compatible/instant
    base_url: %s
    max_concurrency: 64
stages:
  - name: tasks
    type: sample
    with:
      count: %d
      columns:
        - name: topic
          kind: category
          values: [tides, taxes, baking, sleep]
  - name: answers
    type: generate
    with:
      model: writer
      prompt: "Task {{.id}}: explain {{.topic}}."
      max_tokens: 64
  - name: checks
    type: generate
    with:
      model: checker
      prompt: "Check the answer to {{.id}}: {{.output}}"
      output: check
      max_tokens: 64
`, servers[0].URL, servers[1].URL, n)
	cfg, err := pipeline.ParseConfig("streambench.yaml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	records := 0
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		st, err := store.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		if err := pipeline.Run(ctx, cfg, pipeline.Options{Store: st, Cache: st, Staged: staged}); err != nil {
			b.Fatal(err)
		}
		stats, err := st.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range stats {
			if s.Stage == "answers" || s.Stage == "checks" {
				if s.Kept != n {
					b.Fatalf("%s: %+v, want %d kept", s.Stage, s, n)
				}
				records += s.Kept
			}
		}
		st.Close()
	}
	cpu := (cputime.Process() - cpu0).Seconds()
	b.ReportMetric(float64(records)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(records)/cpu, "records/cpu-s")
	b.ReportMetric(cpu/float64(b.N), "cpu-s/op")
}
