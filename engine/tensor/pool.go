package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
)

// The package keeps one pool of worker goroutines for all its parallel work,
// so a training step costs no goroutine starts and no allocation.
//
// Only one call uses the workers at a time. A caller that finds them busy
// (another goroutine's Sgemm, or Sgemm called from inside Parallel) runs its
// whole job alone instead of waiting, which also rules out deadlock.
//
// A parallel call opens itself for joining, wakes the workers and works on
// it from the calling goroutine; its work is cut into pieces that whoever
// is inside claims from atomic counters. A worker joins only while the call
// is open, and the caller, once no piece is left to claim, closes the call
// and waits only for the workers inside. So on a machine shared with other
// processes, a worker whose thread is not running when the call starts
// costs the call nothing: the caller does its share, and the late worker,
// when it wakes, finds the call closed (or joins a later one).
type pool struct {
	mu      sync.Mutex // held while a call owns the workers
	cfg     sync.Mutex // serialises SetThreads
	workers []chan struct{}
	// state is openBit while a call may be joined, plus the number of
	// workers inside it.
	state   atomic.Uint64
	drained chan struct{} // the last worker to leave a closed call signals
	call    call
	job     gemmJob      // the GEMM in flight, reused
	ws      *workspace   // packing buffers of the calling goroutine
	bufB    [2][]float32 // packed B shared by the workers of a call
	sub     []gemmJob    // the parts of a GEMM split along k
	scratch [][]float32  // their partial products, summed into C
}

const openBit = 1 << 62

// call is the work of the parallel call in flight, read by workers only
// while they are inside it.
type call struct {
	gemm  *gemmJob         // a GEMM whose tickets the workers share, or
	sub   []gemmJob        // the parts of a split-k GEMM, one per claim, or
	fn    func(lo, hi int) // a Parallel call of n items in parts ranges
	n     int
	parts int
	next  atomic.Int64 // next part (of sub or fn) to claim
}

var thePool = newPool(runtime.GOMAXPROCS(0))

func newPool(n int) *pool {
	p := &pool{ws: newWorkspace(), drained: make(chan struct{}, 1)}
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
		ch := make(chan struct{}, 1)
		p.workers = append(p.workers, ch)
		go p.run(ch)
	}
}

// run is a worker: each wake-up is an invitation to join whatever call is
// open, if any.
func (p *pool) run(wake chan struct{}) {
	ws := newWorkspace()
	for range wake {
		if p.join() {
			p.call.work(ws)
			p.leave()
		}
	}
}

func (p *pool) join() bool {
	for {
		s := p.state.Load()
		if s&openBit == 0 {
			return false
		}
		if p.state.CompareAndSwap(s, s+1) {
			return true
		}
	}
}

func (p *pool) leave() {
	if p.state.Add(^uint64(0)) == 0 {
		p.drained <- struct{}{} // closed, and this was the last one inside
	}
}

// start opens the call described by p.call and wakes up to helpers
// workers. A wake-up that finds a worker's channel full is dropped: that
// worker has one pending already and will join when it reads it.
func (p *pool) start(helpers int) {
	p.state.Store(openBit)
	for _, ch := range p.workers[:helpers] {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// finish closes the call, once the caller has found nothing left to claim,
// and waits for the workers still inside.
func (p *pool) finish() {
	if p.state.And(^uint64(openBit)) != openBit {
		<-p.drained
	}
	p.call = call{}
}

// work runs pieces of the call until none is left to claim.
func (c *call) work(ws *workspace) {
	switch {
	case c.gemm != nil:
		c.gemm.work(ws)
	case c.sub != nil:
		for {
			t := int(c.next.Add(1) - 1)
			if t >= len(c.sub) {
				return
			}
			c.sub[t].work(ws)
		}
	default:
		for {
			t := int(c.next.Add(1) - 1)
			if t >= c.parts {
				return
			}
			c.fn(t*c.n/c.parts, (t+1)*c.n/c.parts)
		}
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
// [0, n), one range per pool thread at most, and returns when all are done.
// fn runs concurrently with itself, so it must only write what its range
// owns; which goroutine runs which range is not fixed (the caller may run
// them all). If the pool is busy, fn(0, n) runs on the caller alone.
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
	p.call.fn, p.call.n, p.call.parts = fn, n, parts
	p.call.next.Store(0)
	p.start(parts - 1)
	p.call.work(nil)
	p.finish()
}
