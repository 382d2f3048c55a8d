package main

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
)

// TestDemoPipelinesParse keeps the pipelines embedded for `synthloop demo`
// valid as the code changes. The files in examples/ are checked by the all
// package's tests, which import the library only.
func TestDemoPipelinesParse(t *testing.T) {
	files, err := filepath.Glob("demo/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no demo pipelines found: %v", err)
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pipeline.ParseConfig(f, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
