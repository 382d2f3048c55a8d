//go:build amd64

package tensor

import "golang.org/x/sys/cpu"

// The chosen kernel of each instruction set comes first in its list; the
// other shapes stay built and tested so the choice can be re-measured
// (BenchmarkMicrokernel, BenchmarkSgemmVariants) on other CPUs. On the
// AVX-512 development machine (AMD EPYC, Zen 5) every shape reaches about
// 200 GFLOP/s in cache; over the training shapes 8×32, 6×32 and 12×32 were
// within noise of each other (geomean 188–191 GFLOP/s of thread CPU time)
// and 14×32 and the wider ones behind (169–175). 8×32 divides the usual
// sizes, wasting no rows on edges. Packing A never paid off there (n up to
// 1536), so packAMinN is effectively off, but the path stays tested.
// Reading B in place instead of packing it gained 5–15% for the weight
// gradients with m ≤ 512 and made no difference at m ≥ 1536 (packBMinM).
//
// On AVX2 (AMD EPYC, Zen 3: 32 KiB 8-way L1, 101 GFLOP/s FMA peak) the
// in-place reads at power-of-two strides cost more: packing a transposed A
// took the weight gradients from 55–78 to 72–89 GFLOP/s of thread CPU
// time, and packing B from m = 384 took 512³ from 83–84 to 88–91 and config B's
// 384-row weight gradients from 74 to 83 (avx2 against avx2_inplace, best
// of 15 alternating rounds); smaller m still reads B in place (attention's
// 64- and 256-row products lost 5–20% packed).
var (
	avx512Variants = []*kernelSet{
		{name: "avx512", mr: 8, nr: 32, mc: 128, kc: 256, nc: 4096, packAMinN: 1 << 30, packBMinM: 1024, transpose8: transpose8AVX, copyRows: copyRows8AVX, kern: kern8x32AVX512},
		{name: "avx512_packB", mr: 8, nr: 32, mc: 128, kc: 256, nc: 4096, packAMinN: 1 << 30, packBMinM: 0, transpose8: transpose8AVX, copyRows: copyRows8AVX, kern: kern8x32AVX512},
		{name: "avx512_14x32", mr: 14, nr: 32, mc: 168, kc: 256, nc: 4096, packAMinN: 1 << 30, packBMinM: 1024, transpose8: transpose8AVX, kern: kern14x32AVX512},
		{name: "avx512_12x32", mr: 12, nr: 32, mc: 144, kc: 256, nc: 4096, packAMinN: 1 << 30, packBMinM: 1024, transpose8: transpose8AVX, kern: kern12x32AVX512},
		{name: "avx512_6x32", mr: 6, nr: 32, mc: 120, kc: 256, nc: 4096, packAMinN: 1 << 30, packBMinM: 1024, transpose8: transpose8AVX, copyRows: copyRows6AVX, kern: kern6x32AVX512},
		{name: "avx512_6x64", mr: 6, nr: 64, mc: 120, kc: 256, nc: 4096, packAMinN: 1 << 30, packBMinM: 1024, transpose8: transpose8AVX, copyRows: copyRows6AVX, kern: kern6x64AVX512},
		{name: "avx512_8x48", mr: 8, nr: 48, mc: 128, kc: 256, nc: 4080, packAMinN: 1 << 30, packBMinM: 1024, transpose8: transpose8AVX, copyRows: copyRows8AVX, kern: kern8x48AVX512},
	}
	avx2Variants = []*kernelSet{
		{name: "avx2", mr: 6, nr: 16, mc: 96, kc: 256, nc: 2048, packAMinN: 1 << 30, packTransA: true, packBMinM: 384, transpose8: transpose8AVX, copyRows: copyRows6AVX, kern: kern6x16AVX2},
		{name: "avx2_inplace", mr: 6, nr: 16, mc: 96, kc: 256, nc: 2048, packAMinN: 1 << 30, packBMinM: 1024, transpose8: transpose8AVX, copyRows: copyRows6AVX, kern: kern6x16AVX2},
		{name: "avx2_4x24", mr: 4, nr: 24, mc: 96, kc: 256, nc: 2040, packAMinN: 1 << 30, packTransA: true, packBMinM: 512, transpose8: transpose8AVX, kern: kern4x24AVX2},
		{name: "avx2_8x8", mr: 8, nr: 8, mc: 96, kc: 256, nc: 2048, packAMinN: 1 << 30, packTransA: true, packBMinM: 512, transpose8: transpose8AVX, copyRows: copyRows8AVX, kern: kern8x8AVX2},
	}
)

// hasAVX512 and hasAVX2 report what the CPU has, capped by CPUEnv.
func hasAVX512() bool { return cpuCap >= 2 && cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ }
func hasAVX2() bool   { return cpuCap >= 1 && cpu.X86.HasAVX2 && cpu.X86.HasFMA }

// hasAVX512Ops reports whether the row kernels can run: they also build
// their tail masks with BMI2's SHLX.
func hasAVX512Ops() bool { return hasAVX512() && cpu.X86.HasBMI2 }

// availableKernels lists the implementations this CPU can run, best first.
func availableKernels() []*kernelSet {
	var ks []*kernelSet
	if hasAVX512() {
		ks = append(ks, avx512Variants[0])
	}
	if hasAVX2() {
		ks = append(ks, avx2Variants[0])
	}
	return append(ks, genericKernels)
}

// variantKernels lists every kernel shape this CPU can run.
func variantKernels() []*kernelSet {
	var ks []*kernelSet
	if hasAVX512() {
		ks = append(ks, avx512Variants...)
	}
	if hasAVX2() {
		ks = append(ks, avx2Variants...)
	}
	return append(ks, genericKernels)
}

func pickKernels() *kernelSet { return availableKernels()[0] }
