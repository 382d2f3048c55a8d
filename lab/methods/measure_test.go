package methods

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
)

// The measurements run each method at a size where its effect shows, a few
// CPU-minutes each, into -measure.dir (a fresh temporary directory when
// empty; a kept directory resumes):
//
//	go test ./lab/methods -run Measure -measure -v -timeout 0
var (
	measure    = flag.Bool("measure", false, "run the methods at measurement size")
	measureDir = flag.String("measure.dir", "", "run directory root for -measure (kept; resumes)")
)

func measureRoot(t *testing.T, name string) string {
	if !*measure {
		t.Skip("measurement: run with -measure")
	}
	if *measureDir == "" {
		return t.TempDir()
	}
	return filepath.Join(*measureDir, name)
}

func TestMeasureRFT(t *testing.T) {
	dir := measureRoot(t, "rft")
	cfg := RFTConfig{Task: task.Reverse{}, Seed: 1,
		Weak: Start{Arch: lab.Arch{Dim: 64, Layers: 2, Heads: 4, Hidden: 256, MaxSeq: 32}, Labels: 1000, MinDifficulty: 1, MaxDifficulty: 6,
			Train: TrainConfig{Steps: 500, Batch: 32, LR: 1e-3, Warmup: 25}},
		Rounds: 4, Problems: 2000, MinDifficulty: 1, MaxDifficulty: 6, K: 8, Temperature: 0.7,
		Train: TrainConfig{Steps: 300, Batch: 32, LR: 5e-4, Warmup: 15},
		Eval:  EvalConfig{Difficulties: []int{3, 4, 5, 6}, Problems: 50, Samples: 16, K: 8, Temperature: 0.7, Seed: 99},
		Log:   testLog(t)}
	cpu := lab.CPUSeconds()
	rs, err := RFT(context.Background(), dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	report(t, rs, lab.CPUSeconds()-cpu)
}

// report logs the rounds as JSON and a summary line each.
func report[R any](t *testing.T, rs []R, cpu float64) {
	for _, r := range rs {
		js, _ := json.Marshal(r)
		t.Logf("%s", js)
	}
	fmt.Fprintf(os.Stderr, "process CPU %.1f s\n", cpu)
}
