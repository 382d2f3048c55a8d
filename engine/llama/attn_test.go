package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/tensor"
	"github.com/synthloop/synthloop/internal/cputime"
)

// attnRangePerKey is attnRange as it was before tensor.AttnScores and
// AttnMix: one Dot and one Axpy per cached key. attnRange must give its
// bits, and BenchmarkDecodeAttn compares their cost.
func (c *Cache) attnRangePerKey(lo, hi int) {
	cfg := c.m.Config
	hd, kv, group := cfg.HeadDim(), cfg.KVHeads*cfg.HeadDim(), cfg.Heads/cfg.KVHeads
	scale := float32(1 / math.Sqrt(float64(hd)))
	kl, vl := c.k[c.layer], c.v[c.layer]
	for j := lo; j < hi; j++ {
		n := c.pos[j] + 1
		base := c.seq[j] * c.maxLen * kv
		sc := c.scores[j*c.maxLen : j*c.maxLen+n]
		for h := range cfg.Heads {
			off := base + (h/group)*hd
			q := c.q[j*cfg.Dim+h*hd : j*cfg.Dim+(h+1)*hd]
			for i := range sc {
				sc[i] = scale * tensor.Dot(q, kl[off+i*kv:off+i*kv+hd])
			}
			tensor.Softmax(sc)
			out := c.att[j*cfg.Dim+h*hd : j*cfg.Dim+(h+1)*hd]
			clear(out)
			for i, p := range sc {
				tensor.Axpy(p, vl[off+i*kv:off+i*kv+hd], out)
			}
		}
	}
}

// attnConfigs are the head shapes checked: the lab's (dim 64 and 128 over
// 4 heads), grouped-query attention, and a head dim of 8, below the
// kernels' range.
var attnConfigs = []Config{
	{Vocab: 40, Dim: 64, Layers: 2, Heads: 4, KVHeads: 4, Hidden: 96, MaxSeq: 96, NormEps: 1e-5},
	{Vocab: 40, Dim: 128, Layers: 2, Heads: 4, KVHeads: 4, Hidden: 96, MaxSeq: 96, NormEps: 1e-5, RoPE: true, RopeTheta: 10000},
	{Vocab: 40, Dim: 128, Layers: 1, Heads: 4, KVHeads: 2, Hidden: 64, MaxSeq: 96, NormEps: 1e-5, RoPE: true, RopeTheta: 10000},
	{Vocab: 40, Dim: 96, Layers: 1, Heads: 2, KVHeads: 1, Hidden: 64, MaxSeq: 40, NormEps: 1e-5},
	{Vocab: 40, Dim: 32, Layers: 1, Heads: 4, KVHeads: 4, Hidden: 64, MaxSeq: 40, NormEps: 1e-5},
}

// decodeLogits prefills 3 sequences with prompts of different lengths and
// decodes them to maxSeq, with attnRows set to the per-key path or not,
// and returns every call's logits.
func decodeLogits(t *testing.T, cfg Config, perKey bool) []float32 {
	m, err := New(cfg, 7)
	if err != nil {
		t.Fatal(err)
	}
	const seqs = 3
	c, err := m.NewCache(seqs, cfg.MaxSeq, cfg.MaxSeq)
	if err != nil {
		t.Fatal(err)
	}
	if perKey {
		c.attnRows = c.attnRangePerKey
	}
	r := rand.New(rand.NewPCG(5, 6))
	var all []float32
	for s := range seqs {
		plen := 1 + 9*s
		seq, toks := make([]int, plen), make([]int32, plen)
		for i := range seq {
			seq[i], toks[i] = s, int32(r.IntN(cfg.Vocab))
		}
		lg, err := c.Forward(seq, toks)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, lg...)
	}
	for c.Len[0] < cfg.MaxSeq {
		var seq []int
		var toks []int32
		for s := range seqs {
			if c.Len[s] < cfg.MaxSeq {
				seq, toks = append(seq, s), append(toks, int32(r.IntN(cfg.Vocab)))
			}
		}
		lg, err := c.Forward(seq, toks)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, lg...)
	}
	return all
}

// TestAttnSameBits checks that decoding gives the logits of the per-key
// path bit for bit, with the kernels CPU() names, and, in child processes,
// with SYNTHLOOP_CPU=avx2 and generic (the cap is read at start-up).
func TestAttnSameBits(t *testing.T) {
	for _, cfg := range attnConfigs {
		got, want := decodeLogits(t, cfg, false), decodeLogits(t, cfg, true)
		if len(got) != len(want) {
			t.Fatalf("%d logits, per-key %d", len(got), len(want))
		}
		for i := range want {
			if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
				t.Fatalf("%s, head dim %d, %d kv heads: logit %d = %v, per-key %v", tensor.CPU(), cfg.HeadDim(), cfg.KVHeads, i, got[i], want[i])
			}
		}
	}
	if os.Getenv("LLAMA_ATTN_CHILD") != "" {
		fmt.Printf("kernels=%s\n", tensor.CPU())
		return
	}
	for _, cap := range []string{"avx2", "generic"} {
		// The child must run the capped kernels, not just run: a cap it
		// ignored would compare the parent's kernels again. A CPU with
		// only the Go kernels runs them under either cap.
		want := cap
		if tensor.CPU() == "generic" {
			want = "generic"
		}
		cmd := exec.Command(os.Args[0], "-test.run", "^TestAttnSameBits$", "-test.v")
		cmd.Env = append(os.Environ(), "LLAMA_ATTN_CHILD=1", tensor.CPUEnv+"="+cap)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Errorf("%s=%s: %v\n%s", tensor.CPUEnv, cap, err, out)
		} else if !strings.Contains(string(out), "kernels="+want) {
			t.Errorf("%s=%s: child did not run with kernels=%s:\n%s", tensor.CPUEnv, cap, want, out)
		}
	}
}

// BenchmarkDecodeAttn is a GRPO sampling step: the lab's model (dim 128,
// 3 layers, 4 heads of 32) decoding 256 sequences (the sampler's batch) or
// 32 at 60–90 cached tokens, with attention per key (before) and fused
// (after). Compare cpu-ns/op.
//
//	go test -run '^$' -bench DecodeAttn -count 5 ./engine/llama
func BenchmarkDecodeAttn(b *testing.B) {
	cfg := Config{Vocab: 32, Dim: 128, Layers: 3, Heads: 4, KVHeads: 4, Hidden: 512, MaxSeq: 96, NormEps: 1e-5, RoPE: true, RopeTheta: 10000}
	m, err := New(cfg, 1)
	if err != nil {
		b.Fatal(err)
	}
	const start, end = 60, 90
	for _, batch := range []int{32, 256} {
		c, err := m.NewCache(batch, cfg.MaxSeq, batch)
		if err != nil {
			b.Fatal(err)
		}
		seqs, toks := make([]int, batch), make([]int32, batch)
		for s := range batch {
			seqs[s], toks[s] = s, int32(s%cfg.Vocab)
		}
		// Fill the cache to end−1 tokens once; each step below rewinds to
		// start + i mod (end − start).
		for c.Len[0] < end {
			if _, err := c.Forward(seqs, toks); err != nil {
				b.Fatal(err)
			}
		}
		for _, arm := range []struct {
			name string
			f    func(lo, hi int)
		}{{"perkey", c.attnRangePerKey}, {"fused", c.attnRange}} {
			b.Run(fmt.Sprintf("b%d/%s", batch, arm.name), func(b *testing.B) {
				c.attnRows = arm.f
				cpu0 := cputime.Process()
				i := 0
				for b.Loop() {
					for s := range batch {
						c.Len[s] = start + i%(end-start)
					}
					if _, err := c.Forward(seqs, toks); err != nil {
						b.Fatal(err)
					}
					i++
				}
				b.ReportMetric(float64(cputime.Process()-cpu0)/float64(b.N), "cpu-ns/op")
			})
		}
	}
}
