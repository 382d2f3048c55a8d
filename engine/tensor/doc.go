// Package tensor holds the engine's dense float32 kernels: a packed SGEMM with
// AVX-512 and AVX2 microkernels and a portable fallback.
package tensor
