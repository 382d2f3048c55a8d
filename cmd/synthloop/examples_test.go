package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
)

// TestExamplesParse keeps every example pipeline valid as the code changes.
func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../../examples/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no examples found: %v", err)
	}
	demo, _ := filepath.Glob("demo/*.yaml")
	for _, f := range append(files, demo...) {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pipeline.ParseConfig(f, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
