package tensor

import (
	"fmt"
	"math/rand/v2"
	"runtime"
	"testing"
)

// benchShapes are 512³ and the GEMMs of one training step of the two
// reference configs (M = 2048 tokens): A is d=128, MLP 512, vocab 1024;
// B is d=384, MLP 1536. NT is a forward x·Wᵀ, NN the input gradient
// dy·W, TN the weight gradient dyᵀ·x.
var benchShapes = []struct {
	name           string
	transA, transB bool
	m, n, k        int
}{
	{"512cube", false, false, 512, 512, 512},
	{"A/qkvo_NT", false, true, 2048, 128, 128},
	{"A/up_NT", false, true, 2048, 512, 128},
	{"A/down_NT", false, true, 2048, 128, 512},
	{"A/head_NT", false, true, 2048, 1024, 128},
	{"A/dx_down_NN", false, false, 2048, 512, 128},
	{"A/dx_up_NN", false, false, 2048, 128, 512},
	{"A/dx_head_NN", false, false, 2048, 128, 1024},
	{"A/dw_head_TN", true, false, 1024, 128, 2048},
	{"A/dw_qkvo_TN", true, false, 128, 128, 2048},
	{"A/dw_up_TN", true, false, 512, 128, 2048},
	{"A/dw_down_TN", true, false, 128, 512, 2048},
	{"B/qkvo_NT", false, true, 2048, 384, 384},
	{"B/up_NT", false, true, 2048, 1536, 384},
	{"B/down_NT", false, true, 2048, 384, 1536},
	{"B/dx_up_NN", false, false, 2048, 384, 1536},
	{"B/dw_up_TN", true, false, 1536, 384, 2048},
	{"B/dw_qkvo_TN", true, false, 384, 384, 2048},
	{"B/dw_down_TN", true, false, 384, 1536, 2048},
	// Attention of one (sequence, head), as engine/llama calls it from
	// inside Parallel, so on one goroutine: B has hd=64 and seq 256.
	{"B/attn_qk_NT", false, true, 256, 256, 64},
	{"B/attn_pv_NN", false, false, 256, 64, 256},
	{"B/attn_dv_TN", true, false, 256, 64, 256},
	{"A/attn_qk_NT", false, true, 64, 64, 32},
	{"A/attn_pv_NN", false, false, 64, 32, 64},
}

func BenchmarkSgemm(b *testing.B) { benchSgemm(b, availableKernels(), []int{1, 2}) }

// BenchmarkSgemmVariants compares every kernel shape on one thread.
func BenchmarkSgemmVariants(b *testing.B) { benchSgemm(b, variantKernels(), []int{1}) }

func benchSgemm(b *testing.B, kernels []*kernelSet, threadCounts []int) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(1, 1))
	for _, ks := range kernels {
		for _, threads := range threadCounts {
			for _, sh := range benchShapes {
				if ks.name == "generic" && sh.name != "512cube" {
					continue
				}
				b.Run(fmt.Sprintf("%s/t%d/%s", ks.name, threads, sh.name), func(b *testing.B) {
					SetThreads(threads)
					restore, _ := setKernels(ks.name)
					defer restore()
					ar, ac := sh.m, sh.k
					if sh.transA {
						ar, ac = ac, ar
					}
					br, bc := sh.k, sh.n
					if sh.transB {
						br, bc = bc, br
					}
					x := randSlice(r, ar*ac)
					y := randSlice(r, br*bc)
					c := make([]float32, sh.m*sh.n)
					Sgemm(sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, x, ac, y, bc, 0, c, sh.n)
					b.ReportAllocs()
					runtime.LockOSThread()
					defer runtime.UnlockOSThread()
					t0, p0 := threadCPU(), procCPU()
					b.ResetTimer()
					for b.Loop() {
						Sgemm(sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, x, ac, y, bc, 0, c, sh.n)
					}
					flop := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k) * float64(b.N)
					b.ReportMetric(flop/b.Elapsed().Seconds()/1e9, "GFLOP/s")
					if threads == 1 {
						// Thread CPU time is immune to other processes on the
						// machine; it only means speed when one thread works.
						b.ReportMetric(flop/(threadCPU()-t0)/1e9, "cpuGFLOP/s")
					} else {
						// Per-thread speed in process CPU time: equal to the
						// one-thread figure if parallelism wasted nothing
						// (spinning and idle waits count against it).
						b.ReportMetric(flop/(procCPU()-p0)/1e9, "cpuGFLOP/s")
					}
				})
			}
		}
	}
}
