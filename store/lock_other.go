//go:build !unix

package store

// lockDir is a no-op where flock is unavailable: there, keeping two writers
// off one run is left to the user.
func lockDir(dir string) (release func() error, err error) {
	return func() error { return nil }, nil
}
