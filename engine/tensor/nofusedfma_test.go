//go:build !amd64.v3

package tensor

// goFusesFMA: see fusedfma_test.go.
const goFusesFMA = false
