// Package tensor holds the engine's dense float32 kernels (a packed SGEMM with
// AVX-512, AVX2 and portable microkernels, a transformer layer's row
// kernels, and decoding attention's per-head kernels) and the one worker
// pool they run on.
package tensor
