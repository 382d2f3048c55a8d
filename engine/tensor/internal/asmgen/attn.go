package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	"github.com/mmcloughlin/avo/reg"
)

// The attention kernels do what decoding attention did with one Dot per
// cached key and one Axpy per key, in one call per head, and give the same
// bits: each key's products and sums are the instructions dotAVX512 and
// axpyAVX512 run for a vector of 16 ≤ hd < 64 (≤ 64 for the mix), in the
// same order. What they save is the call, the bounds checks and, for the
// scores, most of the horizontal reduction: sixteen keys' sums are reduced
// together by shuffles that add the same lanes in the same order as hsum
// does for one key.
//
// Both are generated once per chunk count nc = ⌈hd/16⌉ (1 to 4), so the
// chunks are unrolled: the full ones are read in place, the last one
// through the lane mask K1, as maskedLoop reads a tail.

func attnKernels() {
	attnScoresKernel()
	attnMixKernel()
}

// attnHeader opens an attention kernel and loads the named arguments, the
// fourth of which, the key stride, it turns into bytes.
func attnHeader(name, signature, doc string, names ...string) []reg.Register {
	header(name, signature, doc)
	p := params(names...)
	SHLQ(Imm(2), p[3])
	return p
}

// chunkMask sets K1 to the lanes of the last of nc 16-float chunks of hd:
// hd − 16(nc−1) of them, all 16 when hd is a multiple of 16.
func chunkMask(hd reg.Register, nc int) {
	rem, ones := GP32(), GP32()
	MOVL(hd.(reg.GPVirtual).As32(), rem)
	SUBL(U32(16*(nc-1)), rem)
	MOVL(U32(0xffff), ones)
	BZHIL(rem, ones, ones)
	KMOVW(ones, reg.K1)
}

// dispatchChunks jumps to label prefix+nc for nc = ⌈hd/width⌉ in 1..most.
func dispatchChunks(hd reg.Register, prefix string, width, most int) {
	for nc := 1; nc < most; nc++ {
		CMPQ(hd, U32(width*nc))
		JLE(LabelRef(fmt.Sprintf("%s%d", prefix, nc)))
	}
	JMP(LabelRef(fmt.Sprintf("%s%d", prefix, most)))
}

func attnScoresKernel() {
	p := attnHeader("attnScoresAVX512", "func(s, q, k *float32, stride, hd, n int, scale float32)",
		"attnScoresAVX512 sets s[i] = scale·Σ q[j]·k[i·stride+j] over j < hd for i < n, bit for bit as scale times dotAVX512 gives it; 16 ≤ hd < 64, any n ≥ 0: blocks of 16 keys, then one at a time.",
		"s", "q", "k", "stride", "hd", "n")
	s, q, k, stride, hd, n := p[0], p[1], p[2], p[3], p[4], p[5]
	dispatchChunks(hd, "nc", 16, 4)
	for nc := 1; nc <= 4; nc++ {
		Label(fmt.Sprintf("nc%d", nc))
		scoresChunks(s, q, k, stride, hd, n, nc)
	}
}

// scoresChunks emits the scores kernel's body for nc chunks per key.
func scoresChunks(s, q, k, stride, hd, n reg.Register, nc int) {
	l := func(name string) string { return fmt.Sprintf("%s%d", name, nc) }
	chunkMask(hd, nc)
	qv := make([]reg.VecVirtual, nc)
	for c := range qv {
		qv[c] = ZMM()
		if c < nc-1 {
			VMOVUPS(Mem{Base: q, Disp: 64 * c}, qv[c])
		} else {
			VMOVUPS_Z(Mem{Base: q, Disp: 64 * c}, reg.K1, qv[c])
		}
	}
	sc := broadcastParam("scale", ZMM)
	zero := ZMM()
	VXORPS(zero, zero, zero)
	s3 := GP64()
	LEAQ(Mem{Base: stride, Index: stride, Scale: 2}, s3)
	// dot accumulates one key's chunks into acc as dotAVX512's masked
	// loop does. dotAVX512 then adds its three other accumulators, all
	// +0, which only turns a −0 lane into +0: see plusZero.
	dot := func(acc reg.VecVirtual, key func(c int) Mem) {
		VXORPS(acc, acc, acc)
		for c := range nc {
			if c < nc-1 {
				VFMADD231PS(key(c), qv[c], acc)
			} else {
				t := ZMM()
				VMOVUPS_Z(key(c), reg.K1, t)
				VFMADD231PS(t, qv[c], acc)
			}
		}
	}

	Label(l("block"))
	CMPQ(n, Imm(16))
	JL(LabelRef(l("single")))
	// Keys 4g..4g+3 are read from base g. The reduction below leaves the
	// sum of accumulator j in lane 4(j mod 4) + j/4, so accumulator j takes
	// that key, and key i ends in lane i.
	bases := []reg.Register{k, GP64(), GP64(), GP64()}
	for g := 1; g < 4; g++ {
		LEAQ(Mem{Base: bases[g-1], Index: stride, Scale: 4}, bases[g])
	}
	acc := make([]reg.VecVirtual, 16)
	for j := range acc {
		key := 4*(j%4) + j/4
		acc[j] = ZMM()
		base := rowOf4(bases[key/4], stride, s3, key)
		dot(acc[j], func(c int) Mem { m := base; m.Disp = 64 * c; return m })
	}
	// hsum of one key: y = lo256 + hi256, x = lo128 + hi128 of y,
	// w = x[0:2] + x[2:4], then w[0] + w[1]. Each step below does it for
	// several keys at once, the first operand always the lower half.
	ys := make([]reg.VecVirtual, 8)
	for i := range ys {
		a, b := acc[2*i], acc[2*i+1]
		lo, hi := ZMM(), ZMM()
		VINSERTF64X4(Imm(1), b.AsY(), a, lo) // [a.lo256, b.lo256]
		VSHUFF32X4(U8(0xee), b, a, hi)       // [a.hi256, b.hi256]
		ys[i] = ZMM()
		VADDPS(hi, lo, ys[i])
	}
	xs := make([]reg.VecVirtual, 4)
	for i := range xs {
		a, b := ys[2*i], ys[2*i+1]
		lo, hi := ZMM(), ZMM()
		VSHUFF32X4(U8(0x88), b, a, lo) // 128-bit lanes a0 a2 b0 b2
		VSHUFF32X4(U8(0xdd), b, a, hi) // a1 a3 b1 b3
		xs[i] = ZMM()
		VADDPS(hi, lo, xs[i])
	}
	ws := make([]reg.VecVirtual, 2)
	for i := range ws {
		a, b := xs[2*i], xs[2*i+1]
		lo, hi := ZMM(), ZMM()
		VUNPCKLPD(b, a, lo) // per 128 bits: a[0:2] b[0:2]
		VUNPCKHPD(b, a, hi) // a[2:4] b[2:4]
		ws[i] = ZMM()
		VADDPS(hi, lo, ws[i])
	}
	lo, hi, r := ZMM(), ZMM(), ZMM()
	VSHUFPS(U8(0x88), ws[1], ws[0], lo) // per 128 bits: a0 a2 b0 b2
	VSHUFPS(U8(0xdd), ws[1], ws[0], hi) // a1 a3 b1 b3
	VADDPS(hi, lo, r)
	// plusZero: the lanes' −0 → +0 that dotAVX512 does before its
	// horizontal sum can wait until after it. Turning −0 into +0 changes
	// no nonzero sum, and a zero sum is −0 only when all its terms are:
	// so each partial sum differs only in the sign of a zero, and
	// one add of +0 to the sixteen sums gives the same bits.
	VADDPS(zero, r, r)
	VMULPS(r, sc, r) // scale·dot
	VMOVUPS(r, Mem{Base: s})
	ADDQ(Imm(64), s)
	LEAQ(Mem{Base: bases[3], Index: stride, Scale: 4}, k)
	SUBQ(Imm(16), n)
	JMP(LabelRef(l("block")))

	// Fewer than 16 keys: one at a time, reduced by hsum itself.
	Label(l("single"))
	TESTQ(n, n)
	JE(LabelRef(l("done")))
	a := ZMM()
	dot(a, func(c int) Mem { return Mem{Base: k, Disp: 64 * c} })
	VADDPS(zero, a, a)
	x := hsum(a)
	VMULSS(x, sc.AsX(), x)
	VMOVSS(x, Mem{Base: s})
	ADDQ(Imm(4), s)
	ADDQ(stride, k)
	DECQ(n)
	JMP(LabelRef(l("single")))
	Label(l("done"))
	VZEROUPPER()
	RET()
}

func attnMixKernel() {
	ps := attnHeader("attnMixAVX512", "func(out, p, v *float32, stride, hd, n int)",
		"attnMixAVX512 sets out[j] = Σ p[i]·v[i·stride+j] over i < n, in order, for j < hd, bit for bit as zeroing out and calling axpyAVX512 per key gives it; 16 ≤ hd ≤ 64, n ≥ 1.",
		"out", "p", "v", "stride", "hd", "n")
	out, p, v, stride, hd, n := ps[0], ps[1], ps[2], ps[3], ps[4], ps[5]
	dispatchChunks(hd, "nc", 16, 4)
	for nc := 1; nc <= 4; nc++ {
		l := func(name string) string { return fmt.Sprintf("%s%d", name, nc) }
		Label(l("nc"))
		chunkMask(hd, nc)
		acc := zeroed(nc, ZMM)
		Label(l("loop"))
		pi := ZMM()
		VBROADCASTSS(Mem{Base: p}, pi)
		for c := range nc {
			if c < nc-1 {
				VFMADD231PS(Mem{Base: v, Disp: 64 * c}, pi, acc[c])
			} else {
				t := ZMM()
				VMOVUPS_Z(Mem{Base: v, Disp: 64 * c}, reg.K1, t)
				VFMADD231PS(t, pi, acc[c])
			}
		}
		ADDQ(Imm(4), p)
		ADDQ(stride, v)
		DECQ(n)
		JNE(LabelRef(l("loop")))
		for c := range nc {
			if c < nc-1 {
				VMOVUPS(acc[c], Mem{Base: out, Disp: 64 * c})
			} else {
				VMOVUPS(acc[c], reg.K1, Mem{Base: out, Disp: 64 * c})
			}
		}
		VZEROUPPER()
		RET()
	}
}
