package main

import (
	"math"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The AVX2 row kernels are for CPUs without AVX-512 (AMD Zen 1–3, Intel
// client parts), where the elementwise layers otherwise run as Go loops and
// exp alone took about a quarter of a small model's training step. Unlike
// the AVX-512 ones they give bit for bit the results of the Go code: the
// same float32 operations in the same order, a multiply and an add where Go
// writes a·b + c (Go does not fuse them on amd64 at GOAMD64=v1, the
// default), so a run gives the same numbers with or without them.
//
// They do 8 floats a step over a whole number of 8-float blocks; the Go
// caller does the tail. exp32's rare ranges: x < -87.3 gives 0 as in Go,
// but a block with an argument above 88.3 (or NaN), where Go calls
// math.Exp, is left unwritten: the kernel returns how many elements it did
// before that block, and the caller does that block in Go and calls again.

func elementwiseAVX2() {
	k := avx2ExpConsts()
	siluAVX2Kernel(k)
	swigluAVX2Kernel(k)
	swigluBackAVX2Kernel(k)
	expShiftAVX2Kernel(k)
	dotAVX2Kernel()
	axpyAVX2Kernel()
}

// avx2Consts is a table of 8-lane constants in memory, used as operands:
// AVX2's 16 registers cannot hold them all beside the working values.
type avx2Consts struct{ m Mem }

const (
	cLo = iota // -87.3: below, exp32 is 0
	cHi        // 88.3: above (or NaN), exp32 calls math.Exp
	cLog2e
	cMagic
	cLn2Hi
	cLn2Lo
	cOne
	cSign
	cBias
	cPoly   // six coefficients from here
	nConsts = cPoly + 6
)

func avx2ExpConsts() avx2Consts {
	m := GLOBL("expconstsavx2", RODATA|NOPTR)
	vals := [nConsts]uint32{
		cLo:    math.Float32bits(-87.3),
		cHi:    math.Float32bits(88.3),
		cLog2e: math.Float32bits(1.44269504088896341),
		cMagic: math.Float32bits(12582912),
		cLn2Hi: math.Float32bits(0.693359375),
		cLn2Lo: math.Float32bits(-2.12194440e-4),
		cOne:   math.Float32bits(1),
		cSign:  0x80000000,
		cBias:  127,
	}
	for i, v := range []float32{1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1} {
		vals[cPoly+i] = math.Float32bits(v)
	}
	for i, v := range vals {
		for lane := range 8 {
			DATA(32*i+4*lane, U32(v))
		}
	}
	return avx2Consts{m}
}

func (k avx2Consts) at(i int) Mem { return k.m.Offset(32 * i) }

// exp returns exp32(x) lane by lane and sets ok to the lanes computed
// (x ≤ 88.3 and not NaN), as exp32 in ops.go does it:
//
//	t := x*1.44269504088896341 + magic
//	n := t - magic
//	r := x - n*0.693359375
//	r -= n * -2.12194440e-4
//	p := c0; p = p*r + c1; ...; p = p*r + c5
//	y := p*r*r + r + 1
//	return y * 2^n    (0 when x < -87.3)
func (k avx2Consts) exp(x reg.VecVirtual, ok reg.GPVirtual) reg.VecVirtual {
	n, t, r := YMM(), YMM(), YMM()
	VMULPS(k.at(cLog2e), x, t)
	VADDPS(k.at(cMagic), t, t)
	VSUBPS(k.at(cMagic), t, n)
	VMULPS(k.at(cLn2Hi), n, t)
	VSUBPS(t, x, r)
	VMULPS(k.at(cLn2Lo), n, t)
	VSUBPS(t, r, r)
	p := YMM()
	VMOVUPS(k.at(cPoly), p)
	for i := 1; i < 6; i++ {
		VMULPS(r, p, p)
		VADDPS(k.at(cPoly+i), p, p)
	}
	VMULPS(r, p, p)
	VMULPS(r, p, p)
	VADDPS(r, p, p)
	VADDPS(k.at(cOne), p, p)
	// 2^n from n's bits: n is a whole number, so rounding converts it
	// exactly, as Go's truncating int32(n) does.
	VCVTPS2DQ(n, n)
	VPADDD(k.at(cBias), n, n)
	VPSLLD(Imm(23), n, n)
	VMULPS(n, p, p)
	VCMPPS(Imm(1), k.at(cLo), x, t) // x < lo (LT_OS)
	VANDNPS(p, t, p)
	VCMPPS(Imm(0x12), k.at(cHi), x, t) // x ≤ hi, false for NaN (LE_OQ)
	VMOVMSKPS(t, ok)
	return p
}

// sigmoid returns 1/(1 + exp32(−g)), setting ok as exp does.
func (k avx2Consts) sigmoid(g reg.VecVirtual, ok reg.GPVirtual) reg.VecVirtual {
	ng := YMM()
	VXORPS(k.at(cSign), g, ng)
	e := k.exp(ng, ok)
	VADDPS(k.at(cOne), e, e)
	s := YMM()
	VMOVUPS(k.at(cOne), s)
	VDIVPS(e, s, s)
	return s
}

// blockLoop emits the loop over the 8-float blocks of n (a multiple of 8
// from the caller): body computes a block, returning its ok mask register,
// and store writes it; a block whose ok mask is not all ones ends the loop
// unwritten. It returns the elements done.
func blockLoop(n reg.Register, ptrs []reg.Register, body func(ok reg.GPVirtual) func()) {
	done := GP64()
	XORQ(done, done)
	Label("loop")
	CMPQ(done, n)
	JGE(LabelRef("end"))
	ok := GP32()
	store := body(ok)
	CMPL(ok, U32(0xff))
	JNE(LabelRef("end"))
	store()
	for _, p := range ptrs {
		ADDQ(Imm(32), p)
	}
	ADDQ(Imm(8), done)
	JMP(LabelRef("loop"))
	Label("end")
	Store(done, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

func siluAVX2Kernel(k avx2Consts) {
	header("siluAVX2", "func(dst, x *float32, n int) int", "siluAVX2 sets dst[i] = x[i]·sigmoid(x[i]) for i < n, a multiple of 8, as SiLU's Go loop does, and returns the elements done before a block it leaves to Go.")
	p := params("dst", "x", "n")
	d, x, n := p[0], p[1], p[2]
	blockLoop(n, []reg.Register{d, x}, func(ok reg.GPVirtual) func() {
		g := YMM()
		VMOVUPS(Mem{Base: x}, g)
		s := k.sigmoid(g, ok)
		VMULPS(s, g, s) // v * sigmoid(v)
		return func() { VMOVUPS(s, Mem{Base: d}) }
	})
}

func swigluAVX2Kernel(k avx2Consts) {
	header("swigluAVX2", "func(dst, gate, up *float32, n int) int", "swigluAVX2 sets dst[i] = gate[i]·sigmoid(gate[i])·up[i] for i < n, a multiple of 8, as SwiGLU's Go loop does, and returns the elements done before a block it leaves to Go.")
	p := params("dst", "gate", "up", "n")
	d, ga, u, n := p[0], p[1], p[2], p[3]
	blockLoop(n, []reg.Register{d, ga, u}, func(ok reg.GPVirtual) func() {
		g := YMM()
		VMOVUPS(Mem{Base: ga}, g)
		s := k.sigmoid(g, ok)
		VMULPS(s, g, s)            // g * sigmoid(g)
		VMULPS(Mem{Base: u}, s, s) // * up[i]
		return func() { VMOVUPS(s, Mem{Base: d}) }
	})
}

func swigluBackAVX2Kernel(k avx2Consts) {
	header("swigluBackAVX2", "func(dgate, dup, dout, gate, up *float32, n int) int", "swigluBackAVX2 sets dgate and dup to the gradients of SwiGLU for i < n, a multiple of 8, as SwiGLUBackward's Go loop does, and returns the elements done before a block it leaves to Go.")
	p := params("dgate", "dup", "dout", "gate", "up", "n")
	dg, du, do, ga, u, n := p[0], p[1], p[2], p[3], p[4], p[5]
	blockLoop(n, []reg.Register{dg, du, do, ga, u}, func(ok reg.GPVirtual) func() {
		g, d := YMM(), YMM()
		VMOVUPS(Mem{Base: ga}, g)
		VMOVUPS(Mem{Base: do}, d)
		s := k.sigmoid(g, ok)
		// dgate = d * u * s * (1 + g*(1-s))
		a := YMM()
		VMOVUPS(k.at(cOne), a)
		VSUBPS(s, a, a)          // 1 - s
		VMULPS(a, g, a)          // g*(1-s)
		VADDPS(k.at(cOne), a, a) // 1 + ...
		b := YMM()
		VMULPS(Mem{Base: u}, d, b) // d * u
		VMULPS(s, b, b)            // * s
		VMULPS(a, b, b)            // * (1 + g*(1-s))
		// dup = d * silu, silu = g * s
		VMULPS(s, g, g)
		VMULPS(g, d, d)
		return func() {
			VMOVUPS(b, Mem{Base: dg})
			VMOVUPS(d, Mem{Base: du})
		}
	})
}

func expShiftAVX2Kernel(k avx2Consts) {
	header("expShiftAVX2", "func(x *float32, n int, shift float32) int", "expShiftAVX2 sets x[i] = exp32(x[i] − shift) for i < n, a multiple of 8, and returns the elements done before a block it leaves to Go.")
	p := params("x", "n")
	x, n := p[0], p[1]
	sh := broadcastParam("shift", YMM)
	blockLoop(n, []reg.Register{x}, func(ok reg.GPVirtual) func() {
		a := YMM()
		VMOVUPS(Mem{Base: x}, a)
		VSUBPS(sh, a, a) // v - m
		y := k.exp(a, ok)
		return func() { VMOVUPS(y, Mem{Base: x}) }
	})
}

// dotAVX2Kernel sums 32 lanes, as Dot's Go loop does: lane j of
// accumulator q holds the products at i ≡ 8q+j (mod 32), each a multiply
// then an add, and the lanes are summed in Dot's order. Four accumulators
// keep four adds in flight (Zen 3's adds take 3 cycles, two a cycle).
func dotAVX2Kernel() {
	header("dotAVX2", "func(x, y *float32, n int) float32", "dotAVX2 returns Σ x[i]·y[i] for i < n, a multiple of 32, summed in the order of Dot's Go loop.")
	p := params("x", "y", "n")
	x, y, n := p[0], p[1], p[2]
	acc := zeroed(4, YMM)
	Label("loop")
	CMPQ(n, Imm(32))
	JL(LabelRef("done"))
	for q := range acc {
		v := YMM()
		VMOVUPS(Mem{Base: x, Disp: 32 * q}, v)
		VMULPS(Mem{Base: y, Disp: 32 * q}, v, v)
		VADDPS(v, acc[q], acc[q])
	}
	ADDQ(Imm(128), x)
	ADDQ(Imm(128), y)
	SUBQ(Imm(32), n)
	JMP(LabelRef("loop"))
	Label("done")
	// t = (a0+a1) + (a2+a3); then halves, pairs and the last two lanes.
	VADDPS(acc[1], acc[0], acc[0])
	VADDPS(acc[3], acc[2], acc[2])
	VADDPS(acc[2], acc[0], acc[0])
	h := XMM()
	VEXTRACTF128(Imm(1), acc[0], h)
	VADDPS(h, acc[0].AsX(), h) // u[j] = t[j] + t[j+4]
	h2 := XMM()
	VMOVHLPS(h, h, h2)
	VADDPS(h2, h, h) // w[j] = u[j] + u[j+2]
	VMOVSHDUP(h, h2)
	VADDSS(h2, h, h) // w[0] + w[1]
	Store(h, ReturnIndex(0))
	VZEROUPPER()
	RET()
}

// axpyAVX2Kernel multiplies then adds, as Axpy's Go loop does.
func axpyAVX2Kernel() {
	header("axpyAVX2", "func(alpha float32, x, y *float32, n int)", "axpyAVX2 sets y[i] += alpha·x[i] for i < n, a multiple of 8, as Axpy's Go loop does.")
	al := broadcastParam("alpha", YMM)
	p := params("x", "y", "n")
	x, y, n := p[0], p[1], p[2]
	Label("loop32")
	CMPQ(n, Imm(32))
	JL(LabelRef("loop8"))
	for q := range 4 {
		v := YMM()
		VMULPS(Mem{Base: x, Disp: 32 * q}, al, v)
		VADDPS(Mem{Base: y, Disp: 32 * q}, v, v)
		VMOVUPS(v, Mem{Base: y, Disp: 32 * q})
	}
	ADDQ(Imm(128), x)
	ADDQ(Imm(128), y)
	SUBQ(Imm(32), n)
	JMP(LabelRef("loop32"))
	Label("loop8")
	CMPQ(n, Imm(8))
	JL(LabelRef("done"))
	v := YMM()
	VMULPS(Mem{Base: x}, al, v)
	VADDPS(Mem{Base: y}, v, v)
	VMOVUPS(v, Mem{Base: y})
	ADDQ(Imm(32), x)
	ADDQ(Imm(32), y)
	SUBQ(Imm(8), n)
	JMP(LabelRef("loop8"))
	Label("done")
	VZEROUPPER()
	RET()
}
