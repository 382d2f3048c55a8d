package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/report"
)

// demoPreset is the lab configuration `synthloop demo` runs; see
// lab/presets.go and BENCHMARKS.md for what it measured.
const demoPreset = "demo"

func newDemoCmd() *cobra.Command {
	var (
		runDir     string
		jsonProg   bool
		noBaseline bool
		set        string
		preset     string
	)
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch a model teach itself: offline self-improvement on a verifiable task, with an HTML report",
		Long: `Run the self-learning loop offline on this machine, with nothing to download and no API key.

A small transformer (the built-in engine, no positional encoding, one token per character) is
trained on true labels for easy problems only: by default, copying strings of 1 to 6 characters.
Then, round after round, the model labels problems one step harder (one character longer) than
anything it has seen, its labels are filtered without looking at any answer
key (the length filter and a majority vote across models trained from different seeds, as in
Lee et al., 2025), and training continues on them, the newest round drawn half the time. Held-out
accuracy on the harder problems is measured after every round with the exact verifier, which is
never used to choose training data.

The same run without the filter (every self-made label kept) runs second, as the baseline that
shows the error avalanche.

It prints a table per round as it goes and writes into the run directory:
  report.html and PNG plots   accuracy by difficulty per round, filtered vs unfiltered, filter yield
  filtered/round-NN/          each round's training data (data.jsonl), labels with the voters'
                              answers (labels.jsonl) and model (model/, servable)
  unfiltered/round-NN/        the same for the baseline

Run it again with the same --run-dir and it resumes after the last finished round. Serve the final
model with 'synthloop serve RUN_DIR/filtered/round-NN/model'.

'synthloop demo selfinstruct' is the Self-Instruct pipeline demo against a scripted stand-in teacher.`,
		Example: `  synthloop demo
  synthloop demo --run-dir runs/demo2 --no-baseline
  synthloop demo selfinstruct --lang ja`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, ok := lab.Presets[preset]
			if !ok {
				return fmt.Errorf("%w: --preset %q: want one of %s", errUsage, preset, strings.Join(presetNames(), ", "))
			}
			if set != "" {
				if err := json.Unmarshal([]byte(set), &cfg); err != nil {
					return fmt.Errorf("%w: --set: %v", errUsage, err)
				}
			}
			if runDir == "" {
				runDir = filepath.Join("runs", "demo")
			}
			return runSelfPlayDemo(cmd, preset, cfg, runDir, !noBaseline, jsonProg)
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory (default runs/demo)")
	cmd.Flags().BoolVar(&jsonProg, "json", false, "report progress as JSON lines even on a terminal")
	cmd.Flags().BoolVar(&noBaseline, "no-baseline", false, "skip the unfiltered baseline run")
	cmd.Flags().StringVar(&set, "set", "", "JSON merged over the demo's lab configuration, e.g. '{\"rounds\":2}'")
	cmd.Flags().MarkHidden("set")
	cmd.Flags().StringVar(&preset, "preset", demoPreset, "lab configuration to run: "+strings.Join(presetNames(), ", "))
	cmd.AddCommand(newDemoSelfInstructCmd())
	return cmd
}

func presetNames() []string {
	var out []string
	for n := range lab.Presets {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func runSelfPlayDemo(cmd *cobra.Command, preset string, cfg lab.Config, runDir string, baseline, jsonProg bool) error {
	ctx := cmd.Context()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	tty := !jsonProg && isTerminal(errOut)
	prog := &loopProgress{w: errOut, tty: tty, interval: time.Second}
	if tty {
		prog.interval = 200 * time.Millisecond
	}
	defer prog.clear()

	fmt.Fprintf(out, "synthloop demo: %s, true labels for difficulty %d–%d only; %d rounds of self-labelling, %d problems per round, %d voter(s); run directory %s\n\n",
		cfg.Task, cfg.LabelMin, cfg.LabelMax, cfg.Rounds, cfg.Label, cfg.Models*max(cfg.Filter.Samples, 1), runDir)

	fdir, udir := filepath.Join(runDir, "filtered"), filepath.Join(runDir, "unfiltered")
	arms := []struct {
		name, title, dir string
		run              func(lab.Observer) (lab.Result, error)
	}{
		{"filtered", "with the filter (length + majority vote)", fdir,
			func(o lab.Observer) (lab.Result, error) { return lab.SelfImprove(ctx, fdir, cfg, o) }},
	}
	if baseline {
		arms = append(arms, struct {
			name, title, dir string
			run              func(lab.Observer) (lab.Result, error)
		}{"unfiltered", "baseline without the filter (every self-made label kept)", udir,
			func(o lab.Observer) (lab.Result, error) { return lab.Baseline(ctx, udir, fdir, cfg, o) }})
	}
	results := map[string]lab.Result{}
	for _, arm := range arms {
		fmt.Fprintf(out, "== %s\n", arm.title)
		tab := newDemoTable(out, cfg)
		res, err := arm.run(func(e lab.Event) {
			if e.Phase == "done" {
				prog.clear()
				tab.row(e.Result)
				return
			}
			prog.event(loop.Event{Round: e.Round, Step: e.Phase, Done: e.Done, Total: e.Total})
		})
		prog.clear()
		if err != nil {
			if errors.Is(err, context.Canceled) {
				return fmt.Errorf("%w: demo interrupted; run the same command again to resume", errStopped)
			}
			return fmt.Errorf("demo: %s: %w", arm.name, err)
		}
		results[arm.name] = res
		fmt.Fprintf(out, "%s: %.1f CPU-seconds, final model %s\n\n", arm.name, res.CPUSeconds, res.Model)
	}

	run := demoReport(preset, cfg, results["filtered"], results["unfiltered"], baseline)
	if err := report.Save(filepath.Join(runDir, report.RunFile), run); err != nil {
		return err
	}
	files, err := report.Write(runDir, run)
	if err != nil {
		return err
	}
	f := results["filtered"]
	if len(f.Rounds) > 0 {
		first, last := f.Rounds[0], f.Rounds[len(f.Rounds)-1]
		fmt.Fprintf(out, "held-out accuracy above difficulty %d: %.1f%% after the labelled round → %.1f%% after round %d",
			cfg.LabelMax, 100*meanAbove(first.Accuracy, cfg.LabelMax), 100*meanAbove(last.Accuracy, cfg.LabelMax), last.Round)
		if u, ok := results["unfiltered"]; ok && len(u.Rounds) > 0 {
			fmt.Fprintf(out, " (unfiltered: %.1f%%)", 100*meanAbove(u.Rounds[len(u.Rounds)-1].Accuracy, cfg.LabelMax))
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "report: %s\n", files.HTML)
	fmt.Fprintf(out, "next:   synthloop serve %s\n", f.Model)
	fmt.Fprintf(out, "        synthloop train --init %s --data %s --out my-model   # keep training on the last round's data\n",
		f.Model, filepath.Join(filepath.Dir(f.Model), lab.DataFile))
	return nil
}

// meanAbove is the mean accuracy over the difficulties above labelled.
func meanAbove(ps []lab.Point, labelled int) float64 {
	sum, n := 0.0, 0
	for _, p := range ps {
		if p.Difficulty > labelled {
			sum += p.Accuracy
			n++
		}
	}
	if n == 0 {
		return 0
	}
	return sum / float64(n)
}

// demoTable prints one row per finished round.
type demoTable struct {
	w      io.Writer
	cfg    lab.Config
	header bool
}

func newDemoTable(w io.Writer, cfg lab.Config) *demoTable { return &demoTable{w: w, cfg: cfg} }

func (t *demoTable) row(r *lab.RoundResult) {
	const cols = "%5s %10s %8s %6s %6s %10s %7s %7s  "
	if !t.header {
		fmt.Fprintf(t.w, cols, "round", "difficulty", "labelled", "kept", "yield", "kept right", "loss", "CPU s")
		fmt.Fprint(t.w, "held-out accuracy % at difficulty")
		for _, d := range t.cfg.Eval {
			fmt.Fprintf(t.w, " %3d", d)
		}
		fmt.Fprintln(t.w)
		t.header = true
	}
	labelled, yield, right := "-", "-", "-"
	if r.Labels > 0 {
		labelled = fmt.Sprint(r.Labels)
		yield = fmt.Sprintf("%.0f%%", 100*r.Yield)
		right = fmt.Sprintf("%.0f%%", 100*r.KeptCorrect)
	}
	fmt.Fprintf(t.w, cols, fmt.Sprint(r.Round), spanOf(r.Difficulties), labelled, fmt.Sprint(r.Kept), yield, right,
		fmt.Sprintf("%.3f", r.Train.LastLoss), fmt.Sprintf("%.1f", r.CPUSeconds))
	fmt.Fprintf(t.w, "%33s", "")
	for _, p := range r.Accuracy {
		fmt.Fprintf(t.w, " %3.0f", 100*p.Accuracy)
	}
	switch {
	case r.CopiedFrom != "":
		fmt.Fprint(t.w, "  (shared with the filtered run)")
	case r.Resumed:
		fmt.Fprint(t.w, "  (finished earlier)")
	}
	fmt.Fprintln(t.w)
}

func spanOf(ds []int) string {
	switch len(ds) {
	case 0:
		return "-"
	case 1:
		return fmt.Sprint(ds[0])
	}
	return fmt.Sprintf("%d-%d", ds[0], ds[len(ds)-1])
}

// demoReport turns the two lab runs into the report's input.
func demoReport(preset string, cfg lab.Config, filtered, unfiltered lab.Result, baseline bool) report.Run {
	js, _ := json.Marshal(cfg.Filter)
	run := report.Run{
		Name:   "synthloop demo",
		Config: "built-in lab preset " + preset,
		Description: fmt.Sprintf("Label-free self-improvement (Lee et al., 2025) on %s: true labels for difficulty %d–%d, "+
			"then each round the models label %d problems one step harder, the labels are filtered (length and majority vote), "+
			"and training continues with the newest round drawn half the time. The unfiltered baseline keeps every label.",
			cfg.Task, cfg.LabelMin, cfg.LabelMax, cfg.Label),
		Settings: map[string]string{
			"task":        cfg.Task,
			"model":       fmt.Sprintf("%d layers, d=%d, %d heads, MLP %d, no positional encoding, char tokens", cfg.Arch.Layers, cfg.Arch.Dim, cfg.Arch.Heads, cfg.Arch.Hidden),
			"voters":      fmt.Sprintf("%d models × %d samples", cfg.Models, max(cfg.Filter.Samples, 1)),
			"filter":      string(js),
			"labelled":    fmt.Sprintf("%d–%d (%d problems)", cfg.LabelMin, cfg.LabelMax, cfg.Supervised),
			"per round":   fmt.Sprintf("%d problems labelled, %d steps (newest %.0f%%)", cfg.Label, cfg.Train.Steps, 100*cfg.Train.Newest),
			"evaluation":  fmt.Sprintf("%d held-out problems per difficulty, greedy, exact match", cfg.EvalCount),
			"seed":        fmt.Sprint(cfg.Seed),
			"round 0 run": fmt.Sprintf("%d steps", cfg.Pretrain.Steps),
		},
		Metric:       "accuracy_above_labelled",
		LabelledUpTo: cfg.LabelMax,
		Teacher:      filtered.Model,
		Stopped:      "rounds",
	}
	base := map[int]lab.RoundResult{}
	for _, r := range unfiltered.Rounds {
		base[r.Round] = r
	}
	for _, r := range filtered.Rounds {
		acc := byDifficulty(r.Accuracy)
		score := meanAbove(r.Accuracy, cfg.LabelMax)
		rr := report.Round{
			Index:                r.Round,
			Status:               "done",
			Student:              filepath.Join(lab.RoundDir(filtered.Dir, r.Round), "model"),
			Promoted:             true,
			Reason:               "labels the next round (self-improvement keeps every round's model)",
			Score:                score,
			Metrics:              map[string]float64{"accuracy_above_labelled": score, "kept_correct": r.KeptCorrect},
			AccuracyByDifficulty: acc,
			Generated:            r.Labels,
			Kept:                 r.Kept,
			Data:                 filepath.Join(lab.RoundDir(filtered.Dir, r.Round), lab.DataFile),
			TrainSteps:           r.Train.Steps,
			FirstLoss:            r.Train.FirstLoss,
			TrainLoss:            r.Train.LastLoss,
			CPUSeconds:           r.CPUSeconds,
		}
		if r.Round == 0 {
			rr.Reason = "trained on true labels"
			rr.Generated, rr.Kept = r.Kept, r.Kept
		}
		if b, ok := base[r.Round]; ok && baseline {
			bs := meanAbove(b.Accuracy, cfg.LabelMax)
			rr.Baseline = &report.Baseline{Score: bs, Metrics: map[string]float64{"accuracy_above_labelled": bs}, AccuracyByDifficulty: byDifficulty(b.Accuracy)}
		}
		run.Rounds = append(run.Rounds, rr)
	}
	slices.SortFunc(run.Rounds, func(a, b report.Round) int { return a.Index - b.Index })
	return run
}

func byDifficulty(ps []lab.Point) map[int]float64 {
	m := make(map[int]float64, len(ps))
	for _, p := range ps {
		m[p.Difficulty] = p.Accuracy
	}
	return m
}
