package lab

import "github.com/synthloop/synthloop/internal/cputime"

// CPUSeconds is the user plus system CPU time this process has used (0 where
// the platform does not report it). Other engineers share the machine's
// cores, so the lab measures CPU, not wall time.
func CPUSeconds() float64 { return cputime.Process().Seconds() }
