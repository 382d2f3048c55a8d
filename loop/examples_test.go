package loop_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/synthloop/synthloop/loop"
	_ "github.com/synthloop/synthloop/loop/all"
	_ "github.com/synthloop/synthloop/stage/selfinstruct" // the stages the example pipelines use
)

// TestExamplesParse keeps the example loop files valid as the code changes.
func TestExamplesParse(t *testing.T) {
	files, _ := filepath.Glob("../examples/loop-*.yaml")
	if len(files) == 0 {
		t.Fatal("no loop examples found")
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := loop.ParseConfig(f, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
