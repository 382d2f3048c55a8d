// Command asmgen writes the SGEMM microkernels of package tensor as Go
// assembly with avo; run it through go generate in engine/tensor.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("amd64")
	for _, mr := range []int{6, 8, 12, 14} {
		avx512Kernel(mr, 2)
	}
	avx512Kernel(6, 4)
	avx512Kernel(8, 3)
	avx2Kernel(6, 2)
	avx2Kernel(4, 3)
	avx2Kernel(8, 1)
	transpose8()
	copyRows8()
	copyRows6()
	elementwise()
	elementwiseAVX2()
	attnKernels()
	attnKernelsAVX2()
	Generate()
}

// The microkernels compute the mr×nr block acc = op(A)·op(B) over k steps
// and then set C = alpha·acc + beta·C, not reading C when beta is 0. Doing
// alpha and beta at the store leaves both operands free to be read in place
// and saves the caller a pass over C.
//
// A is addressed by strides, so one kernel reads a packed panel (rs=1,
// ss=mr), a row-major A in place (rs=lda, ss=1) or a transposed A in place
// (rs=1, ss=lda): element (i, p) is at a[i·rs + p·ss]. Skinny GEMMs then
// skip packing A, which costs as much as the FMAs when n is small. B is
// always a packed or contiguous-row panel: element (p, j) is at b[p·bs + j].
//
// Each step loads the nr-wide B row into registers and broadcasts each A
// value once into a register shared by the nr/w FMAs of its row, which
// needs fewer load-port slots than an embedded broadcast per FMA.

const unroll = 4

func kernelName(isa string, mr, nr int) string {
	return fmt.Sprintf("kern%dx%d%s", mr, nr, isa)
}

func avx512Kernel(mr, nv int) {
	zs := []reg.VecPhysical{reg.Z0, reg.Z1, reg.Z2, reg.Z3, reg.Z4, reg.Z5, reg.Z6, reg.Z7,
		reg.Z8, reg.Z9, reg.Z10, reg.Z11, reg.Z12, reg.Z13, reg.Z14, reg.Z15,
		reg.Z16, reg.Z17, reg.Z18, reg.Z19, reg.Z20, reg.Z21, reg.Z22, reg.Z23,
		reg.Z24, reg.Z25, reg.Z26, reg.Z27, reg.Z28, reg.Z29, reg.Z30, reg.Z31}
	if mr*nv+nv+2 > len(zs) {
		panic("too many registers")
	}
	kernel(kernelName("AVX512", mr, nv*16), mr, nv, 64, zs)
}

func avx2Kernel(mr, nv int) {
	ys := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
		reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}
	if mr*nv+nv+1 > len(ys) {
		panic("too many registers")
	}
	kernel(kernelName("AVX2", mr, nv*8), mr, nv, 32, ys)
}

func kernel(name string, mr, nv, width int, regs []reg.VecPhysical) {
	nr := nv * width / 4
	header(name, "func(k int, a *float32, rs, ss int, b *float32, bs int, c *float32, ldc int, alpha, beta float32)", fmt.Sprintf("%s: C[%d×%d] = alpha·A·B + beta·C over k steps, A[i,p] = a[i·rs+p·ss], B[p,j] = b[p·bs+j]; beta 0 does not read C.", name, mr, nr))
	acc := func(i, j int) reg.VecPhysical { return regs[i*nv+j] }
	bv := func(j int) reg.VecPhysical { return regs[mr*nv+j] }
	nb := min(len(regs)-mr*nv-nv, 2)
	bc := func(i int) reg.VecPhysical { return regs[mr*nv+nv+i%nb] }

	k := Load(Param("k"), GP64())
	rs := byteStride("rs")
	ss := byteStride("ss")
	b := Load(Param("b"), GP64())
	bs := byteStride("bs")
	// Rows 4g..4g+3 are addressed from base g (rowOf4).
	r3 := GP64()
	LEAQ(Mem{Base: rs, Index: rs, Scale: 2}, r3)
	ngroups := (mr + 3) / 4
	bases := make([]reg.Register, ngroups)
	bases[0] = Load(Param("a"), GP64())
	for g := 1; g < ngroups; g++ {
		bases[g] = GP64()
		LEAQ(Mem{Base: bases[g-1], Index: rs, Scale: 4}, bases[g])
	}
	aAddr := func(i int) Mem { return rowOf4(bases[i/4], rs, r3, i) }
	// Touch the C tile now so its lines arrive while the k loop runs: when
	// k spans several kc blocks the tile is re-read from L3 or memory.
	c, ldc := cTile()
	forRows(mr, c, ldc, func(int) {
		for off := 0; off < nr*4; off += 64 {
			PREFETCHT0(Mem{Base: c, Disp: off})
		}
	})
	for i := range mr {
		for j := range nv {
			VXORPS(acc(i, j), acc(i, j), acc(i, j))
		}
	}
	step := func() {
		for j := range nv {
			VMOVUPS(Mem{Base: b, Disp: j * width}, bv(j))
		}
		for i := range mr {
			VBROADCASTSS(aAddr(i), bc(i))
			for j := range nv {
				VFMADD231PS(bv(j), bc(i), acc(i, j))
			}
		}
		for _, base := range bases {
			ADDQ(ss, base)
		}
		ADDQ(bs, b)
	}
	Comment("Main loop, unrolled to amortise the branch.")
	Label("loop")
	CMPQ(k, Imm(unroll))
	JL(LabelRef("tail"))
	for range unroll {
		step()
	}
	SUBQ(Imm(unroll), k)
	JMP(LabelRef("loop"))
	Label("tail")
	TESTQ(k, k)
	JE(LabelRef("store"))
	step()
	DECQ(k)
	JMP(LabelRef("tail"))

	Label("store")
	storeTile(mr, nv, width, acc, bv(0), bc(0))
}

// storeTile emits the end of a GEMM kernel: C = alpha·acc + beta·C over the
// mr×nv registers of acc, not reading C when beta is 0; alpha and beta are
// two registers the k loop no longer needs.
func storeTile(mr, nv, width int, acc func(i, j int) reg.VecPhysical, alpha, beta reg.VecPhysical) {
	c, ldc := cTile()
	VBROADCASTSS(paramAddr("alpha"), alpha)
	VBROADCASTSS(paramAddr("beta"), beta)
	for i := range mr {
		for j := range nv {
			VMULPS(alpha, acc(i, j), acc(i, j))
		}
	}
	CMPL(paramAddr("beta"), Imm(0))
	JE(LabelRef("overwrite"))
	forRows(mr, c, ldc, func(i int) {
		for j := range nv {
			VFMADD231PS(Mem{Base: c, Disp: j * width}, beta, acc(i, j))
			VMOVUPS(acc(i, j), Mem{Base: c, Disp: j * width})
		}
	})
	VZEROUPPER()
	RET()
	Label("overwrite")
	forRows(mr, c, ldc, func(i int) {
		for j := range nv {
			VMOVUPS(acc(i, j), Mem{Base: c, Disp: j * width})
		}
	})
	VZEROUPPER()
	RET()
}

// byteStride loads the int argument name, a stride in floats, as bytes.
func byteStride(name string) reg.Register {
	r := Load(Param(name), GP64())
	SHLQ(Imm(2), r)
	return r
}

// cTile loads the address of the C tile and its row stride in bytes.
func cTile() (c, ldc reg.Register) {
	return Load(Param("c"), GP64()), byteStride("ldc")
}

// forRows emits body for each of the mr rows of the C tile, moving c on by
// ldc bytes between them.
func forRows(mr int, c, ldc reg.Register, body func(i int)) {
	for i := range mr {
		body(i)
		if i+1 < mr {
			ADDQ(ldc, c)
		}
	}
}

// transpose8 writes the transpose of an 8×(8·n8) block: it is how B is
// packed for x·Wᵀ, where each packed k step gathers one value from each of
// nr stored rows. Doing it as 8×8 register transposes replaces scattered
// scalar stores, which made packing a tenth of a training GEMM.
func transpose8() {
	header("transpose8AVX", "func(n8 int, src *float32, lds int, dst *float32, ldd int)", "transpose8AVX sets dst[p·ldd+r] = src[r·lds+p] for r < 8, p < 8·n8.")
	n := Load(Param("n8"), GP64())
	lds := byteStride("lds")
	ldd := byteStride("ldd")
	s0 := Load(Param("src"), GP64())
	d0 := Load(Param("dst"), GP64())
	lds3, ldd3 := GP64(), GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	LEAQ(Mem{Base: ldd, Index: ldd, Scale: 2}, ldd3)
	s4, d4 := GP64(), GP64()
	row := func(base0, base4, ld, ld3 reg.Register, i int) Mem {
		if i >= 4 {
			return rowOf4(base4, ld, ld3, i)
		}
		return rowOf4(base0, ld, ld3, i)
	}
	Label("loop")
	TESTQ(n, n)
	JE(LabelRef("done"))
	LEAQ(Mem{Base: s0, Index: lds, Scale: 4}, s4)
	LEAQ(Mem{Base: d0, Index: ldd, Scale: 4}, d4)
	var r, t, u, o [8]reg.VecVirtual
	for i := range 8 {
		r[i] = YMM()
		VMOVUPS(row(s0, s4, lds, lds3, i), r[i])
	}
	for i := 0; i < 8; i += 2 {
		t[i], t[i+1] = YMM(), YMM()
		VUNPCKLPS(r[i+1], r[i], t[i])
		VUNPCKHPS(r[i+1], r[i], t[i+1])
	}
	// u[0..3] hold columns (0,4), (1,5), (2,6), (3,7) of rows 0-3, one per
	// 128-bit lane; u[4..7] the same for rows 4-7.
	for h := 0; h < 8; h += 4 {
		for q := range 2 {
			u[h+2*q], u[h+2*q+1] = YMM(), YMM()
			VSHUFPS(Imm(0x44), t[h+2+q], t[h+q], u[h+2*q])
			VSHUFPS(Imm(0xEE), t[h+2+q], t[h+q], u[h+2*q+1])
		}
	}
	for c := range 4 {
		o[c], o[c+4] = YMM(), YMM()
		VPERM2F128(Imm(0x20), u[c+4], u[c], o[c])
		VPERM2F128(Imm(0x31), u[c+4], u[c], o[c+4])
	}
	for i := range 8 {
		VMOVUPS(o[i], row(d0, d4, ldd, ldd3, i))
	}
	ADDQ(Imm(32), s0)
	LEAQ(Mem{Base: d4, Index: ldd, Scale: 4}, d0)
	DECQ(n)
	JMP(LabelRef("loop"))
	Label("done")
	VZEROUPPER()
	RET()
}

// rowOf4 addresses row i%4 of the four rows from base, ld bytes apart, as
// (base), (base)(ld*1), (base)(ld*2) or (base)(ld3*1), where ld3 holds 3·ld:
// x86 scaled indexing reaches four rows from one base register.
func rowOf4(base, ld, ld3 reg.Register, i int) Mem {
	m := Mem{Base: base}
	switch i % 4 {
	case 1:
		m.Index, m.Scale = ld, 1
	case 2:
		m.Index, m.Scale = ld, 2
	case 3:
		m.Index, m.Scale = ld3, 1
	}
	return m
}

func paramAddr(name string) Mem {
	b, err := Param(name).Resolve()
	if err != nil {
		panic(err)
	}
	return b.Addr
}

// copyRows8 gathers 8 contiguous floats from each of n rows into a dense
// n×8 block: it packs a transposed A, whose k steps are rows of the stored
// matrix, into a micro-panel, so the kernel does not stride through A at a
// power-of-two lda that maps every step to one cache set.
func copyRows8() {
	header("copyRows8AVX", "func(n int, src *float32, lds int, dst *float32)", "copyRows8AVX sets dst[8·p+r] = src[p·lds+r] for r < 8, p < n.")
	p := params("n", "src", "lds", "dst")
	n, src, lds, dst := p[0], p[1], p[2], p[3]
	SHLQ(Imm(2), lds) // in bytes
	lds3 := GP64()
	LEAQ(Mem{Base: lds, Index: lds, Scale: 2}, lds3)
	Label("loop4")
	CMPQ(n, Imm(4))
	JL(LabelRef("tail"))
	var y [4]reg.VecVirtual
	for i := range y {
		y[i] = YMM()
	}
	VMOVUPS(Mem{Base: src}, y[0])
	VMOVUPS(Mem{Base: src, Index: lds, Scale: 1}, y[1])
	VMOVUPS(Mem{Base: src, Index: lds, Scale: 2}, y[2])
	VMOVUPS(Mem{Base: src, Index: lds3, Scale: 1}, y[3])
	for i := range y {
		VMOVUPS(y[i], Mem{Base: dst, Disp: 32 * i})
	}
	LEAQ(Mem{Base: src, Index: lds, Scale: 4}, src)
	ADDQ(Imm(128), dst)
	SUBQ(Imm(4), n)
	JMP(LabelRef("loop4"))
	Label("tail")
	TESTQ(n, n)
	JE(LabelRef("done"))
	t := YMM()
	VMOVUPS(Mem{Base: src}, t)
	VMOVUPS(t, Mem{Base: dst})
	ADDQ(lds, src)
	ADDQ(Imm(32), dst)
	DECQ(n)
	JMP(LabelRef("tail"))
	Label("done")
	VZEROUPPER()
	RET()
}

// copyRows6 is copyRows8 for the 6-row panels of the AVX2 kernel: each
// row's 6 floats move as 4 and 2, so it reads nothing beyond them.
func copyRows6() {
	header("copyRows6AVX", "func(n int, src *float32, lds int, dst *float32)", "copyRows6AVX sets dst[6·p+r] = src[p·lds+r] for r < 6, p < n.")
	p := params("n", "src", "lds", "dst")
	n, src, lds, dst := p[0], p[1], p[2], p[3]
	SHLQ(Imm(2), lds) // in bytes
	Label("loop2")
	CMPQ(n, Imm(2))
	JL(LabelRef("tail"))
	lo0, hi0, lo1, hi1 := XMM(), XMM(), XMM(), XMM()
	VMOVUPS(Mem{Base: src}, lo0)
	VMOVSD(Mem{Base: src, Disp: 16}, hi0)
	VMOVUPS(Mem{Base: src, Index: lds, Scale: 1}, lo1)
	VMOVSD(Mem{Base: src, Index: lds, Scale: 1, Disp: 16}, hi1)
	VMOVUPS(lo0, Mem{Base: dst})
	VMOVSD(hi0, Mem{Base: dst, Disp: 16})
	VMOVUPS(lo1, Mem{Base: dst, Disp: 24})
	VMOVSD(hi1, Mem{Base: dst, Disp: 40})
	LEAQ(Mem{Base: src, Index: lds, Scale: 2}, src)
	ADDQ(Imm(48), dst)
	SUBQ(Imm(2), n)
	JMP(LabelRef("loop2"))
	Label("tail")
	TESTQ(n, n)
	JE(LabelRef("done"))
	lo, hi := XMM(), XMM()
	VMOVUPS(Mem{Base: src}, lo)
	VMOVSD(Mem{Base: src, Disp: 16}, hi)
	VMOVUPS(lo, Mem{Base: dst})
	VMOVSD(hi, Mem{Base: dst, Disp: 16})
	Label("done")
	RET()
}
