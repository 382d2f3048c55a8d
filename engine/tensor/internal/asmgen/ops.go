package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The elementwise kernels process 16 floats per step under a lane mask, so
// one loop body also does the ragged tail: the mask is all ones until fewer
// than 16 remain. Masked-off lanes are neither loaded (zeroing loads) nor
// stored, so no kernel touches memory past n.

func elementwise() {
	dotKernel()
	axpyKernel()
	scaleKernel()
	addKernel()
	maxKernel()
	expSumKernel()
	siluKernel()
	swigluKernel()
	swigluBackKernel()
	rmsScaleKernel()
	dot3Kernel()
	rmsBackKernel()
}

// broadcastConst returns a fresh zmm holding v in every lane.
func broadcastConst(v float32) reg.VecVirtual {
	g := GP32()
	MOVL(U32(math.Float32bits(v)), g)
	z := ZMM()
	VPBROADCASTD(g, z)
	return z
}

// maskedLoop emits the loop over n elements: body gets the lane mask and
// must advance nothing; the loop advances every pointer in ptrs by 64 bytes.
func maskedLoop(n reg.Register, ptrs []reg.Register, body func(k reg.Register)) {
	one, rem := GP32(), GP32()
	Label("loop")
	CMPQ(n, Imm(0))
	JLE(LabelRef("done"))
	CMPQ(n, Imm(16))
	JGE(LabelRef("full"))
	// Fewer than 16 left: the mask keeps the low n lanes.
	MOVL(U32(1), one)
	SHLXL(n.(reg.GPVirtual).As32(), one, rem)
	DECL(rem)
	KMOVW(rem, reg.K1)
	JMP(LabelRef("body"))
	Label("full")
	KXNORW(reg.K1, reg.K1, reg.K1)
	Label("body")
	body(reg.K1)
	for _, p := range ptrs {
		ADDQ(Imm(64), p)
	}
	SUBQ(Imm(16), n)
	JMP(LabelRef("loop"))
	Label("done")
}

// header opens a kernel: a NOSPLIT function that keeps no pointer it is
// given (noescape), so Go callers' slices stay on their stacks.
func header(name, signature, doc string) {
	TEXT(name, NOSPLIT, signature)
	Pragma("noescape")
	Doc(doc)
}

// broadcastParam returns a fresh vector register from alloc holding the
// float32 argument name in every lane.
func broadcastParam(name string, alloc func() reg.VecVirtual) reg.VecVirtual {
	v := alloc()
	VBROADCASTSS(Load(Param(name), XMM()), v)
	return v
}

// params loads the named integer and pointer arguments into registers.
func params(names ...string) []reg.Register {
	r := make([]reg.Register, len(names))
	for i, name := range names {
		r[i] = Load(Param(name), GP64())
	}
	return r
}

// zeroed returns n vector registers from alloc, cleared, as accumulators.
func zeroed(n int, alloc func() reg.VecVirtual) []reg.VecVirtual {
	acc := make([]reg.VecVirtual, n)
	for i := range acc {
		acc[i] = alloc()
		VXORPS(acc[i], acc[i], acc[i])
	}
	return acc
}

// hsum leaves the sum of z's lanes in the low lane of z's xmm.
func hsum(z reg.VecVirtual) reg.VecVirtual {
	y := YMM()
	VEXTRACTF64X4(Imm(1), z, y)
	VADDPS(y, z.AsY(), y)
	x := XMM()
	VEXTRACTF128(Imm(1), y, x)
	VADDPS(x, y.AsX(), x)
	x2 := XMM()
	VMOVHLPS(x, x, x2)
	VADDPS(x2, x, x)
	VMOVSHDUP(x, x2)
	VADDSS(x2, x, x)
	return x
}

func dotKernel() {
	header("dotAVX512", "func(x, y *float32, n int) float32", "dotAVX512 returns Σ x[i]·y[i] for i < n.")
	p := params("x", "y", "n")
	x, y, n := p[0], p[1], p[2]
	// Four accumulators hide the FMA latency in the unmasked main loop.
	acc := zeroed(4, ZMM)
	Label("loop64")
	CMPQ(n, Imm(64))
	JL(LabelRef("loop"))
	for i := range acc {
		v := ZMM()
		VMOVUPS(Mem{Base: x, Disp: 64 * i}, v)
		VFMADD231PS(Mem{Base: y, Disp: 64 * i}, v, acc[i])
	}
	ADDQ(U32(256), x)
	ADDQ(U32(256), y)
	SUBQ(Imm(64), n)
	JMP(LabelRef("loop64"))
	maskedLoop(n, []reg.Register{x, y}, func(k reg.Register) {
		a, b := ZMM(), ZMM()
		VMOVUPS_Z(Mem{Base: x}, k, a)
		VMOVUPS_Z(Mem{Base: y}, k, b)
		VFMADD231PS(b, a, acc[0])
	})
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	Store(hsum(acc[0]), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func axpyKernel() {
	header("axpyAVX512", "func(alpha float32, x, y *float32, n int)", "axpyAVX512 sets y[i] += alpha·x[i] for i < n.")
	al := broadcastParam("alpha", ZMM)
	p := params("x", "y", "n")
	x, y, n := p[0], p[1], p[2]
	maskedLoop(n, []reg.Register{x, y}, func(k reg.Register) {
		a, b := ZMM(), ZMM()
		VMOVUPS_Z(Mem{Base: x}, k, a)
		VMOVUPS_Z(Mem{Base: y}, k, b)
		VFMADD231PS(a, al, b)
		VMOVUPS(b, k, Mem{Base: y})
	})
	VZEROUPPER()
	RET()
}

func scaleKernel() {
	header("scaleAVX512", "func(alpha float32, x *float32, n int)", "scaleAVX512 sets x[i] *= alpha for i < n.")
	al := broadcastParam("alpha", ZMM)
	p := params("x", "n")
	x, n := p[0], p[1]
	maskedLoop(n, []reg.Register{x}, func(k reg.Register) {
		a := ZMM()
		VMOVUPS_Z(Mem{Base: x}, k, a)
		VMULPS(al, a, a)
		VMOVUPS(a, k, Mem{Base: x})
	})
	VZEROUPPER()
	RET()
}

func addKernel() {
	header("addAVX512", "func(dst, a, b *float32, n int)", "addAVX512 sets dst[i] = a[i] + b[i] for i < n.")
	p := params("dst", "a", "b", "n")
	d, a, b, n := p[0], p[1], p[2], p[3]
	maskedLoop(n, []reg.Register{d, a, b}, func(k reg.Register) {
		x, y := ZMM(), ZMM()
		VMOVUPS_Z(Mem{Base: a}, k, x)
		VMOVUPS_Z(Mem{Base: b}, k, y)
		VADDPS(y, x, x)
		VMOVUPS(x, k, Mem{Base: d})
	})
	VZEROUPPER()
	RET()
}

func maxKernel() {
	header("maxAVX512", "func(x *float32, n int) float32", "maxAVX512 returns the largest x[i] for i < n; n ≥ 1.")
	p := params("x", "n")
	x, n := p[0], p[1]
	m := ZMM()
	VBROADCASTSS(Mem{Base: x}, m)
	maskedLoop(n, []reg.Register{x}, func(k reg.Register) {
		a := ZMM()
		VMOVUPS_Z(Mem{Base: x}, k, a)
		// Merge masking leaves masked-off lanes of m as they were.
		VMAXPS(a, m, k, m)
	})
	y := YMM()
	VEXTRACTF64X4(Imm(1), m, y)
	VMAXPS(y, m.AsY(), y)
	xm := XMM()
	VEXTRACTF128(Imm(1), y, xm)
	VMAXPS(xm, y.AsX(), xm)
	x2 := XMM()
	VMOVHLPS(xm, xm, x2)
	VMAXPS(x2, xm, xm)
	VMOVSHDUP(xm, x2)
	VMAXSS(x2, xm, xm)
	Store(xm, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// expConsts are the constants of vexp, loaded once per call.
type expConsts struct {
	lo, hi, log2e, ln2hi, ln2lo, one reg.VecVirtual
	c                                [6]reg.VecVirtual
}

func loadExpConsts() *expConsts {
	e := &expConsts{
		// Below -104 exp underflows to 0 and above 89 overflows to +Inf;
		// clamping first keeps ±Inf inputs from turning into NaN (x − n·ln2).
		lo:    broadcastConst(-104),
		hi:    broadcastConst(89),
		log2e: broadcastConst(float32(math.Log2E)),
		ln2hi: broadcastConst(0.693359375),
		ln2lo: broadcastConst(-2.12194440e-4),
		one:   broadcastConst(1),
	}
	// Cephes expf: e^r ≈ 1 + r + r²·P(r) for |r| ≤ ln2/2, within 1–2 ulp.
	for i, v := range []float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1} {
		e.c[i] = broadcastConst(v)
	}
	return e
}

// vexp returns a new register holding e^x lane by lane: x = n·ln2 + r, e^r
// by polynomial, and VSCALEFPS multiplies by 2^n with correct overflow and
// underflow.
func (e *expConsts) vexp(x reg.VecVirtual) reg.VecVirtual {
	// Operand order makes NaN lanes stay NaN (MAXPS/MINPS return their
	// second source when either is NaN).
	xc := ZMM()
	VMAXPS(x, e.lo, xc)
	VMINPS(xc, e.hi, xc)
	n := ZMM()
	VMULPS(e.log2e, xc, n)
	VRNDSCALEPS(Imm(0), n, n)
	VFNMADD231PS(e.ln2hi, n, xc)
	VFNMADD231PS(e.ln2lo, n, xc)
	p := ZMM()
	VMOVAPS(e.c[0], p)
	for _, c := range e.c[1:] {
		VFMADD213PS(c, xc, p)
	}
	r2 := ZMM()
	VMULPS(xc, xc, r2)
	VFMADD213PS(xc, r2, p)
	VADDPS(e.one, p, p)
	VSCALEFPS(n, p, p)
	return p
}

// sigmoid returns 1/(1+e^−g).
func (e *expConsts) sigmoid(g reg.VecVirtual) reg.VecVirtual {
	ng := ZMM()
	VXORPS(ng, ng, ng)
	VSUBPS(g, ng, ng)
	d := e.vexp(ng)
	VADDPS(e.one, d, d)
	s := ZMM()
	VDIVPS(d, e.one, s)
	return s
}

func expSumKernel() {
	header("expSumAVX512", "func(x *float32, n int, shift float32) float32", "expSumAVX512 sets x[i] = e^(x[i]−shift) for i < n and returns their sum.")
	p := params("x", "n")
	x, n := p[0], p[1]
	sh := broadcastParam("shift", ZMM)
	e := loadExpConsts()
	sum := ZMM()
	VXORPS(sum, sum, sum)
	maskedLoop(n, []reg.Register{x}, func(k reg.Register) {
		a := ZMM()
		VMOVUPS_Z(Mem{Base: x}, k, a)
		VSUBPS(sh, a, a)
		y := e.vexp(a)
		VMOVUPS(y, k, Mem{Base: x})
		VADDPS(y, sum, k, sum)
	})
	Store(hsum(sum), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func siluKernel() {
	header("siluAVX512", "func(dst, x *float32, n int)", "siluAVX512 sets dst[i] = x[i]·sigmoid(x[i]) for i < n.")
	p := params("dst", "x", "n")
	d, x, n := p[0], p[1], p[2]
	e := loadExpConsts()
	maskedLoop(n, []reg.Register{d, x}, func(k reg.Register) {
		g := ZMM()
		VMOVUPS_Z(Mem{Base: x}, k, g)
		s := e.sigmoid(g)
		VMULPS(g, s, s)
		VMOVUPS(s, k, Mem{Base: d})
	})
	VZEROUPPER()
	RET()
}

func swigluKernel() {
	header("swigluAVX512", "func(dst, gate, up *float32, n int)", "swigluAVX512 sets dst[i] = gate[i]·sigmoid(gate[i])·up[i] for i < n.")
	p := params("dst", "gate", "up", "n")
	d, ga, u, n := p[0], p[1], p[2], p[3]
	e := loadExpConsts()
	maskedLoop(n, []reg.Register{d, ga, u}, func(k reg.Register) {
		g, uv := ZMM(), ZMM()
		VMOVUPS_Z(Mem{Base: ga}, k, g)
		VMOVUPS_Z(Mem{Base: u}, k, uv)
		s := e.sigmoid(g)
		VMULPS(g, s, s)
		VMULPS(uv, s, s)
		VMOVUPS(s, k, Mem{Base: d})
	})
	VZEROUPPER()
	RET()
}

func swigluBackKernel() {
	header("swigluBackAVX512", "func(dgate, dup, dout, gate, up *float32, n int)", "swigluBackAVX512 sets dgate and dup to the gradients of SwiGLU for i < n.")
	p := params("dgate", "dup", "dout", "gate", "up", "n")
	dg, du, do, ga, u, n := p[0], p[1], p[2], p[3], p[4], p[5]
	e := loadExpConsts()
	maskedLoop(n, []reg.Register{dg, du, do, ga, u}, func(k reg.Register) {
		g, uv, d := ZMM(), ZMM(), ZMM()
		VMOVUPS_Z(Mem{Base: ga}, k, g)
		VMOVUPS_Z(Mem{Base: u}, k, uv)
		VMOVUPS_Z(Mem{Base: do}, k, d)
		s := e.sigmoid(g)
		// dup = dout·g·s
		gs := ZMM()
		VMULPS(g, s, gs)
		t := ZMM()
		VMULPS(d, gs, t)
		VMOVUPS(t, k, Mem{Base: du})
		// dgate = dout·up·s·(1 + g·(1−s)) = dout·up·(s + g·s − g·s²)
		//       = dout·up·(s + gs·(1−s))
		oms := ZMM()
		VSUBPS(s, e.one, oms)
		VFMADD213PS(s, gs, oms) // oms = gs·(1−s) + s
		VMULPS(uv, oms, oms)
		VMULPS(d, oms, oms)
		VMOVUPS(oms, k, Mem{Base: dg})
	})
	VZEROUPPER()
	RET()
}

func rmsScaleKernel() {
	header("rmsScaleAVX512", "func(out, x, w *float32, n int, s float32)", "rmsScaleAVX512 sets out[i] = x[i]·w[i]·s for i < n.")
	p := params("out", "x", "w", "n")
	o, x, w, n := p[0], p[1], p[2], p[3]
	sz := broadcastParam("s", ZMM)
	maskedLoop(n, []reg.Register{o, x, w}, func(k reg.Register) {
		a, b := ZMM(), ZMM()
		VMOVUPS_Z(Mem{Base: x}, k, a)
		VMOVUPS_Z(Mem{Base: w}, k, b)
		VMULPS(sz, a, a)
		VMULPS(b, a, a)
		VMOVUPS(a, k, Mem{Base: o})
	})
	VZEROUPPER()
	RET()
}

func dot3Kernel() {
	header("dot3AVX512", "func(a, b, c *float32, n int) float32", "dot3AVX512 returns Σ a[i]·b[i]·c[i] for i < n.")
	p := params("a", "b", "c", "n")
	pa, pb, pc, n := p[0], p[1], p[2], p[3]
	acc := ZMM()
	VXORPS(acc, acc, acc)
	maskedLoop(n, []reg.Register{pa, pb, pc}, func(k reg.Register) {
		x, y, z := ZMM(), ZMM(), ZMM()
		VMOVUPS_Z(Mem{Base: pa}, k, x)
		VMOVUPS_Z(Mem{Base: pb}, k, y)
		VMOVUPS_Z(Mem{Base: pc}, k, z)
		VMULPS(y, x, x)
		VFMADD231PS(z, x, acc)
	})
	Store(hsum(acc), ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func rmsBackKernel() {
	header("rmsBackAVX512", "func(dx, dw, dout, x, w *float32, n int, rstd, c float32)", "rmsBackAVX512 adds dout·x·rstd to dw and dout·w·rstd − x·c to dx for i < n.")
	p := params("dx", "dw", "dout", "x", "w", "n")
	dx, dw, do, x, w, n := p[0], p[1], p[2], p[3], p[4], p[5]
	rz, cz := broadcastParam("rstd", ZMM), broadcastParam("c", ZMM)
	maskedLoop(n, []reg.Register{dx, dw, do, x, w}, func(k reg.Register) {
		d, xv, wv, t := ZMM(), ZMM(), ZMM(), ZMM()
		VMOVUPS_Z(Mem{Base: do}, k, d)
		VMOVUPS_Z(Mem{Base: x}, k, xv)
		VMOVUPS_Z(Mem{Base: w}, k, wv)
		VMULPS(rz, d, d) // d = dout·rstd
		// dw += d·x
		VMOVUPS_Z(Mem{Base: dw}, k, t)
		VFMADD231PS(xv, d, t)
		VMOVUPS(t, k, Mem{Base: dw})
		// dx += d·w − x·c
		VMOVUPS_Z(Mem{Base: dx}, k, t)
		VFMADD231PS(wv, d, t)
		VFNMADD231PS(cz, xv, t)
		VMOVUPS(t, k, Mem{Base: dx})
	})
	VZEROUPPER()
	RET()
}
