package tensor

import (
	"sync"
	"unsafe"
)

// gemmJob is one Sgemm call as the workers see it. The pool owns one and
// reuses it, so handing a call to the workers allocates nothing.
type gemmJob struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	ks             *kernelSet
	parts          int
	splitM         bool
}

// workspace holds one goroutine's packing buffers. Each pool worker owns
// one for its lifetime; callers that run alone borrow one from wsPool.
type workspace struct {
	a, b []float32 // packed A block (mc×kc) and B block (kc×nc), 64-byte aligned
	edge []float32 // an A panel cut by C's bottom edge, packed with zero rows
	tmp  []float32 // one mr×nr tile for edges of C
}

func newWorkspace() *workspace { return &workspace{} }

var wsPool = sync.Pool{New: func() any { return newWorkspace() }}

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

func (ws *workspace) ensure(ks *kernelSet) {
	if na := ks.mc * ks.kc; len(ws.a) < na {
		ws.a = alignedFloats(na)
	}
	if nb := ks.kc * roundUp(ks.nc, ks.nr); len(ws.b) < nb {
		ws.b = alignedFloats(nb)
	}
	if ne := ks.mr * ks.kc; len(ws.edge) < ne {
		ws.edge = alignedFloats(ne)
	}
	if nt := ks.mr * ks.nr; len(ws.tmp) < nt {
		ws.tmp = alignedFloats(nt)
	}
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
		j := &p.job
		*j = gemmJob{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
			a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc, ks: ks}
		threads := len(p.workers) + 1
		if 2*m*n*k < parallelMinFlops {
			threads = 1
		}
		j.plan(threads)
		p.wg.Add(j.parts - 1)
		for i := 1; i < j.parts; i++ {
			p.workers[i-1] <- task{gemm: j, part: i}
		}
		j.runPart(0, p.ws)
		p.wg.Wait()
		j.a, j.b, j.c = nil, nil, nil // do not keep the caller's memory alive
		return
	}
	// The pool is busy: run alone, with buffers borrowed for this call.
	j := gemmJob{transA: transA, transB: transB, m: m, n: n, k: k, alpha: alpha, beta: beta,
		a: a, b: b, c: c, lda: lda, ldb: ldb, ldc: ldc, ks: ks, parts: 1, splitM: true}
	ws := wsPool.Get().(*workspace)
	j.runPart(0, ws)
	wsPool.Put(ws)
}

// plan splits C among up to threads workers along its longer side, in
// whole micro-panels, so each worker runs an independent blocked GEMM on
// its slab of C without synchronising with the others.
func (j *gemmJob) plan(threads int) {
	ks := j.ks
	j.splitM = j.m >= j.n
	if j.splitM {
		j.parts = min(threads, (j.m+ks.mr-1)/ks.mr)
	} else {
		j.parts = min(threads, (j.n+ks.nr-1)/ks.nr)
	}
	j.parts = max(j.parts, 1)
}

// span returns part's share [lo, hi) of n items cut into unit-sized pieces.
func span(n, unit, parts, part int) (lo, hi int) {
	units := (n + unit - 1) / unit
	lo = min(units*part/parts*unit, n)
	hi = min(units*(part+1)/parts*unit, n)
	return lo, hi
}

func (j *gemmJob) runPart(part int, ws *workspace) {
	if j.splitM {
		lo, hi := span(j.m, j.ks.mr, j.parts, part)
		j.block(ws, lo, hi, 0, j.n)
	} else {
		lo, hi := span(j.n, j.ks.nr, j.parts, part)
		j.block(ws, 0, j.m, lo, hi)
	}
}

// block computes rows [i0, i1) and columns [j0, j1) of C with the BLIS
// loop nest: B is packed once per (jc, pc) block and each A block is swept
// by the microkernel across all B micro-panels.
func (j *gemmJob) block(ws *workspace, i0, i1, j0, j1 int) {
	if i0 >= i1 || j0 >= j1 {
		return
	}
	ks := j.ks
	ws.ensure(ks)
	if j.beta != 0 && j.beta != 1 {
		for i := i0; i < i1; i++ {
			Scale(j.beta, j.c[i*j.ldc+j0:i*j.ldc+j1])
		}
	}
	packA := j.n >= ks.packAMinN
	for jc := j0; jc < j1; jc += ks.nc {
		nc := min(ks.nc, j1-jc)
		for pc := 0; pc < j.k; pc += ks.kc {
			kc := min(ks.kc, j.k-pc)
			j.packB(ws.b, pc, kc, jc, nc)
			accumulate := pc > 0 || j.beta != 0
			for ic := i0; ic < i1; ic += ks.mc {
				mc := min(ks.mc, i1-ic)
				if packA {
					j.packA(ws.a, ic, mc, pc, kc)
				} else if rows := mc % ks.mr; rows != 0 {
					j.packA(ws.edge, ic+mc-rows, rows, pc, kc)
				}
				j.macro(ws, ic, mc, jc, nc, pc, kc, accumulate, packA)
			}
		}
	}
}

// macro runs the microkernel over one A block and packed B block. Tiles
// that overhang C's edge are computed into ws.tmp and copied in, so the
// kernels only ever handle full tiles.
func (j *gemmJob) macro(ws *workspace, ic, mc, jc, nc, pc, kc int, accumulate, packedA bool) {
	ks := j.ks
	mr, nr := ks.mr, ks.nr
	for jr := 0; jr < nc; jr += nr {
		bp := &ws.b[jr*kc]
		nw := min(nr, nc-jr)
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
				ks.kern(kc, ap, rs, ss, bp, nr, &j.c[ci], j.ldc, accumulate)
				continue
			}
			t := ws.tmp
			ks.kern(kc, ap, rs, ss, bp, nr, &t[0], nr, false)
			for r := range mh {
				dst := j.c[ci+r*j.ldc : ci+r*j.ldc+nw]
				src := t[r*nr : r*nr+nw]
				if accumulate {
					for x, v := range src {
						dst[x] += v
					}
				} else {
					copy(dst, src)
				}
			}
		}
	}
}

// packA copies op(A)[ic:ic+mc, pc:pc+kc] into dst as mr-row micro-panels,
// each k-major (mr values per k step), zero-padding the last panel to mr
// rows so the kernel needs no edge cases.
func (j *gemmJob) packA(dst []float32, ic, mc, pc, kc int) {
	mr := j.ks.mr
	a, lda := j.a, j.lda
	for ir := 0; ir < mc; ir += mr {
		panel := dst[ir*kc : ir*kc+mr*kc]
		rows := min(mr, mc-ir)
		if j.transA {
			// op(A)[i][p] = a[p*lda+i]: each k step is a contiguous run.
			for p := range kc {
				d := panel[p*mr : p*mr+mr]
				copy(d, a[(pc+p)*lda+ic+ir:][:rows])
				clear(d[rows:])
			}
			continue
		}
		for r := range rows {
			src := a[(ic+ir+r)*lda+pc:][:kc]
			for p, v := range src {
				panel[p*mr+r] = v
			}
		}
		for r := rows; r < mr; r++ {
			for p := range kc {
				panel[p*mr+r] = 0
			}
		}
	}
}

// packB copies alpha·op(B)[pc:pc+kc, jc:jc+nc] into dst as nr-column
// micro-panels, each k-major (nr values per k step), zero-padded to nr.
// Alpha goes here because B is always packed, while A may be read in place.
func (j *gemmJob) packB(dst []float32, pc, kc, jc, nc int) {
	nr := j.ks.nr
	b, ldb, alpha := j.b, j.ldb, j.alpha
	for jr := 0; jr < nc; jr += nr {
		panel := dst[jr*kc : jr*kc+nr*kc]
		cols := min(nr, nc-jr)
		if !j.transB {
			for p := range kc {
				d := panel[p*nr : p*nr+nr]
				src := b[(pc+p)*ldb+jc+jr:][:cols]
				if alpha == 1 {
					copy(d, src)
				} else {
					for x, v := range src {
						d[x] = alpha * v
					}
				}
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
			if alpha != 1 {
				for p := range p0 {
					Scale(alpha, panel[p*nr:p*nr+x0])
				}
			}
		}
		for x := range cols {
			src := b[(jc+jr+x)*ldb+pc:][:kc]
			if x < x0 {
				src = src[p0:] // the transposer did the first p0 steps
			}
			base := kc - len(src)
			for p, v := range src {
				panel[(base+p)*nr+x] = alpha * v
			}
		}
		for x := cols; x < nr; x++ {
			for p := range kc {
				panel[p*nr+x] = 0
			}
		}
	}
}
