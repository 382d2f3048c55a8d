package tensor

import "fmt"

// Sgemm computes C = alpha·op(A)·op(B) + beta·C on row-major matrices, with
// the argument order and meaning of cblas_sgemm(CblasRowMajor, ...).
//
// op(A) is m×k: A is stored m×k (lda ≥ k) when transA is false and k×m
// (lda ≥ m) when it is true. op(B) is k×n: B is stored k×n (ldb ≥ n) when
// transB is false and n×k (ldb ≥ k) when it is true. C is m×n with ldc ≥ n.
// When beta is 0, C is not read, so it may hold NaNs or garbage.
//
// Sgemm runs on the package's worker pool (see SetThreads) and does not
// allocate after warm-up. It is safe to call from several goroutines at once;
// a call that finds the pool busy runs on its caller's goroutine alone rather
// than wait, so calling Sgemm from inside Parallel cannot deadlock.
// It panics if a dimension is negative or a slice is too short.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkGemm(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}
	sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

// checkGemm panics, as a BLAS would report via xerbla, on arguments that
// would read or write out of bounds; the kernels then index without checks.
func checkGemm(transA, transB bool, m, n, k int, a []float32, lda int, b []float32, ldb int, c []float32, ldc int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("tensor: Sgemm: negative dimension m=%d n=%d k=%d", m, n, k))
	}
	ar, ac := m, k
	if transA {
		ar, ac = k, m
	}
	br, bc := k, n
	if transB {
		br, bc = n, k
	}
	checkMat("A", a, ar, ac, lda)
	checkMat("B", b, br, bc, ldb)
	checkMat("C", c, m, n, ldc)
}

func checkMat(name string, x []float32, rows, cols, ld int) {
	if ld < max(cols, 1) {
		panic(fmt.Sprintf("tensor: Sgemm: ld%s=%d < %d columns", name, ld, cols))
	}
	if rows == 0 || cols == 0 {
		return
	}
	if need := (rows-1)*ld + cols; len(x) < need {
		panic(fmt.Sprintf("tensor: Sgemm: len(%s)=%d < %d needed for %d×%d with ld %d", name, len(x), need, rows, cols, ld))
	}
}

// scaleC sets C = beta·C, writing zeros (not 0·C, which keeps NaNs) when
// beta is 0, as BLAS does.
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := range m {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}
