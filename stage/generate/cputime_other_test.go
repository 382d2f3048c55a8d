//go:build !unix

package generate_test

import "time"

// cpuTime is not measured here; the records/cpu-s metric is then meaningless.
func cpuTime() time.Duration { return 0 }
