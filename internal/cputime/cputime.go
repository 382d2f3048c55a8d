// Package cputime reads the process's CPU clock, for benchmarks that must
// tell their own work from time other processes held the cores.
package cputime

import "time"

// Process is the user plus system CPU time of the process so far, or 0
// where the platform does not report it.
func Process() time.Duration { return process() }
