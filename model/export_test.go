package model

import "time"

// SetEject shortens endpoint ejection for tests; it returns a func that
// restores the defaults.
func SetEject(base, ceiling time.Duration) func() {
	ob, om := ejectBase, ejectMax
	ejectBase, ejectMax = base, ceiling
	return func() { ejectBase, ejectMax = ob, om }
}
