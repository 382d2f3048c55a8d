package methods

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
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

func rft(t *testing.T, baseline bool) RFTConfig {
	return RFTConfig{Task: task.Reverse{}, Seed: 1, Weak: weakReverse(),
		Rounds: 4, Problems: 2000, MinDifficulty: 1, MaxDifficulty: 6, K: 8, Temperature: 0.7,
		Train:    TrainConfig{Steps: 300, Batch: 32, LR: 5e-4, Warmup: 15},
		Baseline: baseline, Eval: reverseEval, Log: testLog(t)}
}

func TestMeasureRFT(t *testing.T) {
	dir := measureRoot(t, "rft")
	cpu := lab.CPUSeconds()
	rs, err := RFT(context.Background(), dir, rft(t, false))
	if err != nil {
		t.Fatal(err)
	}
	report(t, rs, lab.CPUSeconds()-cpu)
}

// The control: the same rounds and steps on the labels alone.
func TestMeasureRFTBaseline(t *testing.T) {
	dir := measureRoot(t, "rft-baseline")
	cpu := lab.CPUSeconds()
	rs, err := RFT(context.Background(), dir, rft(t, true))
	if err != nil {
		t.Fatal(err)
	}
	report(t, rs, lab.CPUSeconds()-cpu)
}

// weakReverse is the starting model of RFT and self-consistency: string
// reversal of 1 to 6 characters learnt from 1,000 labels in 500 steps, about
// 30% right greedily.
func weakReverse() Start {
	return Start{Arch: lab.Arch{Dim: 64, Layers: 2, Heads: 4, Hidden: 256, MaxSeq: 32}, Labels: 1000, MinDifficulty: 1, MaxDifficulty: 6,
		Train: TrainConfig{Steps: 500, Batch: 32, LR: 1e-3, Warmup: 25}}
}

var reverseEval = EvalConfig{Difficulties: []int{3, 4, 5, 6}, Problems: 100, Samples: 16, K: 8, Temperature: 0.7, Seed: 99}

// selfConsistency draws its unlabelled problems from difficulties 3 to 6:
// on 1 and 2 the weak model is already right and every pair would repeat
// its greedy answer, and a model trained on short problems alone forgets
// the long ones.
func selfConsistency(t *testing.T, nll float64) SelfConsistencyConfig {
	return SelfConsistencyConfig{Task: task.Reverse{}, Seed: 1, Start: weakReverse(),
		Rounds: 3, Problems: 4000, MinDifficulty: 3, MaxDifficulty: 6, K: 8, Temperature: 0.7, MinShare: 0.5,
		LengthFilter: true, CutRejected: true,
		Train: TrainConfig{Steps: 200, Batch: 16, LR: 5e-5, Warmup: 10, Beta: 0.1, NLL: nll, MaxEpochs: 4},
		Eval:  reverseEval, Log: testLog(t)}
}

func TestMeasureSelfConsistency(t *testing.T) {
	dir := measureRoot(t, "self-consistency")
	cpu := lab.CPUSeconds()
	rs, err := SelfConsistency(context.Background(), dir, selfConsistency(t, 1))
	if err != nil {
		t.Fatal(err)
	}
	report(t, rs, lab.CPUSeconds()-cpu)
}

// The same with plain DPO (trainjob's), to show what the NLL term prevents.
func TestMeasureSelfConsistencyPlainDPO(t *testing.T) {
	dir := measureRoot(t, "self-consistency-plain-dpo")
	cpu := lab.CPUSeconds()
	rs, err := SelfConsistency(context.Background(), dir, selfConsistency(t, 0))
	if err != nil {
		t.Fatal(err)
	}
	report(t, rs, lab.CPUSeconds()-cpu)
}

func TestMeasureDistill(t *testing.T) {
	dir := measureRoot(t, "distill")
	cfg := DistillConfig{Task: task.Reverse{}, Seed: 1,
		Teacher: Start{Arch: lab.Arch{Dim: 128, Layers: 2, Heads: 4, Hidden: 512, MaxSeq: 32}, Labels: 20000, MinDifficulty: 1, MaxDifficulty: 6,
			Train: TrainConfig{Steps: 2500, Batch: 32, LR: 1e-3, Warmup: 100}},
		Student: lab.Arch{Dim: 64, Layers: 2, Heads: 4, Hidden: 224, MaxSeq: 32},
		Rounds:  2, Problems: 10000, MinDifficulty: 1, MaxDifficulty: 6,
		Train: TrainConfig{Steps: 1500, Batch: 32, LR: 2e-3, Warmup: 75},
		Eval:  reverseEval, Log: testLog(t)}
	cpu := lab.CPUSeconds()
	rs, err := Distill(context.Background(), dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	report(t, rs, lab.CPUSeconds()-cpu)
}

// report prints the rounds as a markdown table, and as JSON to the test
// log.
func report[R any](t *testing.T, rs []R, cpu float64) {
	for _, r := range rs {
		js, _ := json.Marshal(r)
		t.Logf("%s", js)
	}
	var b strings.Builder
	switch rs := any(rs).(type) {
	case []RFTRound:
		k := rs[0].Eval.K
		fmt.Fprintf(&b, "| round | greedy accuracy | pass@1 | pass@%d | verified samples | solved problems | kept | trained on | CPU s |\n|---|---|---|---|---|---|---|---|---|\n", k)
		for _, r := range rs {
			if r.Index == 0 {
				fmt.Fprintf(&b, "| 0 | %.3f | %.3f | %.3f | | | %d labels | %d | %.1f |\n", r.Eval.Accuracy, r.Eval.PassAt1, r.Eval.PassAtK, r.Examples, r.Trained, r.CPUSeconds)
				continue
			}
			fmt.Fprintf(&b, "| %d | %.3f | %.3f | %.3f | %d / %d | %d / %d | %d | %d | %.1f |\n", r.Index, r.Eval.Accuracy, r.Eval.PassAt1, r.Eval.PassAtK,
				r.Correct, r.Samples, r.Solved, r.Problems, r.Examples, r.Trained, r.CPUSeconds)
		}
	case []SelfConsistencyRound:
		k := rs[0].Eval.K
		fmt.Fprintf(&b, "| round | greedy accuracy | pass@1 | pass@%d | majority | pairs / problems | chosen right | rejected wrong | chosen = greedy | dropped: tie, no majority, unanimous, no answer | CPU s |\n|---|---|---|---|---|---|---|---|---|---|---|\n", k)
		for _, r := range rs {
			if r.Index == 0 {
				fmt.Fprintf(&b, "| 0 | %.3f | %.3f | %.3f | %.3f | | | | | | %.1f |\n", r.Eval.Accuracy, r.Eval.PassAt1, r.Eval.PassAtK, r.Eval.Majority, r.CPUSeconds)
				continue
			}
			fmt.Fprintf(&b, "| %d | %.3f | %.3f | %.3f | %.3f | %d / %d | %.3f | %.3f | %.3f | %d, %d, %d, %d | %.1f |\n", r.Index, r.Eval.Accuracy, r.Eval.PassAt1, r.Eval.PassAtK,
				r.Eval.Majority, r.Examples, r.Problems, r.ChosenRight, r.RejectedWrong, r.ChosenGreedy,
				r.Drops[Tie], r.Drops[NoMajority], r.Drops[Unanimous], r.Drops[NoAnswer], r.CPUSeconds)
		}
	case []DistillRound:
		fmt.Fprintf(&b, "| round | model | parameters | ratio | accuracy | of the teacher's | teacher labels right | labels (trained on) | CPU s |\n|---|---|---|---|---|---|---|---|---|\n")
		for _, r := range rs {
			who := "student"
			if r.Index == 0 {
				who = "teacher"
			}
			labels := fmt.Sprintf("%.3f", r.LabelAccuracy)
			if r.Index == 0 {
				labels = "(true labels)"
			}
			fmt.Fprintf(&b, "| %d | %s | %d | %.3f | %.3f | %.3f | %s | %d (%d) | %.1f |\n", r.Index, who, r.Params, r.ParamRatio, r.Eval.Accuracy, r.Relative,
				labels, r.Examples, r.Trained, r.CPUSeconds)
		}
	}
	fmt.Fprintf(os.Stderr, "%s\nprocess CPU %.1f s (user+sys)\n", b.String(), cpu)
}
