//go:build amd64

package tensor

import "golang.org/x/sys/cpu"

var (
	avx512Kernels = &kernelSet{name: "avx512", mr: 14, nr: 32, mc: 168, kc: 256, nc: 4096, kern: kern14x32AVX512}
	avx2Kernels   = &kernelSet{name: "avx2", mr: 6, nr: 16, mc: 96, kc: 256, nc: 2048, kern: kern6x16AVX2}
)

func hasAVX512() bool { return cpu.X86.HasAVX512F && cpu.X86.HasAVX512DQ }
func hasAVX2() bool   { return cpu.X86.HasAVX2 && cpu.X86.HasFMA }

func availableKernels() []*kernelSet {
	var ks []*kernelSet
	if hasAVX512() {
		ks = append(ks, avx512Kernels)
	}
	if hasAVX2() {
		ks = append(ks, avx2Kernels)
	}
	return append(ks, genericKernels)
}

func pickKernels() *kernelSet { return availableKernels()[0] }
