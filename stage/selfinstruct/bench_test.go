package selfinstruct

import (
	"context"
	"testing"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/text"
)

// BenchmarkBootstrap measures the stage's own overhead: prompts, parsing,
// filters, novelty and commits against an instant scripted teacher and an
// in-memory store. Reproduce with:
//
//	go test ./stage/selfinstruct -run '^$' -bench Bootstrap -benchtime 3x
func BenchmarkBootstrap(b *testing.B) {
	b.ReportAllocs()
	var candidates int
	for b.Loop() {
		st := newMemStore()
		env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
		env.Concurrency = 8
		s, err := New(cfg(func(c *Config) { c.Target = 1000 }))
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Run(context.Background(), env); err != nil {
			b.Fatal(err)
		}
		candidates += len(st.all("instructions", ""))
		if len(st.all("instructions", record.Kept)) < 1000 {
			b.Fatal("target not reached")
		}
	}
	b.ReportMetric(float64(candidates)/b.Elapsed().Seconds(), "candidates/s")
}

func BenchmarkInstructionFilters(b *testing.B) {
	f := newInstructionFilters(text.English, 4, 150, paperBlacklist, []string{"Write a program"}, true, true)
	b.ReportAllocs()
	for b.Loop() {
		f.check("Compose a short poem about the history of jazz for a retirement home newsletter in a friendly tone.")
	}
}
