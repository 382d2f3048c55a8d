package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

func randSlice(r *rand.Rand, n int) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = r.Float32()*2 - 1
	}
	return x
}

// gemmCase builds operands with padded leading dimensions so that code
// reading past a row's end, or writing into C's padding, is caught.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int
	padC           int
}

func (tc gemmCase) run(t *testing.T, r *rand.Rand, impl func(bool, bool, int, int, int, float32, []float32, int, []float32, int, float32, []float32, int)) {
	t.Helper()
	ar, ac := tc.m, tc.k
	if tc.transA {
		ar, ac = tc.k, tc.m
	}
	br, bc := tc.k, tc.n
	if tc.transB {
		br, bc = tc.n, tc.k
	}
	lda, ldb, ldc := max(ac, 1)+tc.padA, max(bc, 1)+tc.padB, max(tc.n, 1)+tc.padC
	a := randSlice(r, max(ar*lda, 1))
	b := randSlice(r, max(br*ldb, 1))
	c := randSlice(r, max(tc.m*ldc, 1))
	if tc.beta == 0 && tc.alpha != 0 {
		// beta 0 must not read C: NaNs there must not leak out.
		for i := range tc.m {
			for j := range tc.n {
				c[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	want := append([]float32(nil), c...)
	sgemmNaive(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, want, ldc)
	impl(tc.transA, tc.transB, tc.m, tc.n, tc.k, tc.alpha, a, lda, b, ldb, tc.beta, c, ldc)
	// Summation order differs from the naive loop; the error of a float32
	// dot product of length k grows like k·eps·|a||b|.
	tol := float32(1e-5) * float32(tc.k+4) * (abs32(tc.alpha) + 1)
	for i := range tc.m {
		for j := range ldc {
			got, w := c[i*ldc+j], want[i*ldc+j]
			if j >= tc.n {
				if got != w && !(got != got && w != w) {
					t.Fatalf("%+v: padding C[%d,%d] changed to %v", tc, i, j, got)
				}
				continue
			}
			if !(abs32(got-w) <= tol) {
				t.Fatalf("%+v: C[%d,%d] = %v, want %v", tc, i, j, got, w)
			}
		}
	}
}

func abs32(x float32) float32 { return float32(math.Abs(float64(x))) }

var testSizes = []int{1, 2, 7, 15, 16, 17, 31, 33, 64, 100, 257}

var alphaBetas = [][2]float32{{1, 0}, {1, 1}, {-0.5, 2}, {2, 0.5}, {0, 1.5}, {1, -1}}

// withKernels runs f once per kernel this CPU can run, each also with tiny
// cache blocks so that every loop of the blocked driver (several kc, mc and
// nc blocks, edge tiles) runs on small matrices, and with A and B packed
// where they would be read in place and vice versa.
func withKernels(t *testing.T, f func(t *testing.T)) {
	for _, ks := range variantKernels() {
		for variant := range 3 {
			name := ks.name
			k2 := *ks
			switch variant {
			case 1:
				name += "/tinyblocks"
				k2.mc, k2.kc, k2.nc = 2*ks.mr, 5, 3*ks.nr
			case 2:
				// The other choice of packing A and B from the default's.
				name += "/flippacking"
				if k2.packAMinN > 64 {
					k2.packAMinN = 0
				} else {
					k2.packAMinN = 1 << 30
				}
				if k2.packBMinM > 64 {
					k2.packBMinM = 0
				} else {
					k2.packBMinM = 1 << 30
				}
			}
			t.Run(name, func(t *testing.T) {
				prev := active
				active = &k2
				defer func() { active = prev }()
				f(t)
			})
		}
	}
}

func TestSgemm(t *testing.T) {
	withKernels(t, func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		i := 0
		for _, ta := range []bool{false, true} {
			for _, tb := range []bool{false, true} {
				for im, m := range testSizes {
					for in, n := range testSizes {
						k := testSizes[(im+2*in+i)%len(testSizes)]
						ab := alphaBetas[i%len(alphaBetas)]
						i++
						gemmCase{ta, tb, m, n, k, ab[0], ab[1], i % 3, (i / 3) % 4, i % 5}.run(t, r, Sgemm)
					}
				}
			}
		}
	})
}

// TestSgemmThreads covers the split of C among workers, including more
// workers than the machine has cores and than there are micro-panels.
func TestSgemmThreads(t *testing.T) {
	defer SetThreads(Threads())
	r := rand.New(rand.NewPCG(3, 4))
	for _, threads := range []int{1, 2, 3, 7} {
		SetThreads(threads)
		withKernels(t, func(t *testing.T) {
			// The last two are split along k (see splitK) at two threads.
			for _, sh := range [][3]int{{300, 40, 90}, {40, 300, 90}, {130, 130, 130}, {1, 600, 64}, {600, 1, 64}, {40, 50, 1100}, {64, 63, 1100}} {
				for _, ta := range []bool{false, true} {
					for _, tb := range []bool{false, true} {
						gemmCase{ta, tb, sh[0], sh[1], sh[2], 0.75, 0.25, 0, 1, 2}.run(t, r, Sgemm)
					}
				}
			}
		})
	}
}

func TestSplitKChosen(t *testing.T) {
	for _, ks := range availableKernels() {
		if !splitK(64, 63, 1100, ks, 2) {
			t.Errorf("%s: 64×63×1100 is not split along k; TestSgemmThreads no longer covers split-k", ks.name)
		}
	}
}

// TestSgemmConcurrent calls Sgemm from several goroutines at once, so some
// find the pool busy and run alone; run it with -race.
func TestSgemmConcurrent(t *testing.T) {
	done := make(chan struct{})
	for g := range 4 {
		go func() {
			defer func() { done <- struct{}{} }()
			r := rand.New(rand.NewPCG(uint64(g), 9))
			for range 5 {
				gemmCase{false, true, 150, 140, 130, 1, 0, 0, 0, 0}.run(t, r, Sgemm)
			}
		}()
	}
	for range 4 {
		<-done
	}
}

func TestSgemmNested(t *testing.T) {
	Parallel(4, func(lo, hi int) {
		r := rand.New(rand.NewPCG(5, uint64(lo)))
		for range hi - lo {
			gemmCase{true, false, 200, 100, 150, 1, 1, 1, 1, 1}.run(t, r, Sgemm)
		}
	})
}

// TestSgemmNoAlloc checks both ways a call runs, on the pool and alone
// (inside Parallel), after warm-up.
func TestSgemmNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	r := rand.New(rand.NewPCG(9, 9))
	a, b := randSlice(r, 300*200), randSlice(r, 200*150)
	c1, c2 := make([]float32, 300*150), make([]float32, 300*150)
	run := func() {
		Sgemm(false, true, 300, 150, 200, 1, a, 200, b, 200, 0, c1, 150)
		Sgemm(true, false, 40, 50, 1100, 1, a, 40, a, 50, 0, c2, 50)    // split along k at 2 threads
		Sgemm(false, false, 1, 150, 200, 1, a, 200, b, 150, 0, c2, 150) // m = 1
	}
	alone := func(lo, hi int) {
		for range hi - lo {
			Sgemm(false, true, 64, 64, 32, 0.5, a, 32, b, 32, 0, c1[lo*64*64:], 64)
		}
	}
	for _, f := range []func(){run, func() { Parallel(4, alone) }} {
		f()
		if n := testing.AllocsPerRun(10, f); n != 0 {
			t.Errorf("Sgemm allocates %v times per run", n)
		}
	}
}

func TestSgemmPanics(t *testing.T) {
	for _, tc := range []struct {
		name string
		f    func()
	}{
		{"negative m", func() { Sgemm(false, false, -1, 1, 1, 1, nil, 1, nil, 1, 0, nil, 1) }},
		{"short A", func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 3), 2, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		}},
		{"small lda", func() {
			Sgemm(false, false, 2, 2, 2, 1, make([]float32, 4), 1, make([]float32, 4), 2, 0, make([]float32, 4), 2)
		}},
		{"short C", func() {
			Sgemm(true, true, 2, 2, 2, 1, make([]float32, 4), 2, make([]float32, 4), 2, 0, make([]float32, 3), 2)
		}},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: Sgemm did not panic", tc.name)
				}
			}()
			tc.f()
		}()
	}
}

func TestSgemmDegenerate(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	for _, tc := range []gemmCase{
		{false, false, 5, 6, 0, 1, 0, 0, 0, 1},
		{false, false, 5, 6, 0, 1, 0.5, 0, 0, 1},
		{true, true, 5, 6, 3, 0, 0, 0, 0, 1},
		{true, false, 5, 6, 3, 0, 2, 0, 0, 1},
	} {
		tc.run(t, r, Sgemm)
	}
	Sgemm(false, false, 0, 0, 5, 1, nil, 5, nil, 1, 0, nil, 1)
}

func FuzzSgemm(f *testing.F) {
	f.Add(uint16(7), uint16(33), uint16(31), uint8(0), uint64(1))
	f.Add(uint16(100), uint16(1), uint16(257), uint8(3), uint64(2))
	f.Fuzz(func(t *testing.T, m, n, k uint16, flags uint8, seed uint64) {
		m, n, k = m%300, n%300, k%300
		r := rand.New(rand.NewPCG(seed, 1))
		ab := alphaBetas[int(flags>>2)%len(alphaBetas)]
		tc := gemmCase{flags&1 != 0, flags&2 != 0, int(m), int(n), int(k), ab[0], ab[1], int(seed % 3), int(seed / 3 % 3), int(seed / 9 % 3)}
		for _, ks := range availableKernels() {
			prev := active
			active = ks
			tc.run(t, r, Sgemm)
			active = prev
		}
	})
}
