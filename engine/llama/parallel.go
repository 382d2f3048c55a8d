package llama

import "github.com/synthloop/synthloop/engine/tensor"

// Attention runs one job per (batch row, kv head) on the tensor worker pool.
// The range functions are method values bound once in NewWorkspace, and the
// layer they work on is passed through w.cur, so a step allocates no
// closures.

func (w *Workspace) attentionForward(a *layerActs) {
	w.cur = a
	tensor.Parallel(w.B*w.attn.kvHeads, w.attnFwd)
}

func (w *Workspace) attentionBackward(a *layerActs) {
	w.cur = a
	tensor.Parallel(w.B*w.attn.kvHeads, w.attnBwd)
}

func (w *Workspace) attnFwdRange(lo, hi int) {
	s, a := w.attn, w.cur
	for j := lo; j < hi; j++ {
		attentionGroup(s, j/s.kvHeads, j%s.kvHeads, a.q, a.k, a.v, a.p, a.att)
	}
}

func (w *Workspace) attnBwdRange(lo, hi int) {
	s, a, tt := w.attn, w.cur, w.T*w.T
	for j := lo; j < hi; j++ {
		attentionGroupBackward(s, j/s.kvHeads, j%s.kvHeads, a.q, a.k, a.v, a.p, w.datt, w.dq, w.dk, w.dv, w.dp[j*tt:(j+1)*tt])
	}
}

// swiglu runs one of the elementwise SwiGLU range functions over the pool
// with operands ops; at batch·seq·hidden elements per layer it is the
// largest non-GEMM work.
func (w *Workspace) swiglu(fn func(lo, hi int), ops ...[]float32) {
	w.ew = [3][]float32{}
	copy(w.ew[:], ops)
	tensor.Parallel(len(ops[0]), fn)
}

// swigluRange sets a = silu(h1)⊙h3 with ew = {a, h1, h3}.
func (w *Workspace) swigluRange(lo, hi int) {
	tensor.SwiGLU(w.ew[0][lo:hi], w.ew[1][lo:hi], w.ew[2][lo:hi])
}

// swigluBwdRange turns ew = {h1, h3, da} into {∂L/∂h1, ∂L/∂h3, da} in place.
func (w *Workspace) swigluBwdRange(lo, hi int) {
	h1, h3 := w.ew[0][lo:hi], w.ew[1][lo:hi]
	tensor.SwiGLUBackward(h1, h3, w.ew[2][lo:hi], h1, h3)
}
