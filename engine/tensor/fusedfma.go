//go:build amd64.v3

package tensor

// goFusesFMA: built for GOAMD64=v3 or later, the Go compiler turns a·b + c
// into one fused multiply-add, so the Go loops round differently from the
// AVX2 kernels, which mirror the default build (AttnScores then leaves
// Dot's Go tail to Go).
const goFusesFMA = true
