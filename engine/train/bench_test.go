package train

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/internal/cputime"
)

// Training throughput for the two reference configs of issue 3, on random
// character-level data:
//
//	go test -run '^$' -bench TrainStep -benchtime 20x ./engine/train
//
// A: 2 layers, d=128, MLP 512, 4 heads, seq 64, batch 32.
// B: 6 layers, d=384, MLP 1536, 6 heads, seq 256, batch 8 (the MISSION's lab model).
func BenchmarkTrainStep(b *testing.B) {
	for _, bc := range []struct {
		name       string
		cfg        llama.Config
		batch, seq int
	}{
		{"A", llama.Config{Vocab: 32, Dim: 128, Layers: 2, Heads: 4, KVHeads: 4, Hidden: 512, MaxSeq: 64, NormEps: 1e-5}, 32, 64},
		{"B", llama.Config{Vocab: 32, Dim: 384, Layers: 6, Heads: 6, KVHeads: 6, Hidden: 1536, MaxSeq: 256, NormEps: 1e-5}, 8, 256},
	} {
		b.Run(bc.name, func(b *testing.B) {
			m, err := llama.New(bc.cfg, 1)
			if err != nil {
				b.Fatal(err)
			}
			r := rand.New(rand.NewPCG(1, 1))
			items := make([]Example, 64)
			for i := range items {
				items[i].Tokens = make([]int32, bc.seq+1)
				for j := range items[i].Tokens {
					items[i].Tokens[j] = int32(r.IntN(bc.cfg.Vocab))
				}
			}
			mx, _ := NewMixture(Dataset[Example]{Name: "random", Weight: 1, Items: items})
			tr, err := NewSFT(m, mx, Config{Batch: bc.batch, Seq: bc.seq, Seed: 1, AdamW: DefaultAdamW, Schedule: Constant(1e-4), ClipNorm: 1})
			if err != nil {
				b.Fatal(err)
			}
			tr.Step() // warm-up
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cputime.Process()
			for range b.N {
				if _, err := tr.Step(); err != nil {
					b.Fatal(err)
				}
			}
			tokens := float64(b.N * bc.batch * bc.seq)
			b.ReportMetric(tokens/time.Since(start).Seconds(), "tokens/s")
			// On a shared machine wall time depends on the neighbours; tokens
			// per CPU-second of this process does much less.
			b.ReportMetric(tokens/(cputime.Process()-cpu0).Seconds(), "tokens/cpu-s")
			b.ReportMetric(float64(bc.cfg.NumParams()), "params")
		})
	}
}
