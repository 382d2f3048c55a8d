//go:build !amd64

package tensor

func availableKernels() []*kernelSet { return []*kernelSet{genericKernels} }

func pickKernels() *kernelSet { return genericKernels }
