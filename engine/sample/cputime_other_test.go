//go:build !unix

package sample

import "time"

// cpuTime is not measured here; the tokens/cpu-s metric is then meaningless.
func cpuTime() time.Duration { return 0 }
