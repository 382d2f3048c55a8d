package llama

import (
	"runtime"
	"sync"

	"github.com/synthloop/synthloop/engine/tensor"
)

// tensorAddLinear accumulates y += x·Wᵀ: the residual connections.
func tensorAddLinear(y, x, w []float32, n, in, out int) {
	tensor.Sgemm(false, true, n, out, in, 1, x, in, w, in, 1, y, out)
}

func workers() int { return runtime.GOMAXPROCS(0) }

// parallelFor splits [0, n) into one contiguous chunk per worker and calls
// fn(worker, lo, hi) for each; worker indexes per-worker scratch.
func parallelFor(nw, n int, fn func(worker, lo, hi int)) {
	nw = min(nw, n)
	if nw <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	var wg sync.WaitGroup
	for i := range nw {
		lo, hi := i*n/nw, (i+1)*n/nw
		wg.Add(1)
		go func() { defer wg.Done(); fn(i, lo, hi) }()
	}
	wg.Wait()
}

func (w *Workspace) attentionForward(a *layerActs) {
	s := w.attn
	parallelFor(w.parallelWorkers, w.B*s.kvHeads, func(_, lo, hi int) {
		for j := lo; j < hi; j++ {
			attentionGroup(s, j/s.kvHeads, j%s.kvHeads, a.q, a.k, a.v, a.p, a.att)
		}
	})
}

func (w *Workspace) attentionBackward(a *layerActs) {
	s := w.attn
	parallelFor(w.parallelWorkers, w.B*s.kvHeads, func(wk, lo, hi int) {
		for j := lo; j < hi; j++ {
			attentionGroupBackward(s, j/s.kvHeads, j%s.kvHeads, a.q, a.k, a.v, a.p, w.datt, w.dq, w.dk, w.dv, w.dp[wk])
		}
	})
}
