package llama

import (
	"errors"
	"fmt"
	"math"
)

// Workspace holds every activation and gradient buffer for one (batch, seq)
// shape, allocated once by NewWorkspace so that training steps allocate
// nothing. A Workspace belongs to one goroutine; several workspaces may share
// a Model for forward passes, but Backward writes the model's Grads.
type Workspace struct {
	m        *Model
	B, T, N  int
	tokens   []int32
	targets  []int32
	pos      []int // position of each row: i mod T
	layers   []layerActs
	xL       []float32 // residual stream after the last layer [N,D]
	xf       []float32 // final norm output [N,D]
	rstdf    []float32
	probs    []float32 // softmax of the logits [N,V]; overwritten by dlogits in backward
	LogProbs []float32 // log p(target) per position after Forward; 0 where target < 0

	// Backward scratch, shared by all layers.
	dx, dxn, xn []float32 // [N,D]
	dq, datt    []float32 // [N,D]
	dk, dv      []float32 // [N,KV·hd]
	bufA, bufB  []float32 // [N,Hidden]
	dp          []float32 // [B·KVHeads, T, T]: one ∂P scratch per attention job
	attn        attnShape
	cur         *layerActs // the layer the attention jobs work on
	attnFwd     func(lo, hi int)
	attnBwd     func(lo, hi int)
	// Elementwise SwiGLU jobs: operands in ew, range functions bound once.
	ew                 [3][]float32
	swigluFn, swiBwdFn func(lo, hi int)
	fresh              bool // a Forward has run and Backward has not consumed it
	forwardOnly        bool
	maxB               int // the rows allocated; SetBatch runs fewer
}

// layerActs are the activations of one layer that backward needs. The
// normalised inputs (from x and 1/rms) and the SwiGLU product (from h1 and
// h3) are recomputed instead of kept: two [N,D] and one [N,Hidden] buffer
// per layer saved for cheap elementwise passes.
type layerActs struct {
	x, rstd   []float32 // layer input [N,D] and its attention-norm 1/rms
	q, k, v   []float32 // after RoPE
	p         []float32 // softmax weights [B,H,T,T]
	att       []float32 // attention output before wo [N,D]
	xm, rstd2 []float32 // residual after attention and its ffn-norm 1/rms
	h1, h3    []float32 // [N,Hidden]; backward turns them into their gradients
}

// NewWorkspace allocates buffers for batches of b sequences of t tokens.
func (m *Model) NewWorkspace(b, t int) (*Workspace, error) { return m.newWorkspace(b, t, false) }

// NewForwardWorkspace is a workspace for Forward only (scoring, DPO
// references, evaluation): all layers share one layer's activation buffers,
// so it needs about 1/Layers of the memory, and Backward is refused.
func (m *Model) NewForwardWorkspace(b, t int) (*Workspace, error) { return m.newWorkspace(b, t, true) }

func (m *Model) newWorkspace(b, t int, forwardOnly bool) (*Workspace, error) {
	c := m.Config
	if b <= 0 || t <= 0 || t > c.MaxSeq {
		return nil, fmt.Errorf("llama: workspace shape (%d, %d) invalid for max_seq_len %d", b, t, c.MaxSeq)
	}
	n := b * t
	d, kv, f := c.Dim, c.KVHeads*c.HeadDim(), c.Hidden
	w := &Workspace{m: m, B: b, T: t, N: n,
		tokens: make([]int32, n), targets: make([]int32, n),
		xL: make([]float32, n*d), xf: make([]float32, n*d), rstdf: make([]float32, n),
		probs: make([]float32, n*c.Vocab), LogProbs: make([]float32, n),
		dx: make([]float32, n*d), dxn: make([]float32, n*d), xn: make([]float32, n*d),
		dq: make([]float32, n*d), datt: make([]float32, n*d),
		dk: make([]float32, n*kv), dv: make([]float32, n*kv),
		bufA: make([]float32, n*f), bufB: make([]float32, n*f),
		attn: attnShape{t: t, heads: c.Heads, kvHeads: c.KVHeads, hd: c.HeadDim(), block: attnBlock},
	}
	w.dp = make([]float32, b*c.KVHeads*t*t)
	w.pos = make([]int, n)
	for i := range w.pos {
		w.pos[i] = i % t
	}
	w.attnFwd, w.attnBwd = w.attnFwdRange, w.attnBwdRange
	w.swigluFn, w.swiBwdFn = w.swigluRange, w.swigluBwdRange
	w.forwardOnly, w.maxB = forwardOnly, b
	w.layers = make([]layerActs, c.Layers)
	for l := range w.layers {
		if forwardOnly && l > 0 {
			// A layer's input is dead once its attention residual is formed,
			// so the next layer may overwrite it in place.
			w.layers[l] = w.layers[0]
			continue
		}
		w.layers[l] = layerActs{
			x: make([]float32, n*d), rstd: make([]float32, n),
			q: make([]float32, n*d), k: make([]float32, n*kv), v: make([]float32, n*kv),
			p: make([]float32, b*c.Heads*t*t), att: make([]float32, n*d),
			xm: make([]float32, n*d), rstd2: make([]float32, n),
			h1: make([]float32, n*f), h3: make([]float32, n*f),
		}
	}
	return w, nil
}

// SetBatch makes Forward and Backward take b sequences, at most the
// workspace's allocated batch, without allocating: a trainer's last
// micro-batch of a few rows then costs those rows, not a full batch of
// padding. Every buffer keeps its storage and is cut to b rows. Padding rows
// add nothing to the gradient, and each row's log-probabilities and the
// gradient are the full batch's up to the order of float sums: a GEMM
// chooses how to split a sum by the number of rows, so results with and
// without the padding may differ in the last bits.
func (w *Workspace) SetBatch(b int) error {
	if b < 1 || b > w.maxB {
		return fmt.Errorf("llama: set batch %d outside [1, %d]", b, w.maxB)
	}
	if b == w.B {
		return nil
	}
	w.fresh = false // the last forward pass's activations no longer fit: Backward needs a new one
	// Every buffer's length is proportional to the batch (cap = length at
	// the allocated batch).
	cut := func(s []float32) []float32 { return s[:cap(s)/w.maxB*b] }
	w.B, w.N = b, b*w.T
	w.tokens, w.targets = w.tokens[:w.N], w.targets[:w.N]
	w.pos = w.pos[:w.N]
	w.xL, w.xf, w.rstdf, w.probs, w.LogProbs = cut(w.xL), cut(w.xf), cut(w.rstdf), cut(w.probs), cut(w.LogProbs)
	w.dx, w.dxn, w.xn, w.dq, w.datt = cut(w.dx), cut(w.dxn), cut(w.xn), cut(w.dq), cut(w.datt)
	w.dk, w.dv, w.bufA, w.bufB, w.dp = cut(w.dk), cut(w.dv), cut(w.bufA), cut(w.bufB), cut(w.dp)
	for l := range w.layers {
		a := &w.layers[l]
		a.x, a.rstd, a.q, a.k, a.v = cut(a.x), cut(a.rstd), cut(a.q), cut(a.k), cut(a.v)
		a.p, a.att, a.xm, a.rstd2, a.h1, a.h3 = cut(a.p), cut(a.att), cut(a.xm), cut(a.rstd2), cut(a.h1), cut(a.h3)
	}
	return nil
}

// Model returns the model this workspace runs.
func (w *Workspace) Model() *Model { return w.m }

// Probs returns the softmax output distribution at row i (batch i/T,
// position i%T) after Forward; it is invalidated by Backward.
func (w *Workspace) Probs(i int) []float32 {
	v := w.m.Config.Vocab
	return w.probs[i*v : i*v+v]
}

// Forward runs the model on tokens [B·T] (row-major by batch) and sets
// LogProbs[i] = log p(targets[i] | tokens of that row up to i). Targets < 0
// (padding, prompts) get LogProbs 0. Token ids must be in [0, Vocab).
func (w *Workspace) Forward(tokens, targets []int32) error {
	c := w.m.Config
	if len(tokens) != w.N || len(targets) != w.N {
		return fmt.Errorf("llama: forward: got %d tokens and %d targets, want %d", len(tokens), len(targets), w.N)
	}
	for i, tok := range tokens {
		if tok < 0 || int(tok) >= c.Vocab {
			return fmt.Errorf("llama: forward: token %d at %d out of vocabulary [0, %d)", tok, i, c.Vocab)
		}
		if tg := targets[i]; int(tg) >= c.Vocab {
			return fmt.Errorf("llama: forward: target %d at %d out of vocabulary [0, %d)", tg, i, c.Vocab)
		}
	}
	copy(w.tokens, tokens)
	copy(w.targets, targets)
	w.fresh = true
	n, d, kv, f := w.N, c.Dim, c.KVHeads*c.HeadDim(), c.Hidden
	pw := &w.m.w

	x := w.layers[0].x
	for i, tok := range tokens {
		copy(x[i*d:i*d+d], pw.emb[int(tok)*d:int(tok)*d+d])
	}
	for l := range c.Layers {
		a, lw := &w.layers[l], &pw.layers[l]
		next := w.xL
		if l+1 < c.Layers {
			next = w.layers[l+1].x
		}
		xn := w.xn
		rmsnorm(xn, a.rstd, a.x, lw.attnNorm, n, d, c.NormEps)
		linear(a.q, xn, lw.wq, n, d, d)
		linear(a.k, xn, lw.wk, n, d, kv)
		linear(a.v, xn, lw.wv, n, d, kv)
		if c.RoPE {
			rope(a.q, w.m.ropeCos, w.m.ropeSin, w.pos, c.Heads, c.HeadDim(), 1)
			rope(a.k, w.m.ropeCos, w.m.ropeSin, w.pos, c.KVHeads, c.HeadDim(), 1)
		}
		w.attentionForward(a)
		copy(a.xm, a.x)
		linearAdd(a.xm, a.att, lw.wo, n, d, d)
		rmsnorm(xn, a.rstd2, a.xm, lw.ffnNorm, n, d, c.NormEps)
		linear(a.h1, xn, lw.w1, n, d, f)
		linear(a.h3, xn, lw.w3, n, d, f)
		w.swiglu(w.swigluFn, w.bufA, a.h1, a.h3)
		copy(next, a.xm)
		linearAdd(next, w.bufA, lw.w2, n, f, d)
	}
	rmsnorm(w.xf, w.rstdf, w.xL, pw.norm, n, d, c.NormEps)
	linear(w.probs, w.xf, pw.out, n, d, c.Vocab)
	for i := range n {
		w.LogProbs[i] = logSoftmaxRow(w.probs[i*c.Vocab:(i+1)*c.Vocab], targets[i])
	}
	return nil
}

// logSoftmaxRow turns logits into probabilities in place and returns the
// log-probability of target (0 if target < 0).
func logSoftmaxRow(row []float32, target int32) float32 {
	mx := row[0]
	for _, x := range row[1:] {
		mx = max(mx, x)
	}
	var lp float32
	if target >= 0 {
		lp = row[target] - mx
	}
	var sum float64
	for j, x := range row {
		e := expf(x - mx)
		row[j] = e
		sum += float64(e)
	}
	if target >= 0 {
		lp -= float32(math.Log(sum))
	}
	inv := float32(1 / sum)
	for j := range row {
		row[j] *= inv
	}
	return lp
}

// Backward accumulates into the model's Grads the gradient of a loss L given
// dlogp[i] = ∂L/∂LogProbs[i] from the last Forward. Cross-entropy averaged
// over k counted tokens is dlogp[i] = −1/k on those tokens; DPO puts ±β·σ(…)
// on the response tokens of each pair. It consumes that Forward's
// activations (probabilities become logit gradients, h1 and h3 their own
// gradients), so each Backward needs its own Forward.
func (w *Workspace) Backward(dlogp []float32) error {
	c := w.m.Config
	if len(dlogp) != w.N {
		return fmt.Errorf("llama: backward: got %d gradients, want %d", len(dlogp), w.N)
	}
	if w.forwardOnly {
		return errors.New("llama: backward on a forward-only workspace")
	}
	if !w.fresh {
		return errors.New("llama: backward without a forward pass since the last backward")
	}
	w.fresh = false
	n, d, kv, f, vocab := w.N, c.Dim, c.KVHeads*c.HeadDim(), c.Hidden, c.Vocab
	w.m.InitGrads()
	pw, gw := &w.m.w, &w.m.g

	// ∂log p_t/∂logits = onehot(t) − p.
	for i := range n {
		row := w.probs[i*vocab : (i+1)*vocab]
		g, t := dlogp[i], w.targets[i]
		if t < 0 || g == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= -g
		}
		row[t] += g
	}
	linearBackward(w.dxn, gw.out, w.probs, w.xf, pw.out, n, d, vocab, 0)
	clear(w.dx)
	rmsnormBackward(w.dx, gw.norm, w.dxn, w.xL, w.rstdf, pw.norm, n, d)

	for l := c.Layers - 1; l >= 0; l-- {
		a, lw, lg := &w.layers[l], &pw.layers[l], &gw.layers[l]
		xn := w.xn
		// Feed-forward branch; w.dx is ∂L/∂(layer output).
		w.swiglu(w.swigluFn, w.bufA, a.h1, a.h3)
		linearBackward(w.bufB, lg.w2, w.dx, w.bufA, lw.w2, n, f, d, 0)
		// In place: h1 and h3 become ∂L/∂h1 and ∂L/∂h3.
		w.swiglu(w.swiBwdFn, a.h1, a.h3, w.bufB)
		rmsnormApply(xn, a.rstd2, a.xm, lw.ffnNorm, n, d)
		linearBackward(w.dxn, lg.w1, a.h1, xn, lw.w1, n, d, f, 0)
		linearBackward(w.dxn, lg.w3, a.h3, xn, lw.w3, n, d, f, 1)
		rmsnormBackward(w.dx, lg.ffnNorm, w.dxn, a.xm, a.rstd2, lw.ffnNorm, n, d)
		// Attention branch; w.dx is now ∂L/∂xm.
		linearBackward(w.datt, lg.wo, w.dx, a.att, lw.wo, n, d, d, 0)
		w.attentionBackward(a)
		if c.RoPE {
			rope(w.dq, w.m.ropeCos, w.m.ropeSin, w.pos, c.Heads, c.HeadDim(), -1)
			rope(w.dk, w.m.ropeCos, w.m.ropeSin, w.pos, c.KVHeads, c.HeadDim(), -1)
		}
		rmsnormApply(xn, a.rstd, a.x, lw.attnNorm, n, d)
		linearBackward(w.dxn, lg.wq, w.dq, xn, lw.wq, n, d, d, 0)
		linearBackward(w.dxn, lg.wk, w.dk, xn, lw.wk, n, d, kv, 1)
		linearBackward(w.dxn, lg.wv, w.dv, xn, lw.wv, n, d, kv, 1)
		rmsnormBackward(w.dx, lg.attnNorm, w.dxn, a.x, a.rstd, lw.attnNorm, n, d)
	}
	for i, tok := range w.tokens {
		row, src := gw.emb[int(tok)*d:int(tok)*d+d], w.dx[i*d:i*d+d]
		for j, v := range src {
			row[j] += v
		}
	}
	return nil
}
