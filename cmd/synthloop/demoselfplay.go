package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/examples"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/report"
)

// labDemo is a demo that runs a built-in loop file: its flags and its run.
type labDemo struct {
	name, dir                                string // the loop file; the default run directory
	runDir, set                              string
	jsonProg, noBaseline, change, sequential bool
}

// bind adds the demo's flags to cmd; baseline says what --no-baseline skips.
func (d *labDemo) bind(cmd *cobra.Command, baseline string) {
	cmd.Flags().StringVar(&d.runDir, "run-dir", "", "run directory (default "+d.dir+")")
	cmd.Flags().BoolVar(&d.jsonProg, "json", false, "report progress as JSON lines even on a terminal")
	cmd.Flags().BoolVar(&d.noBaseline, "no-baseline", false, "skip the "+baseline+" run")
	cmd.Flags().StringVar(&d.set, "set", "", "YAML (or JSON) merged over the demo's loop file; null removes a key")
	cmd.Flags().BoolVar(&d.change, "allow-config-change", false, "resume a run directory started with other --set or --no-baseline flags")
	cmd.Flags().BoolVar(&d.sequential, "sequential-baseline", false, sequentialHelp)
}

func (d *labDemo) run(cmd *cobra.Command, _ []string) error {
	cfg, err := demoConfig(d.name, d.set, d.noBaseline)
	if err != nil {
		return err
	}
	if d.runDir == "" {
		d.runDir = d.dir
	}
	return runLabDemo(cmd, cfg, d.name, d.runDir, d.jsonProg, d.change, d.sequential)
}

func newDemoCmd() *cobra.Command {
	d := &labDemo{name: examples.Demo, dir: filepath.Join("runs", "demo")}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch a model teach itself: offline self-improvement on a verifiable task, with an HTML report",
		Long: `Run the self-learning loop offline on this machine, with nothing to download and no API key.

The demo is the loop file examples/` + examples.Demo + `, built into the binary:
'synthloop demo' runs what 'synthloop loop examples/` + examples.Demo + `' runs.

A small transformer (the built-in engine, no positional encoding, one token per character) is
trained on true labels for easy problems only: copying strings of 1 to 6 characters. Then,
round after round, five models trained from different seeds label strings one character longer
than anything they have seen; their labels are filtered without looking at any answer key (the
length filter and a majority vote across the five models, as in Lee et al., 2025), and training
continues on them, the newest round drawn half the time. Held-out accuracy by length is measured
after every round with the exact verifier, which never chooses training data.

The same loop without the filter (every self-made label of one model kept) runs second, from the
same labelled first round, as the baseline that shows the error avalanche.

It prints a table per round as it goes and writes into the run directory:
  report.html and PNG plots   accuracy by length per round, filtered vs unfiltered, filter yield
  round-NNN/                  each round's data (data.jsonl), labels with every voter's answer
                              (labels.jsonl), and models (student/ and its voters, servable)
  baseline/round-NNN/         the same for the baseline

Run it again with the same --run-dir and it resumes where it stopped. Serve the final model with
'synthloop serve RUN_DIR/round-NNN/student'.

'synthloop demo selfinstruct' is the Self-Instruct pipeline demo against a scripted stand-in teacher.`,
		Example: `  synthloop demo
  synthloop demo --run-dir runs/demo2 --no-baseline
  synthloop demo --set '{rounds: 3}'          # change the loop file's settings
  synthloop demo selfinstruct --lang ja`,
		Args: cobra.NoArgs,
		RunE: d.run,
	}
	d.bind(cmd, "unfiltered baseline")
	cmd.AddCommand(newDemoSelfInstructCmd(), newDemoReasoningCmd())
	return cmd
}

func newDemoReasoningCmd() *cobra.Command {
	d := &labDemo{name: examples.DemoReasoning, dir: filepath.Join("runs", "demo-reasoning")}
	cmd := &cobra.Command{
		Use:   "reasoning",
		Short: "Watch reinforcement learning from a verifier: GRPO on long multiplication, offline, with an HTML report",
		Long: `Run reinforcement learning with verifiable rewards offline on this machine, with nothing to
download and no API key.

The demo is the loop file examples/` + examples.DemoReasoning + `, built into the binary:
'synthloop demo reasoning' runs what 'synthloop loop examples/` + examples.DemoReasoning + `' runs.

The task is long multiplication with the working written out: "21*43=" (12 × 34, digits least
significant first) is answered with each partial product, each running sum, '#' and the product.
Round 1 trains a small transformer (the built-in engine) on 1,000 worked examples of 1 to 3 digits.
Then each round runs GRPO on 3-digit problems: the model answers each problem 16 times, the exact
verifier rewards an answer 1 when its final product is right (the working is never checked), and
the answers better than their group's mean are made more likely, the others less. Only groups with
both right and wrong answers are kept (dynamic sampling). Beside that policy term, a cross-entropy
term trains on the verified answers, on verified answers of earlier steps and on round 1's worked
examples replayed (so the 1- and 2-digit sizes no prompt asks for are not forgotten). No answer key
of a GRPO problem is ever shown to the model: the verifier is the only reward.

After every round, held-out problems of 1 to 3 digits are answered greedily and 8 times at
temperature 1: accuracy by size, pass@1 and pass@8 at 3 digits. The same rounds with rejection
sampling fine-tuning (RFT: sample, keep the verified answers, train on them) run from the same
round 1 as the baseline: beside the GRPO rounds in a second process on 2 or more CPUs (its table
is printed second), after them with --sequential-baseline; the results are the same.

It writes report.html and PNG plots into the run directory; run it again with the same --run-dir
and it resumes where it stopped.`,
		Example: `  synthloop demo reasoning
  synthloop demo reasoning --no-baseline
  synthloop demo reasoning --set '{rounds: 4}'`,
		Args: cobra.NoArgs,
		RunE: d.run,
	}
	d.bind(cmd, "RFT baseline")
	return cmd
}

// demoConfig is the built-in loop file name with set merged in.
func demoConfig(name, set string, noBaseline bool) (*loop.Config, error) {
	data, err := examples.FS.ReadFile(name)
	if err != nil {
		return nil, err
	}
	cfg, err := loop.ParseConfig(filepath.Join("examples", name), data)
	if err != nil {
		return nil, err
	}
	over := map[string]any{}
	if set != "" {
		if err := yaml.Unmarshal([]byte(set), &over); err != nil {
			return nil, fmt.Errorf("%w: --set: %v", errUsage, err)
		}
	}
	if noBaseline {
		over["baseline"] = nil
	}
	if len(over) == 0 {
		return cfg, nil
	}
	cfg, err = cfg.With(over)
	if err != nil {
		return nil, fmt.Errorf("%w: --set: %v", errUsage, err)
	}
	return cfg, nil
}

// demoHeaders heads the main run's table, above the baseline's.
var demoHeaders = map[string]string{
	examples.Demo:          "with the filter",
	examples.DemoReasoning: "GRPO",
}

// runLabDemo runs the built-in loop file name, configured as cfg, and
// writes its report.
func runLabDemo(cmd *cobra.Command, cfg *loop.Config, name, runDir string, jsonProg, allowChange, sequential bool) error {
	ctx := cmd.Context()
	out, errOut := cmd.OutOrStdout(), cmd.ErrOrStderr()
	prog := newLoopProgress(errOut, jsonProg)
	defer prog.clear()

	fmt.Fprintf(out, "synthloop demo: %s\nloop file examples/%s; run directory %s\n\n", cfg.Description, name, runDir)
	fmt.Fprintln(out, "== "+demoHeaders[name])
	started := time.Now()
	tab := &labTable{w: out, since: started}
	sum, err := loop.Run(ctx, cfg, loop.Options{
		RunDir:   runDir,
		Progress: prog.event,
		OnRound:  func(r loop.RoundSummary) { prog.clear(); tab.row(r) },
		OnBaseline: func(title string) {
			prog.clear()
			fmt.Fprintf(out, "\n== baseline: %s\n", title)
			tab = &labTable{w: out, since: started, shared: "(shared with the filtered run)"}
		},
		Getenv:            os.Getenv,
		AllowConfigChange: allowChange,
		BaselineCommand:   baselineCommand(sequential),
	})
	prog.clear()
	if err != nil {
		if errors.Is(err, loop.ErrStopped) {
			return fmt.Errorf("%w: demo interrupted; run the same command again to resume", errStopped)
		}
		return fmt.Errorf("demo: %w", err)
	}
	run, err := report.Load(filepath.Join(runDir, report.SummaryFile))
	if err != nil {
		return err
	}
	files, err := report.Write(runDir, run)
	if err != nil {
		return err
	}
	fmt.Fprintln(out)
	if first, last := sum.Rounds[0], lastEvaluated(sum); run.LabelledUpTo > 0 {
		before, _ := run.HarderMean(first.AccuracyByDifficulty)
		after, _ := run.HarderMean(last.AccuracyByDifficulty)
		fmt.Fprintf(out, "held-out accuracy above difficulty %d: %.1f%% after the labelled round → %.1f%% after round %d",
			run.LabelledUpTo, 100*before, 100*after, last.Index)
		if b := sum.Baseline; b != nil && len(b.Rounds) > 0 {
			bl := lastEvaluated(b)
			mean, _ := run.HarderMean(bl.AccuracyByDifficulty)
			fmt.Fprintf(out, " (unfiltered: %.1f%% after round %d)", 100*mean, bl.Index)
		}
		fmt.Fprintln(out)
	}
	passHeadline(out, sum)
	cpu := sum.CPUSeconds
	if sum.Baseline != nil {
		for _, r := range sum.Baseline.Rounds {
			if !r.Shared { // counted in the filtered run
				cpu += r.CPUSeconds
			}
		}
	}
	fmt.Fprintf(out, "%.1f CPU-seconds in all rounds of both runs\n", cpu)
	fmt.Fprintf(out, "report: %s\n", files.HTML)
	if m := finalModel(sum); m != "" {
		fmt.Fprintf(out, "next:   synthloop serve %s\n", m)
	}
	return nil
}

// passHeadline prints how pass@1 moved for loops that measure it (the
// reasoning demo), beside the starting model's pass@k and the baseline's.
func passHeadline(out io.Writer, sum *loop.Summary) {
	first, last := sum.Rounds[0], lastEvaluated(sum)
	p1, ok := first.Metrics["pass_at_1"]
	if !ok || last.Index == first.Index {
		return
	}
	fmt.Fprintf(out, "held-out pass@1: %.3f after round 1 → %.3f after round %d (round 1's pass@k: %.3f)",
		p1, last.Metrics["pass_at_1"], last.Index, first.Metrics["pass_at_k"])
	if b := sum.Baseline; b != nil && len(b.Rounds) > 0 {
		bl := lastEvaluated(b)
		fmt.Fprintf(out, "; baseline, %s: %.3f", b.Description, bl.Metrics["pass_at_1"])
	}
	fmt.Fprintln(out)
}

// finalModel is the directory of the last round's student, "" when it is
// not a built-in model.
func finalModel(sum *loop.Summary) string {
	if len(sum.Rounds) == 0 {
		return ""
	}
	if dir, ok := strings.CutPrefix(sum.Rounds[len(sum.Rounds)-1].Student, "local/"); ok {
		return dir
	}
	return ""
}

// lastEvaluated is the last round whose student was evaluated: a round
// that kept no data trains and evaluates nothing.
func lastEvaluated(sum *loop.Summary) loop.RoundSummary {
	for i := len(sum.Rounds) - 1; i > 0; i-- {
		if len(sum.Rounds[i].AccuracyByDifficulty) > 0 {
			return sum.Rounds[i]
		}
	}
	return sum.Rounds[0]
}

// sep separates the pass@ columns, when there are any, from the accuracies.
func sep(pass []string) string {
	if len(pass) == 0 {
		return ""
	}
	return "  "
}

// labTable prints one row per finished round of a loop whose rounds
// measure accuracy by difficulty (the lab's generators and evaluator).
type labTable struct {
	w      io.Writer
	since  time.Time // rounds finished before it were resumed, not run
	shared string    // the note for a round taken over from the main run
	header []int     // the difficulties, once the header is printed
	pass   []string  // the pass@ metrics shown, chosen by the first row
}

func (t *labTable) row(r loop.RoundSummary) {
	const cols = "%5s %10s %8s %6s %6s %10s %7s %7s  "
	if t.header == nil {
		for d := range r.AccuracyByDifficulty {
			t.header = append(t.header, d)
		}
		slices.Sort(t.header)
		t.pass = passColumns(r.Metrics)
		fmt.Fprintf(t.w, cols, "round", "difficulty", "labelled", "kept", "yield", "kept right", "loss", "CPU s")
		fmt.Fprint(t.w, strings.TrimPrefix(passHeader(t.pass), " "), sep(t.pass))
		fmt.Fprint(t.w, "held-out accuracy % at difficulty")
		for _, d := range t.header {
			fmt.Fprintf(t.w, " %3d", d)
		}
		fmt.Fprintln(t.w)
	}
	m := r.Metrics
	labelled, yield, right := "-", "-", "-"
	if m["gen_labelled"] != 1 {
		labelled = fmt.Sprint(r.Generated)
		yield = fmt.Sprintf("%.0f%%", 100*m["gen_yield"])
		right = fmt.Sprintf("%.0f%%", 100*m["gen_kept_correct"])
	}
	span := fmt.Sprint(int(m["gen_from"]))
	if m["gen_to"] > m["gen_from"] {
		span += fmt.Sprintf("-%d", int(m["gen_to"]))
	}
	fmt.Fprintf(t.w, cols, fmt.Sprint(r.Index), span, labelled, fmt.Sprint(r.Kept), yield, right,
		fmt.Sprintf("%.3f", r.TrainLoss), fmt.Sprintf("%.1f", r.CPUSeconds))
	fmt.Fprint(t.w, strings.TrimPrefix(passCells(t.pass, m, "%.2f"), " "), sep(t.pass))
	fmt.Fprintf(t.w, "%33s", "")
	for _, d := range t.header {
		if a, ok := r.AccuracyByDifficulty[d]; ok {
			fmt.Fprintf(t.w, " %3.0f", 100*a)
		} else {
			fmt.Fprintf(t.w, " %3s", "-") // not evaluated: the round kept nothing to train on
		}
	}
	switch {
	case r.Shared:
		fmt.Fprint(t.w, "  "+t.shared)
	case !r.Finished.IsZero() && r.Finished.Before(t.since):
		fmt.Fprint(t.w, "  (finished earlier)")
	}
	fmt.Fprintln(t.w)
}
