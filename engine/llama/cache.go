package llama

import (
	"fmt"
	"math"
	"slices"

	"github.com/synthloop/synthloop/engine/tensor"
)

// Cache runs the model for inference: it keeps the keys and values of every
// position already seen for each of several sequences, so a new token costs
// one row through the network instead of the whole prefix. Buffers are
// allocated once by NewCache. A Cache belongs to one goroutine.
type Cache struct {
	m       *Model
	seqs    int
	maxLen  int
	maxRows int
	k, v    [][]float32 // per layer [seqs, maxLen, KVHeads·hd]
	Len     []int       // tokens cached per sequence

	seq, pos           []int // per row of the current call
	x, xn, q, att, tmp []float32
	kn, vn             []float32
	h1, h3             []float32
	scores             []float32 // [maxRows, maxLen]
	logits             []float32 // [maxRows, Vocab]
	layer              int
	attnRows           func(lo, hi int)
}

// NewCache allocates a cache for seqs sequences of up to maxLen tokens,
// taking up to maxRows tokens per Forward call.
func (m *Model) NewCache(seqs, maxLen, maxRows int) (*Cache, error) {
	c := m.Config
	if seqs <= 0 || maxLen <= 0 || maxLen > c.MaxSeq || maxRows <= 0 {
		return nil, fmt.Errorf("llama: cache shape (%d seqs, %d len, %d rows) invalid for max_seq_len %d", seqs, maxLen, maxRows, c.MaxSeq)
	}
	d, kv, f := c.Dim, c.KVHeads*c.HeadDim(), c.Hidden
	kc := &Cache{m: m, seqs: seqs, maxLen: maxLen, maxRows: maxRows, Len: make([]int, seqs),
		k: make([][]float32, c.Layers), v: make([][]float32, c.Layers),
		seq: make([]int, maxRows), pos: make([]int, maxRows),
		x: make([]float32, maxRows*d), xn: make([]float32, maxRows*d), q: make([]float32, maxRows*d),
		att: make([]float32, maxRows*d), tmp: make([]float32, maxRows),
		kn: make([]float32, maxRows*kv), vn: make([]float32, maxRows*kv),
		h1: make([]float32, maxRows*f), h3: make([]float32, maxRows*f),
		scores: make([]float32, maxRows*maxLen), logits: make([]float32, maxRows*c.Vocab)}
	for l := range c.Layers {
		kc.k[l] = make([]float32, seqs*maxLen*kv)
		kc.v[l] = make([]float32, seqs*maxLen*kv)
	}
	kc.attnRows = kc.attnRange
	return kc, nil
}

// Reset empties sequence s.
func (c *Cache) Reset(s int) { c.Len[s] = 0 }

// Copy makes sequence dst a copy of sequence src, so n samples of one prompt
// share a single prefill.
func (c *Cache) Copy(dst, src int) {
	kv := c.m.Config.KVHeads * c.m.Config.HeadDim()
	n := c.Len[src] * kv
	for l := range c.k {
		copy(c.k[l][dst*c.maxLen*kv:dst*c.maxLen*kv+n], c.k[l][src*c.maxLen*kv:])
		copy(c.v[l][dst*c.maxLen*kv:dst*c.maxLen*kv+n], c.v[l][src*c.maxLen*kv:])
	}
	c.Len[dst] = c.Len[src]
}

// Forward appends tokens[j] to sequence seq[j] for each j (a sequence's
// tokens in order: a prompt prefill is many rows of one sequence, a batched
// decode step one row of each) and returns the next-token logits of every
// row, [len(tokens), Vocab], valid until the next call.
func (c *Cache) Forward(seq []int, tokens []int32) ([]float32, error) {
	return c.forward(seq, tokens, false)
}

// ForwardLast is Forward returning only the logits after each sequence's
// last token in the call, one row per sequence in order of first
// appearance: all a prefill needs, without the output projection of every
// prompt position (which dominates prefill for large vocabularies).
func (c *Cache) ForwardLast(seq []int, tokens []int32) ([]float32, error) {
	return c.forward(seq, tokens, true)
}

func (c *Cache) forward(seq []int, tokens []int32, lastOnly bool) ([]float32, error) {
	cfg := c.m.Config
	n := len(tokens)
	if n != len(seq) || n == 0 || n > c.maxRows {
		return nil, fmt.Errorf("llama: cache forward: %d tokens for %d sequence ids (max %d rows)", n, len(seq), c.maxRows)
	}
	for j, s := range seq {
		if s < 0 || s >= c.seqs {
			return nil, fmt.Errorf("llama: cache forward: sequence %d out of range [0, %d)", s, c.seqs)
		}
		if t := tokens[j]; t < 0 || int(t) >= cfg.Vocab {
			return nil, fmt.Errorf("llama: cache forward: token %d out of vocabulary", t)
		}
	}
	for j, s := range seq {
		c.seq[j], c.pos[j] = s, c.Len[s]
		c.Len[s]++
	}
	for _, s := range seq {
		if c.Len[s] > c.maxLen {
			for _, s := range seq {
				c.Len[s]-- // undo, leaving the cache as it was
			}
			return nil, fmt.Errorf("llama: cache forward: sequence %d would exceed %d tokens", s, c.maxLen)
		}
	}
	d, kv, f, hd := cfg.Dim, cfg.KVHeads*cfg.HeadDim(), cfg.Hidden, cfg.HeadDim()
	w := &c.m.w
	x := c.x[:n*d]
	for j, t := range tokens {
		copy(x[j*d:(j+1)*d], w.emb[int(t)*d:])
	}
	pos := c.pos[:n]
	for l := range cfg.Layers {
		lw := &w.layers[l]
		rmsnorm(c.xn, c.tmp, x, lw.attnNorm, n, d, cfg.NormEps)
		linear(c.q, c.xn, lw.wq, n, d, d)
		linear(c.kn, c.xn, lw.wk, n, d, kv)
		linear(c.vn, c.xn, lw.wv, n, d, kv)
		if cfg.RoPE {
			rope(c.q, c.m.ropeCos, c.m.ropeSin, pos, cfg.Heads, hd, 1)
			rope(c.kn, c.m.ropeCos, c.m.ropeSin, pos, cfg.KVHeads, hd, 1)
		}
		for j := range n {
			at := (c.seq[j]*c.maxLen + pos[j]) * kv
			copy(c.k[l][at:at+kv], c.kn[j*kv:])
			copy(c.v[l][at:at+kv], c.vn[j*kv:])
		}
		c.layer = l
		tensor.Parallel(n, c.attnRows)
		linearAdd(x, c.att, lw.wo, n, d, d)
		rmsnorm(c.xn, c.tmp, x, lw.ffnNorm, n, d, cfg.NormEps)
		linear(c.h1, c.xn, lw.w1, n, d, f)
		linear(c.h3, c.xn, lw.w3, n, d, f)
		tensor.SwiGLU(c.h1[:n*f], c.h1, c.h3)
		linearAdd(x, c.h1, lw.w2, n, f, d)
	}
	rmsnorm(c.xn, c.tmp, x, w.norm, n, d, cfg.NormEps)
	rows := n
	if lastOnly {
		// Gather each sequence's last row (its position is Len−1 now)
		// into att, free at this point, in order of first appearance.
		rows = 0
		for j, s := range seq {
			if slices.Index(seq, s) != j {
				continue
			}
			last := j
			for k := j + 1; k < n; k++ {
				if seq[k] == s {
					last = k
				}
			}
			copy(c.att[rows*d:(rows+1)*d], c.xn[last*d:])
			rows++
		}
		linear(c.logits, c.att, w.out, rows, d, cfg.Vocab)
	} else {
		linear(c.logits, c.xn, w.out, n, d, cfg.Vocab)
	}
	return c.logits[:rows*cfg.Vocab], nil
}

// attnRange attends rows [lo, hi) of the current call over their cached
// prefixes. Each (row, head) is a matrix-vector product against the cache,
// done as llama2.c does rather than by GEMM (a GEMM call per 1×n product
// would cost more in packing and dispatch than in arithmetic), but with one
// call per head for all keys' scores and one for their weighted values:
// they give the bits of one Dot and one Axpy per key, which this did until
// the calls and reductions of those, on 16- and 32-float heads, were 40% of
// a lab round's CPU.
func (c *Cache) attnRange(lo, hi int) {
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
			tensor.AttnScores(sc, q, kl[off:], kv, scale)
			tensor.Softmax(sc)
			tensor.AttnMix(c.att[j*cfg.Dim+h*hd:j*cfg.Dim+(h+1)*hd], sc, vl[off:], kv)
		}
	}
}
