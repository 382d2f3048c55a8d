package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/progress"
)

func newLoopCmd() *cobra.Command {
	var (
		runDir      string
		allowChange bool
		jsonProg    bool
		list        bool
		sequential  bool
		childDir    string
		cpuProfile  string
	)
	cmd := &cobra.Command{
		Use:   "loop LOOP.yaml",
		Short: "Run the self-learning loop: the teacher generates, a student trains, a better student becomes the teacher",
		Long: `Run rounds of the self-learning loop described by a loop file. In each round the current
teacher generates training data (generate:), a student is trained on it mixed with earlier
rounds' data (train:), and the student is evaluated against the teacher on held-out data
(evaluate:). A student that beats the teacher by the configured margin is promoted and
teaches the next round; otherwise the round is recorded as not promoted. The loop stops
after rounds:, after patience: rounds in a row without a promotion, or when max_cost_usd
is spent.

Every round's data, model reference, training log and metrics are kept in the run
directory (run.db, summary.json, round-NNN/). Running the same command again after a
crash, kill or Ctrl-C resumes where the loop stopped: finished steps are not repeated, a
built-in training continues from its checkpoint, and a fine-tuning job is polled again
rather than started twice.

A baseline: block runs the same loop again with some with-settings changed (null removes one),
sharing its first shared_rounds rounds, into RUN_DIR/baseline; the table, summary.json and
'synthloop report' show it beside the main run. On 2 or more CPUs it runs beside the main run once
the shared rounds are done, in a second synthloop process (its table is printed after the main
run's; the results are the same as with --sequential-baseline, which runs it afterwards). A phases:
list changes the steps from given rounds on in the same run (from, title, types and with-overrides,
as a baseline's: GRPO in the first rounds, then RFT), or from the round after one whose metric passes
a bound (when: {metric: train_reward_last, above: 0.5}); summary.json records each round's phase. lab-train's voters: N trains N models from
different seeds side by side, and lab-selflabel takes a majority vote across them.

A table row is printed as each round ends; step progress goes to stderr (a live line on a
terminal, JSON lines otherwise or with --json).

` + loopTypesHelp() + `
Exit status: 0 done, 1 failed, 2 bad config or usage, 75 a round's generating pipeline left
units undone after transient failures (run again to retry them), 130 stopped cleanly (Ctrl-C,
or max_cost_usd reached in the middle of a round; run again to resume).`,
		Example: `  synthloop loop examples/loop-distill.yaml
  synthloop loop examples/loop-openai-ft.yaml --run-dir runs/ft-try2
  synthloop loop loop.yaml --json 2>progress.jsonl    # progress as JSON lines
  synthloop loop --list                               # every generator, trainer and evaluator with its settings`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if childDir != "" {
				return baselineChild(cmd, childDir)
			}
			if list {
				printLoopTypes(cmd.OutOrStdout())
				return nil
			}
			if len(args) != 1 {
				return fmt.Errorf("%w: loop needs a loop file (or --list)", errUsage)
			}
			cfg, err := loop.LoadConfig(args[0])
			if err != nil {
				return configFile(err)
			}
			if runDir == "" {
				name := cfg.Name
				if name == "" {
					name = strings.TrimSuffix(filepath.Base(cfg.Source), filepath.Ext(cfg.Source))
				}
				runDir = filepath.Join("runs", name)
			}
			if cpuProfile != "" {
				stop, err := startCPUProfile(cpuProfile)
				if err != nil {
					return err
				}
				defer stop()
			}
			return runLoop(cmd, cfg, runDir, allowChange, jsonProg, sequential)
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory (default runs/<loop name>)")
	cmd.Flags().BoolVar(&allowChange, "allow-config-change", false, "resume even though the loop file changed since the run started")
	cmd.Flags().BoolVar(&jsonProg, "json", false, "report progress as JSON lines even on a terminal")
	cmd.Flags().BoolVar(&list, "list", false, "describe every generator, trainer and evaluator type with an example, and exit")
	cmd.Flags().BoolVar(&sequential, "sequential-baseline", false, sequentialHelp)
	cmd.Flags().StringVar(&cpuProfile, "cpuprofile", "", "write a CPU profile of this process (not of a baseline beside it) to FILE, for go tool pprof")
	cmd.Flags().StringVar(&childDir, "baseline-child", "", "run the baseline in DIR for a parent loop (internal)")
	cmd.Flags().MarkHidden("baseline-child")
	return cmd
}

// startCPUProfile profiles the process into path until the returned
// function runs: where a round's CPU goes (sampling, the policy's passes,
// the optimizer, evaluation) is what decides which cut pays.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, fmt.Errorf("loop: cpuprofile: %w", err)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("loop: cpuprofile: %w", err)
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

const sequentialHelp = "run the baseline after the main run, in this process, instead of beside it in a second one (the default on 2 or more CPUs; the results are the same)"

// baselineCommand is how a loop runs its baseline: beside the main run, in
// a child process of this binary, on a machine with two CPUs or more (a
// round is mostly one thread), unless sequential; after it otherwise (nil).
func baselineCommand(sequential bool) func(dir string) *exec.Cmd {
	if sequential || runtime.NumCPU() < 2 {
		return nil
	}
	exe, err := os.Executable()
	if err != nil {
		return nil
	}
	return func(dir string) *exec.Cmd { return exec.Command(exe, "loop", "--baseline-child", dir) }
}

// baselineChild is the child side of baselineCommand.
func baselineChild(cmd *cobra.Command, dir string) error {
	if err := loop.BaselineChild(cmd.Context(), dir); err != nil {
		if errors.Is(err, loop.ErrStopped) {
			return fmt.Errorf("%w: %w", errStopped, err)
		}
		return err
	}
	return nil
}

func printLoopTypes(w io.Writer) {
	fmt.Fprintln(w, "loop file")
	fmt.Fprintln(w, "    The top level of a loop file; generate, train and evaluate take one of the types below.")
	fmt.Fprintln(w)
	def := loop.Default()
	writeSettings(w, &def, "    ")
	fmt.Fprintln(w)
	section := func(kind, name, doc, example string, cfg any) {
		fmt.Fprintf(w, "%s %s\n", kind, name)
		for _, l := range strings.Split(strings.TrimSpace(doc), "\n") {
			fmt.Fprintf(w, "    %s\n", l)
		}
		fmt.Fprintln(w)
		writeSettings(w, cfg, "    ")
		if example != "" {
			fmt.Fprintln(w)
			for _, l := range strings.Split(strings.TrimRight(example, "\n"), "\n") {
				fmt.Fprintf(w, "    %s\n", l)
			}
		}
		fmt.Fprintln(w)
	}
	for _, t := range loop.Generators() {
		section("generator", t.Name, t.Doc, t.Example, t.Config())
	}
	for _, t := range loop.Trainers() {
		section("trainer", t.Name, t.Doc, t.Example, t.Config())
	}
	for _, t := range loop.Evaluators() {
		section("evaluator", t.Name, t.Doc, t.Example, t.Config())
	}
}

func loopTypesHelp() string {
	var b strings.Builder
	names := func(title string, ns []string) {
		fmt.Fprintf(&b, "%s: %s\n", title, strings.Join(ns, ", "))
	}
	var g, t, e []string
	for _, x := range loop.Generators() {
		g = append(g, x.Name)
	}
	for _, x := range loop.Trainers() {
		t = append(t, x.Name)
	}
	for _, x := range loop.Evaluators() {
		e = append(e, x.Name)
	}
	names("Generators", g)
	names("Trainers", t)
	names("Evaluators", e)
	return b.String()
}

func runLoop(cmd *cobra.Command, cfg *loop.Config, runDir string, allowChange, jsonProg, sequential bool) error {
	ctx := cmd.Context()
	errOut, out := cmd.ErrOrStderr(), cmd.OutOrStdout()
	prog := newLoopProgress(errOut, jsonProg)
	rep := &roundReporter{w: errOut, tty: prog.tty, interval: prog.interval, before: prog.clear}
	table := newRoundTable(out)
	fmt.Fprintf(errOut, "synthloop: loop %s into %s\n", cfg.Source, runDir)
	sum, err := loop.Run(ctx, cfg, loop.Options{
		RunDir:   runDir,
		Progress: prog.event,
		Reporter: rep,
		OnRound:  func(r loop.RoundSummary) { prog.clear(); rep.close(); table.row(r) },
		OnBaseline: func(title string) {
			prog.clear()
			rep.close()
			fmt.Fprintf(out, "\nbaseline: %s\n", title)
			table = newRoundTable(out)
		},
		Getenv:            os.Getenv,
		AllowConfigChange: allowChange,
		BaselineCommand:   baselineCommand(sequential),
	})
	prog.clear()
	rep.close()
	if err != nil {
		if errors.Is(err, loop.ErrStopped) {
			return fmt.Errorf("%w: %w", errStopped, err)
		}
		return err
	}
	fmt.Fprintf(out, "done: %s: %d rounds, stopped by %s; teacher %s; cost $%.4f, %.1f CPU-seconds\n",
		runDir, len(sum.Rounds), sum.Stopped, sum.Teacher, sum.CostUSD, sum.CPUSeconds)
	if b := sum.Baseline; b != nil {
		fmt.Fprintf(out, "baseline: %s: %d rounds, %.1f CPU-seconds\n", filepath.Join(runDir, loop.BaselineDir), len(b.Rounds), b.CPUSeconds)
	}
	fmt.Fprintf(out, "summary: %s\n", filepath.Join(runDir, "summary.json"))
	return nil
}

// roundTable prints a row per finished round, the header before the first.
type roundTable struct {
	w      io.Writer
	header bool
	pass   []string // the pass@ metrics shown, chosen by the first row
}

func newRoundTable(w io.Writer) *roundTable { return &roundTable{w: w} }

func (t *roundTable) row(r loop.RoundSummary) {
	// Fixed widths, not a tabwriter: rows are printed one at a time as
	// rounds finish, so columns cannot be measured ahead.
	const cols = "%5s  %-24s %-24s %9s %7s %6s %7s %7s %7s %8s %8s %7s"
	if !t.header {
		t.pass = passColumns(r.Metrics)
		fmt.Fprintf(t.w, cols, "round", "teacher", "student", "generated", "kept", "steps", "loss", "score", "teacher", "promoted", "cost $", "CPU s")
		fmt.Fprintf(t.w, "%s  reason\n", passHeader(t.pass))
		t.header = true
	}
	promoted := "no"
	if r.Promoted {
		promoted = "yes"
	}
	reason := r.Reason
	if r.Phase > 0 {
		reason = fmt.Sprintf("[phase %d] %s", r.Phase, reason)
	}
	if len(reason) > 60 {
		reason = reason[:57] + "..."
	}
	fmt.Fprintf(t.w, cols, fmt.Sprint(r.Index), shortRef(r.Teacher), shortRef(r.Student), fmt.Sprint(r.Generated), fmt.Sprint(r.Kept),
		fmt.Sprint(r.TrainSteps), fmt.Sprintf("%.4f", r.TrainLoss), fmt.Sprintf("%.4f", r.Score), fmt.Sprintf("%.4f", r.TeacherScore),
		promoted, fmt.Sprintf("%.4f", r.CostUSD), fmt.Sprintf("%.1f", r.CPUSeconds))
	fmt.Fprintf(t.w, "%s  %s\n", passCells(t.pass, r.Metrics, "%.4f"), reason)
}

// passMetrics are what an evaluator that samples answers reports (the lab's
// accuracy with samples, as RFT uses), with their column heads.
var passMetrics = []struct{ key, head string }{
	{"pass_at_1", "pass@1"}, {"pass_at_k", "pass@k"},
	{"teacher_pass_at_1", "t.pass@1"}, {"teacher_pass_at_k", "t.pass@k"},
}

// passColumns lists the pass metrics in m. The tables choose their columns
// from the first row, as rows are printed one at a time.
func passColumns(m map[string]float64) []string {
	var keys []string
	for _, p := range passMetrics {
		if _, ok := m[p.key]; ok {
			keys = append(keys, p.key)
		}
	}
	return keys
}

func passHeader(keys []string) string {
	var b strings.Builder
	for _, p := range passMetrics {
		if slices.Contains(keys, p.key) {
			fmt.Fprintf(&b, " %8s", p.head)
		}
	}
	return b.String()
}

// passCells formats m's values of keys in format, "-" where m lacks one
// (a round that kept nothing evaluates nothing).
func passCells(keys []string, m map[string]float64, format string) string {
	var b strings.Builder
	for _, k := range keys {
		v, ok := m[k]
		s := "-"
		if ok {
			s = fmt.Sprintf(format, v)
		}
		fmt.Fprintf(&b, " %8s", s)
	}
	return b.String()
}

// shortRef shortens a built-in model's ref to its last two path elements.
func shortRef(ref string) string {
	if ref == "" {
		return "-"
	}
	if rest, ok := strings.CutPrefix(ref, "local/"); ok {
		return "local/" + filepath.Join(filepath.Base(filepath.Dir(rest)), filepath.Base(rest))
	}
	return ref
}

// loopProgress shows the step progress of the loop: one live line on a
// terminal, a throttled JSON line per step otherwise. A baseline running
// beside the main run shares the line.
type loopProgress struct {
	w        io.Writer
	tty      bool
	interval time.Duration

	mu    sync.Mutex
	last  map[string]time.Time  // by run, round and step
	parts map[string]loop.Event // the live line's last event, by run
	drawn bool
}

// newLoopProgress shows progress on w: live on a terminal (unless asJSON),
// JSON lines otherwise.
func newLoopProgress(w io.Writer, asJSON bool) *loopProgress {
	p := &loopProgress{w: w, tty: !asJSON && isTerminal(w), interval: time.Second, last: map[string]time.Time{}, parts: map[string]loop.Event{}}
	if p.tty {
		p.interval = 200 * time.Millisecond
	}
	return p
}

func (p *loopProgress) event(e loop.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	now := time.Now()
	key := fmt.Sprintf("%s/%d/%s", e.Run, e.Round, e.Step)
	final := e.Total > 0 && e.Done == e.Total
	if t, ok := p.last[key]; ok && !final && now.Sub(t) < p.interval {
		return
	}
	p.last[key] = now
	if !p.tty {
		line := map[string]any{"time": now.UTC(), "round": e.Round, "step": e.Step, "done": e.Done, "total": e.Total, "note": e.Note}
		if e.Run != "" {
			line["run"] = e.Run
		}
		b, _ := json.Marshal(line)
		fmt.Fprintln(p.w, string(b))
		return
	}
	p.parts[e.Run] = e
	var line []string
	for _, run := range []string{"", loop.BaselineDir} {
		if e, ok := p.parts[run]; ok {
			line = append(line, liveText(e, len(p.parts) == 1))
		}
	}
	fmt.Fprintf(p.w, "\r\x1b[2K%s", strings.Join(line, " │ "))
	p.drawn = true
}

// liveText is e on the live line, with a bar when it has the line to
// itself (two runs side by side must fit one terminal line).
func liveText(e loop.Event, bar bool) string {
	done := ""
	switch {
	case e.Total > 0 && bar:
		frac := float64(e.Done) / float64(e.Total)
		fill := int(frac * 24)
		done = fmt.Sprintf(" %s %3.0f%% %d/%d", strings.Repeat("█", fill)+strings.Repeat("░", 24-fill), frac*100, e.Done, e.Total)
	case e.Total > 0:
		done = fmt.Sprintf(" %3.0f%%", 100*float64(e.Done)/float64(e.Total))
	case e.Done > 0:
		done = fmt.Sprintf(" %d", e.Done)
	}
	run := ""
	if e.Run != "" {
		run = e.Run + " "
	}
	return fmt.Sprintf("%sround %d %s%s  %s", run, e.Round, e.Step, done, e.Note)
}

// clear ends the live line so that other output starts on a fresh one.
func (p *loopProgress) clear() {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.parts) // a run that is done must not linger on the next line
	if p.drawn {
		fmt.Fprint(p.w, "\r\x1b[2K")
		p.drawn = false
	}
}

// roundReporter gives each round's pipeline run a fresh progress display.
type roundReporter struct {
	w        io.Writer
	tty      bool
	interval time.Duration
	before   func()

	mu  sync.Mutex
	cur *progress.Reporter
}

func (r *roundReporter) Stage(name string, index, count int) pipeline.Progress {
	r.mu.Lock()
	defer r.mu.Unlock()
	if index == 0 && r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
	if r.cur == nil {
		r.before()
		r.cur = progress.New(r.w, r.tty, r.interval)
	}
	return r.cur.Stage(name, index, count)
}

func (r *roundReporter) StageDone(name string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.cur.StageDone(name, err)
	}
}

func (r *roundReporter) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cur != nil {
		r.cur.Close()
		r.cur = nil
	}
}
