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
	lda, ldb, ldc := ac+tc.padA, bc+tc.padB, tc.n+tc.padC
	a := randSlice(r, max(ar*lda, 1))
	b := randSlice(r, max(br*ldb, 1))
	c := randSlice(r, max(tc.m*ldc, 1))
	if tc.beta == 0 {
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

func TestSgemmSmoke(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, ta := range []bool{false, true} {
		for _, tb := range []bool{false, true} {
			for _, m := range []int{1, 7, 33} {
				for _, n := range []int{1, 17, 64} {
					for _, k := range []int{1, 31, 100} {
						gemmCase{ta, tb, m, n, k, 1.5, 0.5, 1, 2, 3}.run(t, r, Sgemm)
					}
				}
			}
		}
	}
}
