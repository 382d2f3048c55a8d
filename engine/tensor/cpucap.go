package tensor

import (
	"fmt"
	"os"
)

// CPUEnv names the environment variable that caps the instruction set the
// kernels use: "avx512" (the default where the CPU has it), "avx2" or
// "generic". Kernels of different widths sum in different orders, so a
// tiny model trained on an AVX-512 machine ends a few ulps away from the
// same model trained on an AVX2 one, and after hundreds of steps its
// samples differ. Setting the cap reproduces, bit for bit, figures measured
// on a machine with fewer instructions (BENCHMARKS.md says which CPU each
// was measured on). It is read once, when the program starts.
const CPUEnv = "SYNTHLOOP_CPU"

// cpuCap is the level CPUEnv allows: 2 any, 1 up to AVX2, 0 Go only.
var cpuCap = parseCPUCap(os.Getenv(CPUEnv))

func parseCPUCap(v string) int {
	switch v {
	case "", "avx512":
		return 2
	case "avx2":
		return 1
	case "generic":
		return 0
	}
	// Package initialisation cannot return an error, and running on other
	// kernels than asked would silently give other numbers.
	panic(fmt.Sprintf("tensor: %s=%q: want avx512, avx2 or generic", CPUEnv, v))
}

// CPU returns the name of the GEMM kernels in use ("avx512", "avx2" or
// "generic"), after CPUEnv's cap.
func CPU() string { return active.name }
