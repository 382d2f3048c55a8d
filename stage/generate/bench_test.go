package generate_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/cputime"
	"github.com/synthloop/synthloop/model/modeltest"
	_ "github.com/synthloop/synthloop/model/openai" // the openai-compatible provider
	"github.com/synthloop/synthloop/pipeline"
	_ "github.com/synthloop/synthloop/stage/generate"
	_ "github.com/synthloop/synthloop/stage/sample"
	"github.com/synthloop/synthloop/store"
)

// BenchmarkGenerate10k measures the generate stage end to end: a sample
// stage draws 10,000 records, and a generate stage renders a short template
// over each and asks an OpenAI-compatible server for one reply, through the
// pipeline runner, the reliability layer and response cache, the HTTP
// client and the SQLite run store. The server (modeltest) answers every
// request at once with the same short text, so what is measured is
// synthloop's own cost per record. records/s counts the generated records
// only, not the sampled ones. records/cpu-s divides them by the process's
// CPU time (client, server and store together), which a loaded machine
// changes far less than the wall clock.
func BenchmarkGenerate10k(b *testing.B) { benchGenerate(b, false) }

// BenchmarkGenerateStage10k measures the generate stage alone, as issue
// 13's "a one-request-per-record stage sustains N requests/s" reads: each
// iteration first runs the sample stage with the timer and the CPU clock
// stopped, then times a run of the generate stage over its 10,000 stored
// records (Options.Stages), so the sample stage's own draws and commits
// are left out of both figures.
func BenchmarkGenerateStage10k(b *testing.B) { benchGenerate(b, true) }

func benchGenerate(b *testing.B, split bool) {
	const n = 10000
	// No request log: thousands of logged requests would be garbage the
	// collector marks in the process measured, which a real server is not.
	srv := modeltest.NewServer(modeltest.Texts("A short answer."), modeltest.WithoutLog())
	defer srv.Close()
	text := fmt.Sprintf(`name: genbench
seed: 1
concurrency: 16
models:
  teacher:
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
        - name: level
          kind: int
          min: 1
          max: 5
  - name: answers
    type: generate
    with:
      model: teacher
      prompt: "Task {{.id}}: explain {{.topic}} at level {{.level}} of 5."
      max_tokens: 64
`, srv.URL, n)
	cfg, err := pipeline.ParseConfig("genbench.yaml", []byte(text))
	if err != nil {
		b.Fatal(err)
	}
	ctx := context.Background()
	generated := 0
	var txs, writes, units int64
	b.ReportAllocs()
	b.ResetTimer()
	var cpu time.Duration
	cpu0 := cputime.Process()
	for i := 0; i < b.N; i++ {
		st, err := store.Open(ctx, b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		opts := pipeline.Options{Store: st, Cache: st}
		if split {
			b.StopTimer()
			cpu += cputime.Process() - cpu0
			if err := pipeline.Run(ctx, cfg, pipeline.Options{Store: st, Cache: st, Stages: []string{"tasks"}}); err != nil {
				b.Fatal(err)
			}
			opts.Stages = []string{"answers"}
			cpu0 = cputime.Process()
			b.StartTimer()
		}
		if err := pipeline.Run(ctx, cfg, opts); err != nil {
			b.Fatal(err)
		}
		stats, err := st.Stats(ctx)
		if err != nil {
			b.Fatal(err)
		}
		for _, s := range stats {
			units += int64(s.Units)
			if s.Stage == "answers" {
				if s.Kept != n {
					b.Fatalf("answers: %+v, want %d kept", s, n)
				}
				generated += s.Kept
			}
		}
		t, w := st.WriteCounts()
		txs, writes = txs+t, writes+w
		st.Close()
	}
	cpu += cputime.Process() - cpu0
	b.ReportMetric(float64(generated)/b.Elapsed().Seconds(), "records/s")
	b.ReportMetric(float64(generated)/cpu.Seconds(), "records/cpu-s")
	b.ReportMetric(float64(writes)/float64(max(txs, 1)), "writes/tx")
	b.ReportMetric(float64(units)/float64(max(txs, 1)), "units/tx")
}
