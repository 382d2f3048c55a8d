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
	Generate()
}

// The microkernels compute the mr×nr block acc = Ã·B̃ from a packed A
// micro-panel (k steps of mr values) and a packed B micro-panel (k steps of
// nr values), then store acc to C, or add it to C when accumulate is true.
// Alpha is folded into the packed A and beta applied by the caller, so the
// kernel has one job and the hot loop is only loads and FMAs.
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
	kernel(kernelName("AVX512", mr, nv*16), mr, nv, 64, zs, VBROADCASTSS, VFMADD231PS, VXORPS, VADDPS, VMOVUPS)
}

func avx2Kernel(mr, nv int) {
	ys := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
		reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}
	nb := 2
	if mr*nv+nv+nb > len(ys) {
		nb = 1
	}
	if mr*nv+nv+nb > len(ys) {
		panic("too many registers")
	}
	kernel(kernelName("AVX2", mr, nv*8), mr, nv, 32, ys, VBROADCASTSS, VFMADD231PS, VXORPS, VADDPS, VMOVUPS)
}

type op func(...Op)

func kernel(name string, mr, nv, width int, regs []reg.VecPhysical, bcast, fma, xor, add, mov op) {
	nr := nv * width / 4
	TEXT(name, NOSPLIT, "func(k int, a, b, c *float32, ldc int, accumulate bool)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s: C[%d×%d] (=|+=) Ã·B̃ over k packed steps; k ≥ 1.", name, mr, nr))
	acc := func(i, j int) reg.VecPhysical { return regs[i*nv+j] }
	bv := func(j int) reg.VecPhysical { return regs[mr*nv+j] }
	nb := len(regs) - mr*nv - nv
	nb = min(nb, 2)
	bc := func(i int) reg.VecPhysical { return regs[mr*nv+nv+i%nb] }

	k := Load(Param("k"), GP64())
	a := Load(Param("a"), GP64())
	b := Load(Param("b"), GP64())
	for i := range mr {
		for j := range nv {
			xor(acc(i, j), acc(i, j), acc(i, j))
		}
	}
	step := func(u int) {
		for j := range nv {
			mov(Mem{Base: b, Disp: (u*nr + j*width/4) * 4}, bv(j))
		}
		for i := range mr {
			bcast(Mem{Base: a, Disp: (u*mr + i) * 4}, bc(i))
			for j := range nv {
				fma(bv(j), bc(i), acc(i, j))
			}
		}
	}
	Comment("Main loop: unrolled so pointer updates and the branch are amortised.")
	Label("loop" + fmt.Sprint(unroll))
	CMPQ(k, Imm(unroll))
	JL(LabelRef("tail"))
	for u := range unroll {
		step(u)
	}
	ADDQ(U32(unroll*mr*4), a)
	ADDQ(U32(unroll*nr*4), b)
	SUBQ(Imm(unroll), k)
	JMP(LabelRef("loop" + fmt.Sprint(unroll)))
	Label("tail")
	TESTQ(k, k)
	JE(LabelRef("store"))
	step(0)
	ADDQ(U32(mr*4), a)
	ADDQ(U32(nr*4), b)
	DECQ(k)
	JMP(LabelRef("tail"))

	Label("store")
	c := Load(Param("c"), GP64())
	ldc := Load(Param("ldc"), GP64())
	SHLQ(Imm(2), ldc)
	accum := Load(Param("accumulate"), GP8())
	TESTB(accum, accum)
	JE(LabelRef("overwrite"))
	for i := range mr {
		for j := range nv {
			add(Mem{Base: c, Disp: j * width}, acc(i, j), acc(i, j))
			mov(acc(i, j), Mem{Base: c, Disp: j * width})
		}
		if i+1 < mr {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
	Label("overwrite")
	for i := range mr {
		for j := range nv {
			mov(acc(i, j), Mem{Base: c, Disp: j * width})
		}
		if i+1 < mr {
			ADDQ(ldc, c)
		}
	}
	VZEROUPPER()
	RET()
}
