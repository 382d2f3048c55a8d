package sample

import (
	"fmt"
	"testing"
	"time"

	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/internal/cputime"
)

var benchConfigs = []struct {
	name string
	cfg  llama.Config
}{
	{"A", llama.Config{Vocab: 32, Dim: 128, Layers: 2, Heads: 4, KVHeads: 4, Hidden: 512, MaxSeq: 64, NormEps: 1e-5}},
	{"B", llama.Config{Vocab: 32, Dim: 384, Layers: 6, Heads: 6, KVHeads: 6, Hidden: 1536, MaxSeq: 256, NormEps: 1e-5}},
}

// BenchmarkPrefill measures prompt processing through the KV cache: one
// sequence of half the context per call.
//
//	go test -run '^$' -bench 'Prefill|Decode' ./engine/sample
func BenchmarkPrefill(b *testing.B) {
	for _, bc := range benchConfigs {
		b.Run(bc.name, func(b *testing.B) {
			m, _ := llama.New(bc.cfg, 1)
			n := bc.cfg.MaxSeq / 2
			c, err := m.NewCache(1, bc.cfg.MaxSeq, n)
			if err != nil {
				b.Fatal(err)
			}
			seq, toks := make([]int, n), make([]int32, n)
			for i := range toks {
				toks[i] = int32(i % bc.cfg.Vocab)
			}
			b.ReportAllocs()
			b.ResetTimer()
			start, cpu0 := time.Now(), cputime.Process()
			for range b.N {
				c.Reset(0)
				if _, err := c.ForwardLast(seq, toks); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*n)/time.Since(start).Seconds(), "tokens/s")
			b.ReportMetric(float64(b.N*n)/(cputime.Process()-cpu0).Seconds(), "tokens/cpu-s")
		})
	}
}

// BenchmarkDecode measures generation steps: each call feeds one token to
// each of batch sequences, half-way into the context.
func BenchmarkDecode(b *testing.B) {
	for _, bc := range benchConfigs {
		for _, batch := range []int{1, 8} {
			b.Run(fmt.Sprintf("%s/batch%d", bc.name, batch), func(b *testing.B) {
				m, _ := llama.New(bc.cfg, 1)
				c, err := m.NewCache(batch, bc.cfg.MaxSeq, bc.cfg.MaxSeq)
				if err != nil {
					b.Fatal(err)
				}
				half := bc.cfg.MaxSeq / 2
				seqs, toks := make([]int, batch), make([]int32, batch)
				for s := range batch {
					seqs[s] = s
					prompt := make([]int, half)
					for i := range prompt {
						prompt[i] = s
					}
					c.Forward(prompt, make([]int32, half))
				}
				b.ReportAllocs()
				b.ResetTimer()
				start, cpu0 := time.Now(), cputime.Process()
				for i := range b.N {
					if i%(half-1) == 0 {
						for s := range batch {
							c.Len[s] = half // rewind rather than run off the end
						}
					}
					if _, err := c.Forward(seqs, toks); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batch)/time.Since(start).Seconds(), "tokens/s")
				b.ReportMetric(float64(b.N*batch)/(cputime.Process()-cpu0).Seconds(), "tokens/cpu-s")
			})
		}
	}
}
