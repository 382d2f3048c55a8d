package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"unsafe"
)

// A GEMM runs as a sequence of phases, one per (jc, pc) block of the BLIS
// loop nest: in each, B[pc:pc+kc, jc:jc+nc] is packed into a buffer shared
// by all workers, and then C[:, jc:jc+nc] is updated in items of one mc-row
// block of A times a group of packed B micro-panels. Workers take panels to
// pack and items to compute from atomic counters rather than fixed shares,
// so on a machine shared with other processes a worker that loses its core
// delays the call by one item, not by its whole share.
//
// Ordering: phase q's items start once its B is packed and phase q−1's
// items are done (they may add into the same C tiles); B is double
// buffered, so a worker that finishes early packs phase q+1 while others
// finish phase q.

// gemmJob is one Sgemm call as the workers see it. The pool owns one and
// reuses it, so handing a call to the workers allocates nothing.
type gemmJob struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	ks             *kernelSet
	bufB           [2][]float32 // packed B of even and odd phases
	// ownB makes the worker that runs the job pack B into its own
	// workspace: the job is one part of a split-k GEMM, run by one worker.
	ownB bool
	// x is op(A) when m = 1: a single token, as in decoding. Such a GEMM
	// reads each element of B once, so it is bound by memory, and packing
	// B would triple the traffic; it runs as dot products or axpys instead.
	x []float32
	// bInPlace makes the kernels read full-width B micro-panels straight
	// from B, which is possible when op(B) = B, and pays when few rows of A
	// share each packed panel (see plan).
	bInPlace bool

	// Work layout, fixed by plan.
	threads     int
	nK          int // phases per jc block
	icBlocks    int // mc-row blocks of A per phase
	mcEff       int // rows per item, a multiple of mr
	panelsFull  int // B micro-panels in a full-width (nc) phase
	groupsFull  int // column groups per item row in a full-width phase
	phases      int
	panelTicket atomic.Int64 // next B panel to pack, counted across phases
	panelDone   atomic.Int64
	itemTicket  atomic.Int64 // next item to compute, counted across phases
	itemDone    atomic.Int64
	mu          sync.Mutex // with cond, lets a waiting worker sleep
	cond        sync.Cond
}

// workspace holds one goroutine's packing buffers. Each pool worker owns
// one for its lifetime; callers that run alone borrow one from spares.
type workspace struct {
	a    []float32 // packed A block (mc×kc), when A is packed
	b    []float32 // packed B (kc×nc) for a call run alone
	edge []float32 // an A panel cut by C's bottom edge, packed with zero rows
	tmp  []float32 // one mr×nr tile for edges of C
	x    []float32 // op(A) gathered into a contiguous row, for m = 1
	job  gemmJob   // the job of a call run alone on this workspace
}

func newWorkspace() *workspace { return &workspace{} }

// spares holds the workspaces of calls that ran alone. Unlike a sync.Pool,
// which the GC empties, it keeps them, so such calls (GEMMs inside Parallel)
// stay allocation-free after warm-up; it holds at most as many as ever ran
// at once.
var spares struct {
	sync.Mutex
	free []*workspace
}

func getWorkspace() *workspace {
	spares.Lock()
	defer spares.Unlock()
	if n := len(spares.free); n > 0 {
		ws := spares.free[n-1]
		spares.free = spares.free[:n-1]
		return ws
	}
	return newWorkspace()
}

func putWorkspace(ws *workspace) {
	spares.Lock()
	spares.free = append(spares.free, ws)
	spares.Unlock()
}

// alignedFloats returns a slice of length n starting on a 64-byte boundary,
// so the kernels' full-vector loads of packed panels never split a cache
// line.
func alignedFloats(n int) []float32 {
	buf := make([]float32, n+16)
	off := int(uintptr(unsafe.Pointer(&buf[0])) & 63 / 4)
	if off != 0 {
		off = 16 - off
	}
	return buf[off : off+n : off+n]
}

func growAligned(buf []float32, n int) []float32 {
	if len(buf) < n {
		return alignedFloats(n)
	}
	return buf
}

func (ws *workspace) ensure(ks *kernelSet) {
	ws.a = growAligned(ws.a, ks.mc*ks.kc)
	ws.edge = growAligned(ws.edge, ks.mr*ks.kc)
	ws.tmp = growAligned(ws.tmp, ks.mr*ks.nr)
}

// packedBSize is the packed B buffer a GEMM of these sizes needs: small
// GEMMs (attention, run per head inside Parallel) then borrow small buffers.
func packedBSize(ks *kernelSet, n, k int) int {
	return min(ks.kc, k) * roundUp(min(ks.nc, n), ks.nr)
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// parallelMinFlops is the work below which handing a GEMM to the other
// workers costs more than it saves (a wake-up is a few microseconds).
const parallelMinFlops = 1 << 21

func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	ks := active
	p := thePool
	if p.mu.TryLock() {
		defer p.mu.Unlock()
		threads := len(p.workers) + 1
		if threads > 1 && m > 1 && splitK(m, n, k, ks, threads) {
			sgemmSplitK(p, threads, transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ks)
			return
		}
		j := &p.job
		j.set(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ks)
		if 2*m*n*k < parallelMinFlops {
			threads = 1
		}
		for i := range p.bufB {
			p.bufB[i] = growAligned(p.bufB[i], packedBSize(ks, n, k))
		}
		j.bufB = p.bufB
		p.ws.x = j.setX(p.ws.x)
		threads = j.plan(threads)
		if threads == 1 {
			j.work(p.ws)
		} else {
			p.call.gemm = j
			p.start(threads - 1)
			j.work(p.ws)
			p.finish()
		}
		// Do not keep the caller's memory alive.
		j.a, j.b, j.c, j.x = nil, nil, nil, nil
		return
	}
	// The pool is busy: run alone, with buffers borrowed for this call.
	ws := getWorkspace()
	ws.b = growAligned(ws.b, packedBSize(ks, n, k))
	j := &ws.job // reused with the workspace: a fresh one would escape
	j.set(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ks)
	j.bufB = [2][]float32{ws.b, ws.b} // phases run strictly in turn
	ws.x = j.setX(ws.x)
	j.plan(1)
	j.work(ws)
	j.a, j.b, j.c, j.x = nil, nil, nil, nil
	putWorkspace(ws)
}

// splitK reports whether to split a GEMM along k among the workers. When
// C is small next to k, as for weight gradients (k = tokens), cutting C
// leaves each worker slivers of work between the per-k-block barriers, so
// each worker instead computes the whole of C over its own range of k, and
// the partial products are summed.
func splitK(m, n, k int, ks *kernelSet, threads int) bool {
	return k >= 4*max(m, n) && k >= 2*threads*ks.kc && 2*m*n*k >= parallelMinFlops
}

func sgemmSplitK(p *pool, threads int, transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ks *kernelSet) {
	for t := range threads {
		// Cut k at multiples of kc, so no part has a short last block.
		k0 := k * t / threads / ks.kc * ks.kc
		k1 := k
		if t+1 < threads {
			k1 = k * (t + 1) / threads / ks.kc * ks.kc
		}
		as, bs := a[k0:], b[k0:]
		if transA {
			as = a[k0*lda:]
		}
		if !transB {
			bs = b[k0*ldb:]
		}
		cs, ld, bt := c, ldc, beta
		if t > 0 {
			p.scratch[t] = growAligned(p.scratch[t], m*n)
			cs, ld, bt = p.scratch[t], n, 0
		}
		j := &p.sub[t]
		j.set(transA, transB, m, n, k1-k0, alpha, as, lda, bs, ldb, bt, cs, ld, ks)
		j.ownB = true
		j.plan(1)
	}
	p.call.sub = p.sub[:threads]
	p.call.next.Store(0)
	p.start(threads - 1)
	p.call.work(p.ws)
	p.finish()
	for t := 1; t < threads; t++ {
		for i := range m {
			Axpy(1, p.scratch[t][i*n:i*n+n], c[i*ldc:i*ldc+n])
		}
		p.sub[t].a, p.sub[t].b, p.sub[t].c = nil, nil, nil
	}
	p.sub[0].a, p.sub[0].b, p.sub[0].c = nil, nil, nil
}

func (j *gemmJob) set(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ks *kernelSet) {
	j.transA, j.transB, j.m, j.n, j.k = transA, transB, m, n, k
	if beta == 0 {
		beta = 0 // −0 too must mean "do not read C" to the kernels
	}
	j.alpha, j.beta, j.a, j.b, j.c = alpha, beta, a, b, c
	j.lda, j.ldb, j.ldc, j.ks = lda, ldb, ldc, ks
	j.ownB = false
	j.panelTicket.Store(0)
	j.panelDone.Store(0)
	j.itemTicket.Store(0)
	j.itemDone.Store(0)
	if j.cond.L == nil {
		j.cond.L = &j.mu
	}
}

// setX points j.x at op(A) when m = 1, gathering a transposed A's column
// into buf (grown as needed), which it returns for reuse.
func (j *gemmJob) setX(buf []float32) []float32 {
	j.x = nil
	if j.m != 1 {
		return buf
	}
	if !j.transA {
		j.x = j.a[:j.k]
		return buf
	}
	if len(buf) < j.k {
		buf = make([]float32, j.k)
	}
	for p := range j.k {
		buf[p] = j.a[p*j.lda]
	}
	j.x = buf[:j.k]
	return buf
}

// gemvChunk is the number of columns of C in one item of an m = 1 GEMM.
const gemvChunk = 256

// plan lays out the phases and items for up to threads workers and returns
// how many to use. Items are cut fine enough that each worker gets about
// four per phase, for balance, but no finer than one micro-panel.
func (j *gemmJob) plan(threads int) int {
	ks := j.ks
	j.threads = threads
	if j.x != nil {
		items := (j.n + gemvChunk - 1) / gemvChunk
		return max(1, min(threads, items))
	}
	j.bInPlace = !j.transB && j.m < ks.packBMinM
	j.nK = (j.k + ks.kc - 1) / ks.kc
	j.phases = (j.n + ks.nc - 1) / ks.nc * j.nK
	j.icBlocks = (j.m + ks.mc - 1) / ks.mc
	if threads > 1 && j.icBlocks < 4*threads {
		// Fewer, shorter row blocks balance better than wide ones alone.
		j.icBlocks = min(4*threads, (j.m+ks.mr-1)/ks.mr)
	}
	j.mcEff = roundUp((j.m+j.icBlocks-1)/j.icBlocks, ks.mr)
	j.icBlocks = (j.m + j.mcEff - 1) / j.mcEff
	j.panelsFull = roundUp(min(ks.nc, j.n), ks.nr) / ks.nr
	j.groupsFull = j.groups(j.panelsFull, threads)
	return max(1, min(threads, j.icBlocks*j.groupsFull))
}

// groups is how many column groups each row block of a phase with the
// given number of B panels is cut into.
func (j *gemmJob) groups(panels, threads int) int {
	if threads == 1 {
		return 1
	}
	return max(1, min(panels, (4*threads+j.icBlocks-1)/j.icBlocks))
}

// phase describes phase q: its block of B and its range of panel and item
// tickets.
type phase struct {
	jc, nc, pc, kc         int
	panels, groups         int
	panel0, item0, itemEnd int64
}

func (j *gemmJob) phase(q int) phase {
	ks := j.ks
	jb, kb := q/j.nK, q%j.nK
	ph := phase{jc: jb * ks.nc, pc: kb * ks.kc}
	ph.nc = min(ks.nc, j.n-ph.jc)
	ph.kc = min(ks.kc, j.k-ph.pc)
	ph.panels = (ph.nc + ks.nr - 1) / ks.nr
	ph.groups = j.groupsFull
	if ph.panels != j.panelsFull {
		ph.groups = j.groups(ph.panels, j.threads) // the narrow last jc block
	}
	// Every jc block before jb is full width, so the counts before phase q
	// are those of jb·nK full phases and kb phases like this one.
	itemsFull := int64(j.icBlocks * j.groupsFull)
	items := int64(j.icBlocks * ph.groups)
	ph.panel0 = int64(jb*j.nK*j.panelsFull + kb*ph.panels)
	ph.item0 = int64(jb*j.nK)*itemsFull + int64(kb)*items
	ph.itemEnd = ph.item0 + items
	return ph
}

// grab takes the next ticket below end from ctr, if any is left.
func grab(ctr *atomic.Int64, end int64) (int64, bool) {
	for {
		t := ctr.Load()
		if t >= end {
			return 0, false
		}
		if ctr.CompareAndSwap(t, t+1) {
			return t, true
		}
	}
}

// done counts one finished ticket and wakes sleepers when it completes a
// phase; waiters only ever wait for phase boundaries, which are reached in
// order (see the ordering note above).
func (j *gemmJob) done(ctr *atomic.Int64, end int64) {
	if ctr.Add(1) == end {
		j.mu.Lock()
		j.cond.Broadcast()
		j.mu.Unlock()
	}
}

// waitFor returns once ctr ≥ target, spinning briefly (the wait is usually
// a few microseconds) before sleeping.
func (j *gemmJob) waitFor(ctr *atomic.Int64, target int64) {
	for range 50 {
		if ctr.Load() >= target {
			return
		}
		runtime.Gosched()
	}
	j.mu.Lock()
	for ctr.Load() < target {
		j.cond.Wait()
	}
	j.mu.Unlock()
}

// work is what every worker of the call runs, the caller included.
func (j *gemmJob) work(ws *workspace) {
	if j.x != nil {
		items := int64((j.n + gemvChunk - 1) / gemvChunk)
		for {
			t, ok := grab(&j.itemTicket, items)
			if !ok {
				return
			}
			j.gemv(int(t)*gemvChunk, min(j.n, int(t+1)*gemvChunk))
		}
	}
	ws.ensure(j.ks)
	if j.ownB {
		ws.b = growAligned(ws.b, packedBSize(j.ks, j.n, j.k))
		j.bufB = [2][]float32{ws.b, ws.b}
	}
	var prevItem0 int64
	for q := range j.phases {
		ph := j.phase(q)
		buf := j.bufB[q%2]
		if q >= 2 {
			// buf was last read by phase q−2's items.
			j.waitFor(&j.itemDone, prevItem0)
		}
		panelEnd := ph.panel0 + int64(ph.panels)
		for {
			t, ok := grab(&j.panelTicket, panelEnd)
			if !ok {
				break
			}
			jr := int(t-ph.panel0) * j.ks.nr
			if nw := min(j.ks.nr, ph.nc-jr); !j.bInPlace || nw < j.ks.nr {
				j.packB(buf[jr*ph.kc:], ph.pc, ph.kc, ph.jc+jr, nw)
			}
			j.done(&j.panelDone, panelEnd)
		}
		j.waitFor(&j.panelDone, panelEnd)
		j.waitFor(&j.itemDone, ph.item0)
		for {
			t, ok := grab(&j.itemTicket, ph.itemEnd)
			if !ok {
				break
			}
			j.item(ws, &ph, buf, int(t-ph.item0))
			j.done(&j.itemDone, ph.itemEnd)
		}
		prevItem0 = ph.item0
	}
}

// gemv computes columns [j0, j1) of C's single row.
func (j *gemmJob) gemv(j0, j1 int) {
	c := j.c[j0:j1]
	if j.transB {
		for jj := j0; jj < j1; jj++ {
			d := j.alpha * Dot(j.x, j.b[jj*j.ldb:jj*j.ldb+j.k])
			if j.beta != 0 {
				d += j.beta * c[jj-j0]
			}
			c[jj-j0] = d
		}
		return
	}
	switch j.beta {
	case 0:
		clear(c)
	case 1:
	default:
		Scale(j.beta, c)
	}
	for p, v := range j.x {
		Axpy(j.alpha*v, j.b[p*j.ldb+j0:p*j.ldb+j1], c)
	}
}

// item computes one row block × column group of phase ph.
func (j *gemmJob) item(ws *workspace, ph *phase, buf []float32, idx int) {
	ks := j.ks
	ib, g := idx/ph.groups, idx%ph.groups
	ic := ib * j.mcEff
	mc := min(j.mcEff, j.m-ic)
	p0, p1 := g*ph.panels/ph.groups, (g+1)*ph.panels/ph.groups
	j0, j1 := ph.jc+p0*ks.nr, min(ph.jc+p1*ks.nr, ph.jc+ph.nc)
	// Only the first k block applies beta; later ones add to its result.
	beta := j.beta
	if ph.pc > 0 {
		beta = 1
	}
	packA := j.n >= ks.packAMinN || j.transA && ks.packTransA
	// Row blocks larger than mc (few items) are swept mc rows at a time
	// so that the A block stays in L2.
	for i0 := ic; i0 < ic+mc; i0 += ks.mc {
		rows := min(ks.mc, ic+mc-i0)
		if packA {
			j.packA(ws.a, i0, rows, ph.pc, ph.kc)
		} else if r := rows % ks.mr; r != 0 {
			j.packA(ws.edge, i0+rows-r, r, ph.pc, ph.kc)
		}
		j.macro(ws, buf, i0, rows, ph.jc, j0-ph.jc, j1-ph.jc, ph.pc, ph.kc, beta, packA)
	}
}

// macro runs the microkernel over rows [ic, ic+mc) of A and the packed B
// micro-panels covering columns [jc+jlo, jc+jhi) of C. Tiles that overhang
// C's edge are computed into ws.tmp and copied in, so the kernels only ever
// handle full tiles.
func (j *gemmJob) macro(ws *workspace, bufB []float32, ic, mc, jc, jlo, jhi, pc, kc int, beta float32, packedA bool) {
	ks := j.ks
	mr, nr := ks.mr, ks.nr
	for jr := jlo; jr < jhi; jr += nr {
		bp, bs := &bufB[jr*kc], nr
		nw := min(nr, jhi-jr)
		if j.bInPlace && nw == nr {
			bp, bs = &j.b[pc*j.ldb+jc+jr], j.ldb
		}
		for ir := 0; ir < mc; ir += mr {
			mh := min(mr, mc-ir)
			var ap *float32
			rs, ss := 1, mr
			switch {
			case packedA:
				ap = &ws.a[ir*kc]
			case mh < mr:
				ap = &ws.edge[0]
			case j.transA:
				ap, rs, ss = &j.a[pc*j.lda+ic+ir], 1, j.lda
			default:
				ap, rs, ss = &j.a[(ic+ir)*j.lda+pc], j.lda, 1
			}
			ci := (ic+ir)*j.ldc + jc + jr
			if mh == mr && nw == nr {
				ks.kern(kc, ap, rs, ss, bp, bs, &j.c[ci], j.ldc, j.alpha, beta)
				continue
			}
			t := ws.tmp
			ks.kern(kc, ap, rs, ss, bp, bs, &t[0], nr, j.alpha, 0)
			for r := range mh {
				dst := j.c[ci+r*j.ldc : ci+r*j.ldc+nw]
				src := t[r*nr : r*nr+nw]
				if beta == 0 {
					copy(dst, src)
					continue
				}
				for x, v := range src {
					dst[x] = v + beta*dst[x]
				}
			}
		}
	}
}

// packA copies op(A)[ic:ic+mc, pc:pc+kc] into dst as mr-row micro-panels,
// each k-major (mr values per k step), zero-padding the last panel to mr
// rows so the kernel needs no edge cases.
func (j *gemmJob) packA(dst []float32, ic, mc, pc, kc int) {
	ks := j.ks
	mr := ks.mr
	a, lda := j.a, j.lda
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : ir*kc+mr*kc]
		rows := min(mr, mc-ir)
		if j.transA {
			// op(A)[i][p] = a[p*lda+i]: each k step is a contiguous run.
			if rows == mr && ks.copyRows != nil {
				ks.copyRows(kc, &a[pc*lda+ic+ir], lda, &panel[0])
				continue
			}
			for p := range kc {
				d := panel[p*mr : p*mr+mr]
				copy(d, a[(pc+p)*lda+ic+ir:][:rows])
				clear(d[rows:])
			}
			continue
		}
		// A transpose: 8×8 in registers where possible, the rest scalar.
		p0 := 0
		if rows == 8 && mr == 8 && ks.transpose8 != nil && kc >= 8 {
			p0 = kc &^ 7
			ks.transpose8(p0/8, &a[(ic+ir)*lda+pc], lda, &panel[0], 8)
		}
		for r := range rows {
			src := a[(ic+ir+r)*lda+pc+p0:][:kc-p0]
			for p, v := range src {
				panel[(p0+p)*mr+r] = v
			}
		}
		for r := rows; r < mr; r++ {
			for p := range kc {
				panel[p*mr+r] = 0
			}
		}
	}
}

// packB copies op(B)[pc:pc+kc, jc:jc+nc] into dst as nr-column
// micro-panels, each k-major (nr values per k step), zero-padded to nr.
func (j *gemmJob) packB(dst []float32, pc, kc, jc, nc int) {
	nr := j.ks.nr
	b, ldb := j.b, j.ldb
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : jr*kc+nr*kc]
		cols := min(nr, nc-jr)
		if !j.transB {
			for p := range kc {
				d := panel[p*nr : p*nr+nr]
				copy(d, b[(pc+p)*ldb+jc+jr:][:cols])
				clear(d[cols:])
			}
			continue
		}
		// op(B)[p][x] = b[x*ldb+p]: a transpose, done 8×8 in registers when
		// the kernel set has a transposer, else by strided scalar stores.
		x0, p0 := 0, 0
		if tr := j.ks.transpose8; tr != nil && kc >= 8 {
			x0, p0 = cols&^7, kc&^7
			for x := 0; x < x0; x += 8 {
				tr(p0/8, &b[(jc+jr+x)*ldb+pc], ldb, &panel[x], nr)
			}
		}
		for x := range cols {
			src := b[(jc+jr+x)*ldb+pc:][:kc]
			if x < x0 {
				src = src[p0:] // the transposer did the first p0 steps
			}
			base := kc - len(src)
			for p, v := range src {
				panel[(base+p)*nr+x] = v
			}
		}
		for x := cols; x < nr; x++ {
			for p := range kc {
				panel[p*nr+x] = 0
			}
		}
	}
}
