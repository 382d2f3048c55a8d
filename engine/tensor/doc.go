// Package tensor holds the engine's dense float32 kernels (a packed SGEMM with
// AVX-512, AVX2 and portable microkernels, and a transformer layer's row
// kernels) and the one worker pool they run on.
package tensor
