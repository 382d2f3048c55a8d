//go:build !unix

package chat

import "time"

// cpuTime is not measured here; the tokens/cpu-s metric is then meaningless.
func cpuTime() time.Duration { return 0 }
