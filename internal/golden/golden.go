// Package golden compares what a test produced with a file kept beside it, and rewrites the file when the test runs with -update.
package golden

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

// One flag for every test binary that imports this package: a second
// registration of "update" would panic, so packages must not declare their own.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// Update reports whether the test run was asked to rewrite golden files.
func Update() bool { return *update }

// File compares got with the file at path; with -update it writes got there
// (creating the directory) and compares nothing.
func File(t testing.TB, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s changed; rerun with -update if intended.\n--- got ---\n%s\n--- want ---\n%s", path, got, want)
	}
}

// Text compares got with testdata/NAME.golden, the layout the prompt tests use.
func Text(t testing.TB, name, got string) {
	t.Helper()
	File(t, filepath.Join("testdata", name+".golden"), []byte(got))
}
