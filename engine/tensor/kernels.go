package tensor

import "unsafe"

// microKernel computes the mr×nr block acc = op(A)·op(B) over k steps and
// sets C = alpha·acc + beta·C (row stride ldc), not reading C when beta is
// 0. Element (i, p)
// of A is a[i·rs + p·ss], so a packed panel (rs=1, ss=mr) and A in place,
// plain (rs=lda, ss=1) or transposed (rs=1, ss=lda), all use one kernel.
// Element (p, j) of B is b[p·bs + j].
type microKernel func(k int, a *float32, rs, ss int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)

// kernelSet is one microkernel with the blocking tuned for it: the A block
// (mc×kc) is meant to stay in L2 and a packed B micro-panel (kc×nr) in L1
// while the kernel sweeps the A block. A is packed only when n ≥ packAMinN:
// packing costs a pass over A that only pays off when each A panel is
// reused across many B micro-panels.
type kernelSet struct {
	name       string
	mr, nr     int
	mc, kc, nc int
	packAMinN  int
	packBMinM  int // B is packed when m ≥ packBMinM or it must be
	kern       microKernel
	// transpose8, if set, writes dst[p·ldd+r] = src[r·lds+p] for r < 8 and
	// p < 8·n8; packing B for op(B) = Bᵀ uses it.
	transpose8 func(n8 int, src *float32, lds int, dst *float32, ldd int)
	// copyRows, if set, writes dst[mr·p+r] = src[p·lds+r] for r < mr and
	// p < n; packing a transposed A into micro-panels uses it.
	copyRows func(n int, src *float32, lds int, dst *float32)
	// packTransA packs a transposed A whatever n is. Read in place, its k
	// steps are lda apart, and at a power-of-two lda they all fall in one
	// set of the L1 cache (Zen 3's is 32 KiB, 8-way): the weight gradients
	// ran at 55–78% of peak there.
	packTransA bool
}

// kernelSets lists every implementation built for this CPU architecture,
// fastest first; active is the first one the running CPU supports.
var (
	genericKernels = &kernelSet{name: "generic", mr: 4, nr: 4, mc: 128, kc: 256, nc: 1024, packAMinN: 1 << 30, kern: kernGeneric}
	active         = pickKernels()
)

// setKernels switches the implementation by name, for tests and
// benchmarks that must cover every path on one machine. It is not safe to
// call while Sgemm runs.
func setKernels(name string) (restore func(), ok bool) {
	prev := active
	for _, ks := range variantKernels() {
		if ks.name == name {
			active = ks
			return func() { active = prev }, true
		}
	}
	return func() {}, false
}

// kernGeneric is the portable microkernel: 16 scalar accumulators, which
// the Go compiler keeps in registers. It indexes through unsafe pointers
// because the strided A makes bounds-check elimination impossible; Sgemm's
// argument checks guarantee every address is inside a, b and c.
func kernGeneric(k int, a *float32, rs, ss int, b *float32, bs int, c *float32, ldc int, alpha, beta float32) {
	pa, pb := unsafe.Pointer(a), unsafe.Pointer(b)
	r1, r2, r3 := uintptr(rs)*4, uintptr(rs)*8, uintptr(rs)*12
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := range uintptr(k) {
		ap := unsafe.Add(pa, p*uintptr(ss)*4)
		bv := *(*[4]float32)(unsafe.Add(pb, p*uintptr(bs)*4))
		a0 := *(*float32)(ap)
		a1 := *(*float32)(unsafe.Add(ap, r1))
		a2 := *(*float32)(unsafe.Add(ap, r2))
		a3 := *(*float32)(unsafe.Add(ap, r3))
		c00 += a0 * bv[0]
		c01 += a0 * bv[1]
		c02 += a0 * bv[2]
		c03 += a0 * bv[3]
		c10 += a1 * bv[0]
		c11 += a1 * bv[1]
		c12 += a1 * bv[2]
		c13 += a1 * bv[3]
		c20 += a2 * bv[0]
		c21 += a2 * bv[1]
		c22 += a2 * bv[2]
		c23 += a2 * bv[3]
		c30 += a3 * bv[0]
		c31 += a3 * bv[1]
		c32 += a3 * bv[2]
		c33 += a3 * bv[3]
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	r0, rw1, rw2, rw3 := cs[0:4:4], cs[ldc:ldc+4:ldc+4], cs[2*ldc:2*ldc+4:2*ldc+4], cs[3*ldc:3*ldc+4:3*ldc+4]
	c00, c01, c02, c03 = alpha*c00, alpha*c01, alpha*c02, alpha*c03
	c10, c11, c12, c13 = alpha*c10, alpha*c11, alpha*c12, alpha*c13
	c20, c21, c22, c23 = alpha*c20, alpha*c21, alpha*c22, alpha*c23
	c30, c31, c32, c33 = alpha*c30, alpha*c31, alpha*c32, alpha*c33
	if beta != 0 {
		c00 += beta * r0[0]
		c01 += beta * r0[1]
		c02 += beta * r0[2]
		c03 += beta * r0[3]
		c10 += beta * rw1[0]
		c11 += beta * rw1[1]
		c12 += beta * rw1[2]
		c13 += beta * rw1[3]
		c20 += beta * rw2[0]
		c21 += beta * rw2[1]
		c22 += beta * rw2[2]
		c23 += beta * rw2[3]
		c30 += beta * rw3[0]
		c31 += beta * rw3[1]
		c32 += beta * rw3[2]
		c33 += beta * rw3[3]
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	rw1[0], rw1[1], rw1[2], rw1[3] = c10, c11, c12, c13
	rw2[0], rw2[1], rw2[2], rw2[3] = c20, c21, c22, c23
	rw3[0], rw3[1], rw3[2], rw3[3] = c30, c31, c32, c33
}
