package report_test

import (
	"fmt"
	"log"
	"os"
	"path/filepath"

	"github.com/synthloop/synthloop/report"
)

func ExampleWrite() {
	run := report.Run{
		Name:         "reverse addition, labels up to 8 digits",
		Metric:       "accuracy",
		LabelledUpTo: 8,
		Rounds: []report.Round{
			{Index: 1, Promoted: true, Reason: "beats the teacher by 0.13",
				Metrics:              map[string]float64{"accuracy": 0.74},
				AccuracyByDifficulty: map[int]float64{8: 0.99, 10: 0.95, 12: 0.61},
				Generated:            2000, Kept: 1530, CPUSeconds: 61.5},
			{Index: 2, Promoted: true, Reason: "beats the teacher by 0.12",
				Metrics:              map[string]float64{"accuracy": 0.86},
				AccuracyByDifficulty: map[int]float64{8: 1, 10: 0.98, 12: 0.93},
				Generated:            2000, Kept: 1388, CPUSeconds: 63.2},
		},
	}
	dir, err := os.MkdirTemp("", "report")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	files, err := report.Write(dir, run)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(filepath.Base(files.HTML))
	for _, p := range files.Plots {
		fmt.Println(filepath.Base(p))
	}
	for _, s := range files.Skipped {
		fmt.Println("not drawn:", s)
	}
	// Output:
	// report.html
	// accuracy-by-difficulty.png
	// filter-yield.png
	// metric.png
	// not drawn: Filtered run and unfiltered baseline: the run has no unfiltered baseline
}
