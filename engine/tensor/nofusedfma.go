//go:build !amd64.v3

package tensor

// goFusesFMA: see fusedfma.go.
const goFusesFMA = false
