//go:build unix

package lab

import "syscall"

// CPUSeconds is the user plus system CPU time this process has used. Other
// engineers share the machine's cores, so the lab measures CPU, not wall time.
func CPUSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}
