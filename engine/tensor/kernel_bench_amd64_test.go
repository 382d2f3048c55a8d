//go:build amd64

package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// BenchmarkMicrokernel times each generated kernel alone on packed panels
// that fit in cache, as the macro loop drives it (one B micro-panel, a
// sweep over A micro-panels), to choose the kernel shape by measurement.
func BenchmarkMicrokernel(b *testing.B) {
	type kern struct {
		name   string
		mr, nr int
		f      microKernel
		need   func() bool
	}
	ks := []kern{
		{"avx512_6x32", 6, 32, kern6x32AVX512, hasAVX512},
		{"avx512_8x32", 8, 32, kern8x32AVX512, hasAVX512},
		{"avx512_12x32", 12, 32, kern12x32AVX512, hasAVX512},
		{"avx512_14x32", 14, 32, kern14x32AVX512, hasAVX512},
		{"avx512_6x64", 6, 64, kern6x64AVX512, hasAVX512},
		{"avx512_8x48", 8, 48, kern8x48AVX512, hasAVX512},
		{"avx2_6x16", 6, 16, kern6x16AVX2, hasAVX2},
		{"avx2_4x24", 4, 24, kern4x24AVX2, hasAVX2},
		{"avx2_8x8", 8, 8, kern8x8AVX2, hasAVX2},
		{"generic_4x4", 4, 4, kernGeneric, func() bool { return true }},
	}
	r := rand.New(rand.NewPCG(1, 1))
	for _, k := range ks {
		if !k.need() {
			continue
		}
		for _, kc := range []int{128, 256, 384} {
			b.Run(fmt.Sprintf("%s/kc%d", k.name, kc), func(b *testing.B) {
				panels := 192 / k.mr
				ap := alignedFloats(panels * k.mr * kc)
				copy(ap, randSlice(r, len(ap)))
				bp := alignedFloats(kc * k.nr)
				copy(bp, randSlice(r, len(bp)))
				ldc := 512
				c := make([]float32, panels*k.mr*ldc)
				runtime.LockOSThread()
				defer runtime.UnlockOSThread()
				t0 := threadCPU()
				for b.Loop() {
					for i := range panels {
						k.f(kc, &ap[i*k.mr*kc], 1, k.mr, &bp[0], k.nr, &c[i*k.mr*ldc], ldc, 1, 1)
					}
				}
				flop := 2 * float64(panels*k.mr*k.nr*kc)
				b.ReportMetric(flop*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
				b.ReportMetric(flop*float64(b.N)/(threadCPU()-t0)/1e9, "cpuGFLOP/s")
			})
		}
	}
}

// BenchmarkSgemmAlternating times the kernel sets round by round on each
// shape, one thread, and reports each set's best round in thread CPU time:
// on a shared machine a burst of load then hits every set alike, and the
// best round is the one least disturbed by other processes evicting the
// caches. One op is all the rounds of all shapes.
//
//	go test -run '^$' -bench SgemmAlternating -benchtime 1x -v ./engine/tensor
func BenchmarkSgemmAlternating(b *testing.B) {
	defer SetThreads(Threads())
	SetThreads(1)
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var sets []*kernelSet
	for _, ks := range variantKernels() {
		if ks.name != "generic" {
			sets = append(sets, ks)
		}
	}
	r := rand.New(rand.NewPCG(1, 1))
	const rounds = 15
	for b.Loop() {
		for _, sh := range benchShapes {
			ar, ac := sh.m, sh.k
			if sh.transA {
				ar, ac = ac, ar
			}
			br, bc := sh.k, sh.n
			if sh.transB {
				br, bc = bc, br
			}
			x, y := randSlice(r, ar*ac), randSlice(r, br*bc)
			c := make([]float32, sh.m*sh.n)
			flop := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k)
			iters := max(1, int(2e7/flop)) // about 0.2 ms a round at peak
			best := make([]float64, len(sets))
			for range rounds {
				for i, ks := range sets {
					restore, _ := setKernels(ks.name)
					t0 := threadCPU()
					for range iters {
						Sgemm(sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, x, ac, y, bc, 0, c, sh.n)
					}
					best[i] = max(best[i], flop*float64(iters)/(threadCPU()-t0)/1e9)
					restore()
				}
			}
			line := fmt.Sprintf("%-14s", sh.name)
			for i, ks := range sets {
				line += fmt.Sprintf(" %s=%.1f", ks.name, best[i])
			}
			b.Log(line)
		}
	}
}
