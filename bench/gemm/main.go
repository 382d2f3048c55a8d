// Command gemmbench times OpenBLAS's cblas_sgemm and tensor.Sgemm
// alternately on the same operands and prints GFLOP/s and their ratio.
//
// It lives in its own module so that the main module's build and tests
// never need cgo or OpenBLAS; run it through run.sh.
package main

/*
#cgo LDFLAGS: -lopenblas
#include <cblas.h>
#include <immintrin.h>

// fma_peak runs iters rounds of 12 independent chains of 8-lane fused
// multiply-adds, 192 flops a round: enough chains to keep both of a Zen 3
// or Haswell core's FMA pipes busy through their 4-5 cycle latency. Its
// rate is the core's single-precision peak, against which the GEMMs are a
// fraction. The result is returned so the loop cannot be dropped.
__attribute__((target("avx2,fma")))
static float fma_peak(long iters) {
	__m256 m = _mm256_set1_ps(0.9999999f), c = _mm256_set1_ps(1e-7f);
	// Distinct starting values, or the compiler sees twelve copies of one
	// chain and computes it once.
	__m256 a0 = _mm256_set1_ps(1), a1 = _mm256_set1_ps(2), a2 = _mm256_set1_ps(3),
	       a3 = _mm256_set1_ps(4), a4 = _mm256_set1_ps(5), a5 = _mm256_set1_ps(6),
	       a6 = _mm256_set1_ps(7), a7 = _mm256_set1_ps(8), a8 = _mm256_set1_ps(9),
	       a9 = _mm256_set1_ps(10), a10 = _mm256_set1_ps(11), a11 = _mm256_set1_ps(12);
	for (long i = 0; i < iters; i++) {
		a0 = _mm256_fmadd_ps(a0, m, c); a1 = _mm256_fmadd_ps(a1, m, c);
		a2 = _mm256_fmadd_ps(a2, m, c); a3 = _mm256_fmadd_ps(a3, m, c);
		a4 = _mm256_fmadd_ps(a4, m, c); a5 = _mm256_fmadd_ps(a5, m, c);
		a6 = _mm256_fmadd_ps(a6, m, c); a7 = _mm256_fmadd_ps(a7, m, c);
		a8 = _mm256_fmadd_ps(a8, m, c); a9 = _mm256_fmadd_ps(a9, m, c);
		a10 = _mm256_fmadd_ps(a10, m, c); a11 = _mm256_fmadd_ps(a11, m, c);
	}
	__m256 s = _mm256_add_ps(_mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)),
	                         _mm256_add_ps(_mm256_add_ps(a4, a5), _mm256_add_ps(a6, a7)));
	s = _mm256_add_ps(s, _mm256_add_ps(_mm256_add_ps(a8, a9), _mm256_add_ps(a10, a11)));
	float out[8];
	_mm256_storeu_ps(out, s);
	return out[0];
}

// add_chain runs iters rounds of 16 dependent integer adds: one cycle
// each on every x86 core, so its rate is the core's clock while measured,
// whatever the nominal frequency or the turbo state.
static long add_chain(long iters) {
	long x = 0, y = 1;
	for (long i = 0; i < iters; i++) {
		__asm__ volatile(
			"add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
			"add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
			"add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\t"
			"add %1, %0\n\tadd %1, %0\n\tadd %1, %0\n\tadd %1, %0"
			: "+r"(x) : "r"(y));
	}
	return x;
}
*/
import "C"

import (
	"flag"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"slices"
	"strings"
	"time"
	"unsafe"

	"github.com/synthloop/synthloop/engine/tensor"
	"golang.org/x/sys/unix"
)

type shape struct {
	name           string
	transA, transB bool
	m, n, k        int
}

// The training shapes are those of one step at M = 2048 tokens. Config A:
// 2 layers, d=128, MLP 512 (4·d), seq 64 × batch 32, vocab 1024. Config B:
// 6 layers, d=384, MLP 1536, seq 256 × batch 8, vocab 1024. NT is a
// forward x·Wᵀ, NN an input gradient dy·W, TN a weight gradient dyᵀ·x.
var shapes = []shape{
	{"512³", false, false, 512, 512, 512},
	{"A qkvo fwd NT", false, true, 2048, 128, 128},
	{"A up fwd NT", false, true, 2048, 512, 128},
	{"A down fwd NT", false, true, 2048, 128, 512},
	{"A head fwd NT", false, true, 2048, 1024, 128},
	{"A qkvo dx NN", false, false, 2048, 128, 128},
	{"A up dx NN", false, false, 2048, 128, 512},
	{"A down dx NN", false, false, 2048, 512, 128},
	{"A head dx NN", false, false, 2048, 128, 1024},
	{"A qkvo dW TN", true, false, 128, 128, 2048},
	{"A up dW TN", true, false, 512, 128, 2048},
	{"A down dW TN", true, false, 128, 512, 2048},
	{"A head dW TN", true, false, 1024, 128, 2048},
	{"B qkvo fwd NT", false, true, 2048, 384, 384},
	{"B up fwd NT", false, true, 2048, 1536, 384},
	{"B down fwd NT", false, true, 2048, 384, 1536},
	{"B head fwd NT", false, true, 2048, 1024, 384},
	{"B qkvo dx NN", false, false, 2048, 384, 384},
	{"B up dx NN", false, false, 2048, 384, 1536},
	{"B down dx NN", false, false, 2048, 1536, 384},
	{"B qkvo dW TN", true, false, 384, 384, 2048},
	{"B up dW TN", true, false, 1536, 384, 2048},
	{"B down dW TN", true, false, 384, 1536, 2048},
	// Attention for one (sequence, head), with head dim 32 (A, 4 heads) and
	// 64 (B, 6 heads); engine/llama runs these inside tensor.Parallel, so
	// each runs on one thread whatever the pool size.
	{"A attn QKᵀ NT", false, true, 64, 64, 32},
	{"A attn PV NN", false, false, 64, 32, 64},
	{"A attn dV TN", true, false, 64, 32, 64},
	{"B attn QKᵀ NT", false, true, 256, 256, 64},
	{"B attn PV NN", false, false, 256, 64, 256},
	{"B attn dV TN", true, false, 256, 64, 256},
	// Decoding with a KV cache: one token, or a batch of 8, through the MLP
	// and the vocabulary head of B.
	{"B dec1 up NT", false, true, 1, 1536, 384},
	{"B dec1 head NT", false, true, 1, 1024, 384},
	{"B dec8 up NT", false, true, 8, 1536, 384},
	{"B dec8 down NT", false, true, 8, 384, 1536},
}

func main() {
	threads := flag.Int("threads", 1, "threads for both libraries (set OPENBLAS_NUM_THREADS to match)")
	reps := flag.Int("reps", 7, "alternating timed rounds per shape; medians are reported")
	minTime := flag.Duration("round", 40*time.Millisecond, "minimum duration of one timed round")
	only := flag.String("only", "", "run only shapes whose name contains this")
	flag.Parse()
	// Both libraries then run their single-threaded calls on this thread,
	// so its CPU clock measures them alone (see timeIt).
	runtime.LockOSThread()
	cpuClock = *threads == 1

	tensor.SetThreads(*threads)
	C.openblas_set_num_threads(C.int(*threads))
	fmt.Printf("threads=%d  OpenBLAS config: %s\n", *threads, C.GoString(C.openblas_get_config()))
	peak, ghz := fmaPeak(*reps, *minTime)
	fmt.Printf("AVX2 FMA peak of one core: %.1f GFLOP/s wall, %.1f on the thread's CPU clock; clock %.2f GHz (dependent adds on the CPU clock), so %.1f flops a cycle (medians of %d rounds)\n",
		peak[0], peak[1], ghz, peak[1]/ghz, *reps)
	fmt.Printf("%-16s %16s %9s %9s %7s %9s %9s %7s %7s %7s %7s\n", "shape", "M×N×K", "ours", "openblas", "ratio", "ours-cpu", "blas-cpu", "ratio", "ours/pk", "blas/pk", "maxdiff")
	var ratios []float64
	for _, sh := range shapes {
		if !strings.Contains(sh.name, *only) {
			continue
		}
		res := run(sh, *reps, *minTime)
		ratios = append(ratios, res.wall.ratio)
		cpu := fmt.Sprintf("%9s %9s %7s %7s %7s", "-", "-", "-", "-", "-")
		if cpuClock {
			cpu = fmt.Sprintf("%9.1f %9.1f %7.2f %6.0f%% %6.0f%%", res.cpu.ours, res.cpu.theirs, res.cpu.ratio,
				100*res.cpu.ours/peak[1], 100*res.cpu.theirs/peak[1])
		}
		fmt.Printf("%-16s %16s %9.1f %9.1f %7.2f %s %7.0e\n", sh.name, fmt.Sprintf("%d×%d×%d", sh.m, sh.n, sh.k),
			res.wall.ours, res.wall.theirs, res.wall.ratio, cpu, res.maxDiff)
	}
	slices.Sort(ratios)
	if len(ratios) > 0 {
		fmt.Printf("GFLOP/s are medians over rounds; ratio = median of per-round ours/openblas (wall clock). min ratio %.2f, median %.2f\n",
			ratios[0], ratios[len(ratios)/2])
		if cpuClock {
			fmt.Println("-cpu columns use the thread's CPU clock, which leaves out time other processes held the core; /pk is that as a fraction of the measured FMA peak.")
		}
	}
}

// fmaPeak returns the median wall and thread-CPU GFLOP/s of fma_peak on
// the calling thread, and the clock in GHz measured alongside it, which
// turns the peak into flops a cycle: a check that it is the hardware's
// (32 for two 8-lane FMA pipes) and not an artefact of the clocks.
func fmaPeak(reps int, minTime time.Duration) (peak [2]float64, ghz float64) {
	const rounds = 1 << 20 // about 2 ms at 100 GFLOP/s
	fma := func() { C.fma_peak(rounds) }
	adds := func() { C.add_chain(rounds) }
	size := func(f func()) int {
		t0 := time.Now()
		f()
		return max(1, int(minTime/max(time.Since(t0), time.Microsecond)))
	}
	fi, ai := size(fma), size(adds)
	flop, cycles := 192*float64(rounds)*float64(fi), 16*float64(rounds)*float64(ai)
	var w, c, g []float64
	for range reps {
		t := timeIt(fma, fi)
		w, c = append(w, flop/t[0]/1e9), append(c, flop/t[1]/1e9)
		g = append(g, cycles/timeIt(adds, ai)[1]/1e9)
	}
	return [2]float64{median(w), median(c)}, median(g)
}

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	return x
}

// cpuClock selects timing by thread CPU time as well as wall time: valid
// only when all the work runs on the calling thread.
var cpuClock bool

type speeds struct{ ours, theirs, ratio float64 }

type result struct {
	wall, cpu speeds
	maxDiff   float64
}

func run(sh shape, reps int, minTime time.Duration) result {
	r := rand.New(rand.NewPCG(1, 2))
	lda, ldb := sh.k, sh.n
	if sh.transA {
		lda = sh.m
	}
	if sh.transB {
		ldb = sh.k
	}
	a := randSlice(r, sh.m*sh.k)
	b := randSlice(r, sh.k*sh.n)
	c1 := make([]float32, sh.m*sh.n)
	c2 := make([]float32, sh.m*sh.n)
	ta, tb := C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans), C.enum_CBLAS_TRANSPOSE(C.CblasNoTrans)
	if sh.transA {
		ta = C.CblasTrans
	}
	if sh.transB {
		tb = C.CblasTrans
	}
	goCall := func() {
		tensor.Sgemm(sh.transA, sh.transB, sh.m, sh.n, sh.k, 1, a, lda, b, ldb, 0, c1, sh.n)
	}
	blasCall := func() {
		C.cblas_sgemm(C.CblasRowMajor, ta, tb, C.blasint(sh.m), C.blasint(sh.n), C.blasint(sh.k), 1,
			(*C.float)(unsafe.Pointer(&a[0])), C.blasint(lda), (*C.float)(unsafe.Pointer(&b[0])), C.blasint(ldb),
			0, (*C.float)(unsafe.Pointer(&c2[0])), C.blasint(sh.n))
	}
	goCall()
	blasCall()
	var res result
	for i := range c1 {
		res.maxDiff = max(res.maxDiff, math.Abs(float64(c1[i]-c2[i])))
	}
	if res.maxDiff > 1e-3*float64(sh.k) {
		fmt.Fprintf(os.Stderr, "%s: results differ by %g\n", sh.name, res.maxDiff)
		os.Exit(1)
	}
	// Size rounds from one warm call of OpenBLAS, then use the same count
	// for both so each round compares equal work.
	t0 := time.Now()
	blasCall()
	iters := max(1, int(minTime/max(time.Since(t0), time.Microsecond)))
	flop := 2 * float64(sh.m) * float64(sh.n) * float64(sh.k) * float64(iters)
	var gw, bw, rw, gc, bc, rc []float64
	for rep := range reps {
		// Alternate which goes first, so neither always follows the other's
		// cache state or a burst of load from other processes.
		var g, bl [2]float64
		if rep%2 == 0 {
			g = timeIt(goCall, iters)
			bl = timeIt(blasCall, iters)
		} else {
			bl = timeIt(blasCall, iters)
			g = timeIt(goCall, iters)
		}
		gw, bw, rw = append(gw, flop/g[0]/1e9), append(bw, flop/bl[0]/1e9), append(rw, bl[0]/g[0])
		gc, bc, rc = append(gc, flop/g[1]/1e9), append(bc, flop/bl[1]/1e9), append(rc, bl[1]/g[1])
	}
	res.wall = speeds{median(gw), median(bw), median(rw)}
	res.cpu = speeds{median(gc), median(bc), median(rc)}
	return res
}

// timeIt returns the wall and thread-CPU seconds of iters calls of f.
func timeIt(f func(), iters int) [2]float64 {
	c0 := threadCPU()
	t0 := time.Now()
	for range iters {
		f()
	}
	return [2]float64{time.Since(t0).Seconds(), threadCPU() - c0}
}

func threadCPU() float64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return float64(ts.Sec) + float64(ts.Nsec)*1e-9
}

func median(x []float64) float64 {
	slices.Sort(x)
	return x[len(x)/2]
}
