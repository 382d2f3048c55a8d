package store

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/cputime"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// benchRecord is about the size of a Self-Instruct instance with provenance (~1 KB of JSON).
func benchRecord(unit, j int) *record.Record {
	id := fmt.Sprintf("gen-%08d-%02d", unit, j)
	st := record.Kept
	var dec []record.Decision
	if j%3 == 2 {
		st = record.Rejected
		dec = []record.Decision{{Filter: "rouge", Reason: "max ROUGE-L 0.81 > 0.7", Value: 0.81}}
	}
	return &record.Record{ID: id, Stage: "gen", Seq: int64(unit*100 + j), Status: st,
		Instruction: "Write a short poem about the sea in the style of a haiku, mentioning " + id,
		Input:       "",
		Output:      strings.Repeat("Waves fold into foam, the gull writes its name in salt. ", 8),
		Decisions:   dec,
		Prov: record.Provenance{Generator: "selfinstruct", Stage: "gen", Backend: "openai", Model: "gpt-4o-mini",
			TemplateHash: "9f2c1e", Params: map[string]any{"temperature": 0.7, "top_p": 0.5},
			SeedIDs: []string{"seed_task_1", "seed_task_7"}, CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

func benchUnit(i, n int) pipeline.Unit {
	u := pipeline.Unit{Stage: "gen", Key: fmt.Sprintf("batch-%08d", i), Usage: pipeline.UnitUsage{Requests: 1, PromptTokens: 500, CompletionTokens: 800}}
	for j := range n {
		u.Records = append(u.Records, benchRecord(i, j))
	}
	return u
}

// BenchmarkCommit measures units/s for one committer; go test -bench Commit -benchtime 2000x ./store
func BenchmarkCommit(b *testing.B) {
	for _, c := range []struct {
		n       int
		durable bool
	}{{1, false}, {10, false}, {1, true}} {
		name := fmt.Sprintf("records=%d", c.n)
		if c.durable {
			name += "/durable"
		}
		n := c.n
		b.Run(name, func(b *testing.B) {
			s, err := OpenWith(context.Background(), b.TempDir(), Options{Durable: c.durable})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			units := make([]pipeline.Unit, b.N)
			for i := range units {
				units[i] = benchUnit(i, n)
			}
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				if err := s.Commit(ctx, units[i]); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "units/s")
			b.ReportMetric(float64(b.N*n)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// BenchmarkCommitParallel is Commit from 8 goroutines, as ForEachKept does;
// concurrent commits share transactions (group commit).
func BenchmarkCommitParallel(b *testing.B) {
	for _, c := range []struct {
		n       int
		durable bool
	}{{1, false}, {10, false}, {1, true}, {10, true}} {
		name := fmt.Sprintf("records=%d", c.n)
		if c.durable {
			name += "/durable"
		}
		n := c.n
		b.Run(name, func(b *testing.B) {
			s, err := OpenWith(context.Background(), b.TempDir(), Options{Durable: c.durable})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			units := make([]pipeline.Unit, b.N)
			for i := range units {
				units[i] = benchUnit(i, n)
			}
			var next atomicCounter
			b.SetParallelism(4)
			b.ReportAllocs()
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Commit(ctx, units[next.add()-1]); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "units/s")
			b.ReportMetric(float64(s.writes.Load())/float64(max(1, s.txs.Load())), "units/tx")
		})
	}
}

// BenchmarkRecords measures the iteration rate over a 20,000-record stage.
func BenchmarkRecords(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	const units, per = 2000, 10
	for i := range units {
		if err := s.Commit(ctx, benchUnit(i, per)); err != nil {
			b.Fatal(err)
		}
	}
	for _, status := range []record.Status{"", record.Kept} {
		name := "status=any"
		if status != "" {
			name = "status=" + string(status)
		}
		b.Run(name, func(b *testing.B) {
			b.ReportAllocs()
			total := 0
			for range b.N {
				for _, err := range s.Records(ctx, "gen", status) {
					if err != nil {
						b.Fatal(err)
					}
					total++
				}
			}
			b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "records/s")
		})
	}
	b.Run("stats", func(b *testing.B) {
		for range b.N {
			if _, err := s.Stats(ctx); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func BenchmarkCache(b *testing.B) {
	s := openTemp(b)
	ctx := context.Background()
	val := []byte(strings.Repeat("x", 2000))
	b.Run("put", func(b *testing.B) {
		for i := range b.N {
			if err := s.Put(ctx, fmt.Sprint("key-", i), val); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("get", func(b *testing.B) {
		for i := range b.N {
			if _, _, err := s.Get(ctx, fmt.Sprint("key-", i%100)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

type atomicCounter struct{ n atomic.Int64 }

func (c *atomicCounter) add() int { return int(c.n.Add(1)) }

// BenchmarkCommitCached is the store's part of a one-request-per-record
// stage: 16 goroutines each put a response-cache entry (keyed by a hash, as
// the model layer's are) and commit a one-record unit built from it. It
// reports the process's CPU time per unit, which a shared machine changes
// less than the wall clock.
//
//	go test ./store -run '^$' -bench CommitCached -benchtime 20000x
func BenchmarkCommitCached(b *testing.B) {
	s, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	val := []byte(`{"v":3,"text":"` + strings.Repeat("A short answer. ", 12) + `","finish_reason":"stop","model":"m","prompt_tokens":20,"completion_tokens":48}`)
	var next atomic.Int64
	b.SetParallelism(8) // 16 goroutines on 2 cores
	b.ReportAllocs()
	cpu0 := cputime.Process()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1))
			sum := sha256.Sum256([]byte(fmt.Sprint(i)))
			key := hex.EncodeToString(sum[:])
			if err := s.Put(ctx, key, val); err != nil {
				b.Error(err)
				return
			}
			u := benchUnit(i, 1)
			u.Key = key[:16]
			u.Records[0].ID = "gen-" + key[16:32]
			if err := s.Commit(ctx, u); err != nil {
				b.Error(err)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/(cputime.Process()-cpu0).Seconds(), "units/cpu-s")
}

// BenchmarkOpenCached is what a resume pays at open for the response cache:
// a run whose cache holds 100,000 entries of about 300 bytes, opened for
// writing (the cache index is read then) and closed.
//
//	go test ./store -run '^$' -bench OpenCached -benchtime 5x
func BenchmarkOpenCached(b *testing.B) {
	const n = 100000
	ctx := context.Background()
	dir := b.TempDir()
	s, err := Open(ctx, dir)
	if err != nil {
		b.Fatal(err)
	}
	val := []byte(`{"v":3,"text":"` + strings.Repeat("A short answer. ", 12) + `","finish_reason":"stop","model":"m","prompt_tokens":20,"completion_tokens":48}`)
	for i := range n {
		sum := sha256.Sum256([]byte(fmt.Sprint(i)))
		if err := s.Put(ctx, hex.EncodeToString(sum[:]), val); err != nil {
			b.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cputime.Process()
	for b.Loop() {
		s, err := Open(ctx, dir)
		if err != nil {
			b.Fatal(err)
		}
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((cputime.Process()-cpu0).Seconds()*1000/float64(b.N), "cpu-ms/open")
}

// BenchmarkCommitGroups commits one-record units in groups of 20, as the
// pipeline's group committer hands them to CommitUnits at thousands of
// one-request units a second; units/cpu-s is the writer's whole cost.
func BenchmarkCommitGroups(b *testing.B) {
	const group = 20
	s, err := Open(context.Background(), b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	b.ReportAllocs()
	cpu0 := cputime.Process()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		units := make([]pipeline.Unit, group)
		for j := range units {
			units[j] = benchUnit(i*group+j, 1)
		}
		if err := s.CommitUnits(ctx, units); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*group)/(cputime.Process()-cpu0).Seconds(), "units/cpu-s")
}
