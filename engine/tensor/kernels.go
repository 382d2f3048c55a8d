package tensor

import "unsafe"

// microKernel computes the mr×nr block Ã·B̃ from a packed A micro-panel
// (k steps of mr values) and a packed B micro-panel (k steps of nr values)
// and stores it into C (row stride ldc), or adds it to C if accumulate.
type microKernel func(k int, a, b, c *float32, ldc int, accumulate bool)

// kernelSet is one microkernel with the cache blocking tuned for it: the
// packed A block (mc×kc) is meant to stay in L2 and a B micro-panel
// (kc×nr) in L1 while the kernel sweeps the A block.
type kernelSet struct {
	name       string
	mr, nr     int
	mc, kc, nc int
	kern       microKernel
}

// kernelSets lists every implementation built for this CPU architecture,
// fastest first; active is the first one the running CPU supports.
var (
	genericKernels = &kernelSet{name: "generic", mr: 4, nr: 4, mc: 128, kc: 256, nc: 1024, kern: kernGeneric}
	active         = pickKernels()
)

// setKernels switches the implementation by name, for tests and
// benchmarks that must cover every path on one machine. It is not safe to
// call while Sgemm runs.
func setKernels(name string) (restore func(), ok bool) {
	prev := active
	for _, ks := range availableKernels() {
		if ks.name == name {
			active = ks
			return func() { active = prev }, true
		}
	}
	return func() {}, false
}

// kernGeneric is the portable microkernel: 16 scalar accumulators, which
// the Go compiler keeps in registers.
func kernGeneric(k int, a, b, c *float32, ldc int, accumulate bool) {
	ap := unsafe.Slice(a, 4*k)
	bp := unsafe.Slice(b, 4*k)
	var c00, c01, c02, c03, c10, c11, c12, c13, c20, c21, c22, c23, c30, c31, c32, c33 float32
	for p := 0; p < k; p++ {
		av := ap[4*p : 4*p+4 : 4*p+4]
		bv := bp[4*p : 4*p+4 : 4*p+4]
		a0, a1, a2, a3 := av[0], av[1], av[2], av[3]
		b0, b1, b2, b3 := bv[0], bv[1], bv[2], bv[3]
		c00 += a0 * b0
		c01 += a0 * b1
		c02 += a0 * b2
		c03 += a0 * b3
		c10 += a1 * b0
		c11 += a1 * b1
		c12 += a1 * b2
		c13 += a1 * b3
		c20 += a2 * b0
		c21 += a2 * b1
		c22 += a2 * b2
		c23 += a2 * b3
		c30 += a3 * b0
		c31 += a3 * b1
		c32 += a3 * b2
		c33 += a3 * b3
	}
	cs := unsafe.Slice(c, 3*ldc+4)
	r0, r1, r2, r3 := cs[0:4:4], cs[ldc:ldc+4:ldc+4], cs[2*ldc:2*ldc+4:2*ldc+4], cs[3*ldc:3*ldc+4:3*ldc+4]
	if accumulate {
		c00 += r0[0]
		c01 += r0[1]
		c02 += r0[2]
		c03 += r0[3]
		c10 += r1[0]
		c11 += r1[1]
		c12 += r1[2]
		c13 += r1[3]
		c20 += r2[0]
		c21 += r2[1]
		c22 += r2[2]
		c23 += r2[3]
		c30 += r3[0]
		c31 += r3[1]
		c32 += r3[2]
		c33 += r3[3]
	}
	r0[0], r0[1], r0[2], r0[3] = c00, c01, c02, c03
	r1[0], r1[1], r1[2], r1[3] = c10, c11, c12, c13
	r2[0], r2[1], r2[2], r2[3] = c20, c21, c22, c23
	r3[0], r3[1], r3[2], r3[3] = c30, c31, c32, c33
}
