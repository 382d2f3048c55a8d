package tensor

import (
	"runtime"
	"sync"
)

// The package keeps one pool of worker goroutines for all its parallel work,
// so a training step costs no goroutine starts and no allocation: a call
// hands each worker a task by value over its channel and runs the first
// share itself on the calling goroutine.
//
// Only one caller uses the workers at a time. A caller that finds them busy
// (another goroutine's Sgemm, or Sgemm called from inside Parallel) runs its
// whole job alone instead of waiting, which also rules out deadlock.
type pool struct {
	mu      sync.Mutex // held while a call owns the workers
	cfg     sync.Mutex // serialises SetThreads
	workers []chan task
	wg      sync.WaitGroup
	job     gemmJob      // the call in flight, reused
	ws      *workspace   // packing buffers of the calling goroutine's share
	bufB    [2][]float32 // packed B shared by the workers of a call
	sub     []gemmJob    // per-worker jobs of a GEMM split along k
	scratch [][]float32  // their partial products, summed into C
}

// task is what a worker runs: either a Parallel range or a share of a GEMM.
type task struct {
	fn     func(lo, hi int)
	lo, hi int
	gemm   *gemmJob
}

var thePool = newPool(runtime.GOMAXPROCS(0))

func newPool(n int) *pool {
	p := &pool{ws: newWorkspace()}
	p.resize(n)
	return p
}

// resize must be called with p.mu held (or before p is shared).
func (p *pool) resize(n int) {
	n = max(n, 1)
	for _, ch := range p.workers {
		close(ch)
	}
	p.workers = p.workers[:0]
	p.sub = make([]gemmJob, n)
	p.scratch = make([][]float32, n)
	for range n - 1 {
		ch := make(chan task, 1)
		p.workers = append(p.workers, ch)
		go p.run(ch)
	}
}

func (p *pool) run(ch chan task) {
	ws := newWorkspace()
	for t := range ch {
		if t.gemm != nil {
			t.gemm.work(ws)
		} else {
			t.fn(t.lo, t.hi)
		}
		p.wg.Done()
	}
}

// SetThreads sets how many goroutines (the caller included) Sgemm and
// Parallel use; n < 1 means 1. The default is GOMAXPROCS at start-up.
// It waits for calls in flight to finish.
func SetThreads(n int) {
	thePool.cfg.Lock()
	defer thePool.cfg.Unlock()
	thePool.mu.Lock()
	defer thePool.mu.Unlock()
	thePool.resize(n)
}

// Threads reports the number of goroutines Sgemm and Parallel use.
func Threads() int {
	thePool.cfg.Lock()
	defer thePool.cfg.Unlock()
	return len(thePool.workers) + 1
}

// Parallel calls fn on contiguous, disjoint ranges that together cover
// [0, n), at most one range per pool thread, and returns when all are done.
// fn runs concurrently with itself, so it must only write what its range
// owns. If the pool is busy, fn(0, n) runs on the caller alone.
func Parallel(n int, fn func(lo, hi int)) {
	if n <= 0 {
		return
	}
	p := thePool
	if !p.mu.TryLock() {
		fn(0, n)
		return
	}
	defer p.mu.Unlock()
	parts := min(len(p.workers)+1, n)
	if parts == 1 {
		fn(0, n)
		return
	}
	p.wg.Add(parts - 1)
	for i := 1; i < parts; i++ {
		p.workers[i-1] <- task{fn: fn, lo: i * n / parts, hi: (i + 1) * n / parts}
	}
	fn(0, n/parts)
	p.wg.Wait()
}
