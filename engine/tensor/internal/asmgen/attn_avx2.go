package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The AVX2 attention kernels give, eight keys at a time, the bits of Dot
// and Axpy with AVX2 (GOAMD64 below v3, so Go's own loops multiply, round
// and add). Dot sums a head's 32-float blocks with dotAVX2's four
// accumulators and tree, then the rest one product at a time in Go's loop:
// for a 16-float head that is all of it, a chain of 16 dependent adds per
// key. Here the keys are the lanes: eight rows of keys are transposed
// 8×8, so each step adds one product to eight keys' sums.

func attnKernelsAVX2() {
	attnScoresAVX2Kernel()
	attnMixAVX2Kernel()
}

func attnScoresAVX2Kernel() {
	p := attnHeader("attnScoresAVX2", "func(s, q, k *float32, stride, hd, n int, scale float32)",
		"attnScoresAVX2 sets s[i] = scale·Dot(q, k[i·stride:][:hd]) for i < n, a multiple of 8, bit for bit as Dot does with AVX2 and unfused Go; hd a multiple of 8 up to 64.",
		"s", "q", "k", "stride", "hd", "n")
	s, q, k, stride, hd, n := p[0], p[1], p[2], p[3], p[4], p[5]
	for nb := range 2 {
		CMPQ(hd, U32(32*(nb+1)))
		JL(LabelRef(fmt.Sprintf("nb%d", nb)))
	}
	JMP(LabelRef("nb2"))
	for nb := range 3 {
		Label(fmt.Sprintf("nb%d", nb))
		scoresAVX2Blocks(s, q, k, stride, hd, n, nb)
	}
}

// scoresAVX2Blocks emits the scores kernel for heads of nb 32-float blocks
// and a tail of (hd − 32nb)/8 8-float groups.
func scoresAVX2Blocks(s, q, k, stride, hd, n reg.Register, nb int) {
	l := func(name string) string { return fmt.Sprintf("%s%d", name, nb) }
	s3 := GP64()
	LEAQ(Mem{Base: stride, Index: stride, Scale: 2}, s3)
	groups := GP64()
	MOVQ(hd, groups)
	SUBQ(U32(32*nb), groups)
	SHRQ(Imm(3), groups)
	Label(l("block"))
	TESTQ(n, n)
	JE(LabelRef(l("done")))
	k4 := GP64()
	LEAQ(Mem{Base: k, Index: stride, Scale: 4}, k4)
	bases := []reg.Register{k, k4}
	// Physical registers: with virtual ones avo's allocator reached Y16,
	// which VEX (AVX2) instructions cannot name.
	y := []reg.VecPhysical{reg.Y0, reg.Y1, reg.Y2, reg.Y3, reg.Y4, reg.Y5, reg.Y6, reg.Y7,
		reg.Y8, reg.Y9, reg.Y10, reg.Y11, reg.Y12, reg.Y13, reg.Y14, reg.Y15}
	r := y[14]
	if nb == 0 {
		VXORPS(r, r, r) // Dot's sum of no 32-float blocks: +0
	} else {
		// dotAVX2 per key, up to its tree over the four accumulators.
		// Slot j holds key j/2 + 4(j mod 2): the reduction below leaves
		// slot j in lane 4(j mod 2) + j/2, so key i lands in lane i.
		t := y[:8]
		for j := range t {
			key := j/2 + 4*(j%2)
			addr := rowOf4(bases[key/4], stride, s3, key%4)
			acc := y[8:12]
			for _, a := range acc {
				VXORPS(a, a, a)
			}
			for b := range nb {
				for a := range acc {
					v := y[12]
					m := addr
					m.Disp = 128*b + 32*a
					VMOVUPS(Mem{Base: q, Disp: 128*b + 32*a}, v)
					VMULPS(m, v, v)
					VADDPS(v, acc[a], acc[a])
				}
			}
			VADDPS(acc[1], acc[0], acc[0])
			VADDPS(acc[3], acc[2], acc[2])
			VADDPS(acc[2], acc[0], t[j])
		}
		// dotAVX2's horizontal sum, u = lo128 + hi128, w = u[0:2] + u[2:4],
		// then w[0] + w[1], for eight keys at once; lower halves first.
		lo, hi := y[12], y[13]
		u := y[8:12]
		for i := range u {
			VPERM2F128(U8(0x20), t[2*i+1], t[2*i], lo)
			VPERM2F128(U8(0x31), t[2*i+1], t[2*i], hi)
			VADDPS(hi, lo, u[i])
		}
		w := y[:2]
		for i := range w {
			VUNPCKLPD(u[2*i+1], u[2*i], lo)
			VUNPCKHPD(u[2*i+1], u[2*i], hi)
			VADDPS(hi, lo, w[i])
		}
		VSHUFPS(U8(0x88), w[1], w[0], lo)
		VSHUFPS(U8(0xdd), w[1], w[0], hi)
		VADDPS(hi, lo, r)
	}
	// Dot's Go tail, s += x[i]·y[i], over the remaining groups of 8.
	g, kp0, kp4, qp := GP64(), GP64(), GP64(), GP64()
	MOVQ(groups, g)
	LEAQ(Mem{Base: k, Disp: 128 * nb}, kp0)
	LEAQ(Mem{Base: k4, Disp: 128 * nb}, kp4)
	LEAQ(Mem{Base: q, Disp: 128 * nb}, qp)
	Label(l("group"))
	TESTQ(g, g)
	JE(LabelRef(l("store")))
	for half := range 2 {
		// rows[j] = [key j, 4 floats | key j+4, 4 floats], then a 4×4
		// transpose in each 128-bit lane gives column d of keys 0–3 and 4–7.
		rows := y[:4]
		for j := range rows {
			m0, m4 := rowOf4(kp0, stride, s3, j), rowOf4(kp4, stride, s3, j)
			m0.Disp, m4.Disp = 16*half, 16*half
			VMOVUPS(m0, rows[j].AsX())
			VINSERTF128(Imm(1), m4, rows[j], rows[j])
		}
		t0, t1, t2, t3 := y[4], y[5], y[6], y[7]
		VUNPCKLPS(rows[1], rows[0], t0)
		VUNPCKHPS(rows[1], rows[0], t1)
		VUNPCKLPS(rows[3], rows[2], t2)
		VUNPCKHPS(rows[3], rows[2], t3)
		cols := y[8:12]
		VUNPCKLPD(t2, t0, cols[0])
		VUNPCKHPD(t2, t0, cols[1])
		VUNPCKLPD(t3, t1, cols[2])
		VUNPCKHPD(t3, t1, cols[3])
		for d, c := range cols {
			b := y[12]
			VBROADCASTSS(Mem{Base: qp, Disp: 16*half + 4*d}, b)
			VMULPS(c, b, b) // x[i]·y[i]
			VADDPS(b, r, r) // s + that
		}
	}
	ADDQ(Imm(32), kp0)
	ADDQ(Imm(32), kp4)
	ADDQ(Imm(32), qp)
	DECQ(g)
	JMP(LabelRef(l("group")))
	Label(l("store"))
	sc := y[13]
	VBROADCASTSS(paramAddr("scale"), sc)
	VMULPS(r, sc, r) // scale·Dot
	VMOVUPS(r, Mem{Base: s})
	ADDQ(Imm(32), s)
	LEAQ(Mem{Base: k4, Index: stride, Scale: 4}, k)
	SUBQ(Imm(8), n)
	JMP(LabelRef(l("block")))
	Label(l("done"))
	VZEROUPPER()
	RET()
}

func attnMixAVX2Kernel() {
	ps := attnHeader("attnMixAVX2", "func(out, p, v *float32, stride, hd, n int)",
		"attnMixAVX2 sets out[j] = Σ p[i]·v[i·stride+j] over i < n, in order, for j < hd, bit for bit as zeroing out and calling axpyAVX2 per key gives it; hd a multiple of 8 up to 64, n ≥ 1.",
		"out", "p", "v", "stride", "hd", "n")
	out, p, v, stride, hd, n := ps[0], ps[1], ps[2], ps[3], ps[4], ps[5]
	dispatchChunks(hd, "nc", 8, 8)
	for nc := 1; nc <= 8; nc++ {
		l := func(name string) string { return fmt.Sprintf("%s%d", name, nc) }
		Label(l("nc"))
		acc := zeroed(nc, YMM)
		Label(l("loop"))
		al := YMM()
		VBROADCASTSS(Mem{Base: p}, al)
		for c := range nc {
			t := YMM()
			VMULPS(Mem{Base: v, Disp: 32 * c}, al, t) // alpha·x
			VADDPS(acc[c], t, acc[c])                 // + y
		}
		ADDQ(Imm(4), p)
		ADDQ(stride, v)
		DECQ(n)
		JNE(LabelRef(l("loop")))
		for c := range nc {
			VMOVUPS(acc[c], Mem{Base: out, Disp: 32 * c})
		}
		VZEROUPPER()
		RET()
	}
}
