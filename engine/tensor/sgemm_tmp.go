package tensor

// sgemm is temporary: the packed implementation replaces it.
func sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	sgemmNaive(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
}

type gemmJob struct{}

func (*gemmJob) runPart(int, *workspace) {}

type workspace struct{}

func newWorkspace() *workspace { return &workspace{} }
