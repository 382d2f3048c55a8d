//go:build !amd64

package tensor

func availableKernels() []*kernelSet { return []*kernelSet{genericKernels} }

func variantKernels() []*kernelSet { return availableKernels() }

func pickKernels() *kernelSet { return genericKernels }
