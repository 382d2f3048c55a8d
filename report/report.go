// Package report renders a self-learning loop run as a self-contained HTML page with PNG plots.
package report

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Run is what a report shows of one loop run. It is a plain value so that
// report depends on no other synthloop package: whoever holds a run (the loop,
// a test, a JSON file) fills it in. Its fields and their JSON names follow
// loop.Summary, so converting one is a field-by-field copy and Load reads the
// loop's summary.json as it is. Every field may be left empty; the report
// leaves out what it is not given and says so.
type Run struct {
	// Name is the loop config's name; Config its file.
	Name   string `json:"name"`
	Config string `json:"config,omitempty"`
	// Description is shown under the title as written (line breaks kept).
	Description string `json:"description,omitempty"`
	// Settings are shown as given, sorted by key: the task, the method, the
	// trainer, ...
	Settings map[string]string `json:"settings,omitempty"`
	// Metric names the score the promotion decision compares ("accuracy",
	// "win_rate"); higher is better. Empty means the only entry of
	// Round.Metrics there is, if the rounds report exactly one.
	Metric string `json:"metric,omitempty"`
	// Margin is how much a student must beat its teacher by to be promoted.
	Margin float64 `json:"margin,omitempty"`
	// Teacher is the current teacher, after the last promotion. Empty means
	// the last promoted student, or the first round's teacher.
	Teacher string `json:"teacher,omitempty"`
	// LabelledUpTo is the highest difficulty that had true labels; the plots
	// mark it, and the summary reports accuracy above it. 0 means unknown.
	LabelledUpTo int `json:"labelled_up_to,omitempty"`
	// Stopped says why the loop ended: loop's "rounds", "patience" and
	// "budget", or any text; empty while the loop has rounds left to run.
	Stopped string  `json:"stopped,omitempty"`
	Rounds  []Round `json:"rounds"`
	// Baseline is the control run as a whole, in the shape the loop writes
	// it (its Description says what it changes). Decode copies each of its
	// rounds into the same-numbered round's Baseline where that is unset.
	Baseline *Run `json:"baseline,omitempty"`
}

// Round is one round of the loop: the teacher generated data, a filter kept
// part of it, a student was trained on it and evaluated against the teacher.
type Round struct {
	Index int `json:"index"`
	// Status is the step an unfinished round is at ("generate", "train",
	// "evaluate"); "done" or empty for a finished round.
	Status  string `json:"status,omitempty"`
	Teacher string `json:"teacher,omitempty"`
	Student string `json:"student,omitempty"`
	// Promoted says whether the student became the next teacher, and Reason
	// why or why not (user-facing text, shown escaped).
	Promoted bool   `json:"promoted"`
	Reason   string `json:"reason,omitempty"`
	// Score and TeacherScore are the student's and the teacher's values of
	// Run.Metric, read for a finished round when Metrics lacks Run.Metric
	// (and "teacher_"+Run.Metric).
	Score        float64 `json:"score,omitempty"`
	TeacherScore float64 `json:"teacher_score,omitempty"`
	// Metrics are every number the round reported, by name.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// AccuracyByDifficulty is the student's held-out accuracy, a fraction in
	// [0, 1], by problem difficulty; TeacherAccuracyByDifficulty the
	// teacher's. The first round's teacher is the starting point the plots
	// show beside the students.
	AccuracyByDifficulty        map[int]float64 `json:"accuracy_by_difficulty,omitempty"`
	TeacherAccuracyByDifficulty map[int]float64 `json:"teacher_accuracy_by_difficulty,omitempty"`
	// Baseline is the same round of the unfiltered control run, when there
	// is one; nil otherwise.
	Baseline *Baseline `json:"baseline,omitempty"`
	// Generated counts the examples the teacher produced, Kept those the
	// filter kept and the student trained on.
	Generated int `json:"generated,omitempty"`
	Kept      int `json:"kept,omitempty"`
	// Data and TrainLog are the round's training file and training log,
	// relative to the run directory; the page links them.
	Data     string `json:"data,omitempty"`
	TrainLog string `json:"train_log,omitempty"`
	// TrainSteps counts optimizer steps; FirstLoss and TrainLoss are the loss
	// at the first and last of them, shown only when TrainSteps > 0.
	TrainSteps int     `json:"train_steps,omitempty"`
	FirstLoss  float64 `json:"first_loss,omitempty"`
	TrainLoss  float64 `json:"train_loss,omitempty"`
	CostUSD    float64 `json:"cost_usd,omitempty"`
	CPUSeconds float64 `json:"cpu_seconds,omitempty"` // user+sys CPU time of the round
	// Started and Finished bound the round in wall-clock time; zero when
	// unknown or, for Finished, not yet.
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
}

// Baseline is a round of the unfiltered control: a student trained on all
// the teacher's data, kept or not, and evaluated the same way.
type Baseline struct {
	// Score is the baseline student's value of Run.Metric, read when Metrics
	// lacks it.
	Score                float64            `json:"score,omitempty"`
	Metrics              map[string]float64 `json:"metrics,omitempty"`
	AccuracyByDifficulty map[int]float64    `json:"accuracy_by_difficulty,omitempty"`
}

// done reports whether the round got as far as its promotion decision.
func (rd Round) done() bool { return rd.Status == "" || rd.Status == "done" }

// score is the student's value of the main metric in round rd.
func (r Run) score(rd Round) (float64, bool) {
	m := r.mainMetric()
	if m == "" {
		return 0, false
	}
	if v, ok := rd.Metrics[m]; ok {
		return v, true
	}
	return rd.Score, rd.done() && r.Metric != ""
}

// teacherScore is the teacher's value of the main metric in round rd.
func (r Run) teacherScore(rd Round) (float64, bool) {
	m := r.mainMetric()
	if m == "" {
		return 0, false
	}
	if v, ok := rd.Metrics["teacher_"+m]; ok {
		return v, true
	}
	return rd.TeacherScore, rd.done() && r.Metric != "" && rd.TeacherScore != 0
}

// baselineScore is the unfiltered baseline's value of the main metric.
func (r Run) baselineScore(rd Round) (float64, bool) {
	m := r.mainMetric()
	if m == "" || rd.Baseline == nil {
		return 0, false
	}
	if v, ok := rd.Baseline.Metrics[m]; ok {
		return v, true
	}
	return rd.Baseline.Score, r.Metric != ""
}

// The files Write puts into the output directory. Plots that a run has no
// data for are not written, and an older copy of them is removed.
const (
	HTMLFile     = "report.html"
	AccuracyPlot = "accuracy-by-difficulty.png"
	BaselinePlot = "baseline.png"
	YieldPlot    = "filter-yield.png"
	MetricPlot   = "metric.png"
)

// RunFile is the name under which a run directory may hold its Run as JSON
// (see Save and Load); SummaryFile is where the loop keeps its summary,
// which Load reads as well.
const (
	RunFile     = "report.json"
	SummaryFile = "summary.json"
)

// ErrNoRun means there is no loop run to report on: the file holding it is
// missing or holds no rounds.
var ErrNoRun = errors.New("no loop run")

// Decode reads a Run from its JSON form and checks it. Fields it does not
// know are ignored, so that it reads what newer loops write.
func Decode(r io.Reader) (Run, error) {
	var run Run
	if err := json.NewDecoder(r).Decode(&run); err != nil {
		return Run{}, fmt.Errorf("report: decode run: %w", err)
	}
	run.complete()
	if err := run.Validate(); err != nil {
		return Run{}, err
	}
	return run, nil
}

// Load reads a Run from the JSON file at path. A missing file or one with
// no rounds yields an error wrapping ErrNoRun.
func Load(path string) (Run, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Run{}, fmt.Errorf("report: %s does not exist: %w", path, ErrNoRun)
	}
	if err != nil {
		return Run{}, fmt.Errorf("report: %w", err)
	}
	run, err := Decode(bytes.NewReader(b))
	if err != nil {
		return Run{}, fmt.Errorf("%w (in %s)", err, path)
	}
	if len(run.Rounds) == 0 {
		return Run{}, fmt.Errorf("report: %s has no rounds: %w", path, ErrNoRun)
	}
	return run, nil
}

// complete fills in what a loop's summary implies but does not state: each
// round's Baseline from the baseline run, and LabelledUpTo from the rounds
// whose generator wrote true labels (metrics gen_labelled = 1 and gen_to,
// as the lab's generators report).
func (r *Run) complete() {
	if b := r.Baseline; b != nil {
		byIndex := map[int]Round{}
		for _, rd := range b.Rounds {
			if rd.done() {
				byIndex[rd.Index] = rd
			}
		}
		for i := range r.Rounds {
			if br, ok := byIndex[r.Rounds[i].Index]; ok && r.Rounds[i].Baseline == nil {
				r.Rounds[i].Baseline = &Baseline{Score: br.Score, Metrics: br.Metrics, AccuracyByDifficulty: br.AccuracyByDifficulty}
			}
		}
	}
	if r.LabelledUpTo == 0 {
		for _, rd := range r.Rounds {
			if rd.Metrics["gen_labelled"] == 1 {
				r.LabelledUpTo = max(r.LabelledUpTo, int(rd.Metrics["gen_to"]))
			}
		}
	}
}

// Save writes r as indented JSON to path, the form Load reads.
func Save(path string, r Run) error {
	if err := r.Validate(); err != nil {
		return err
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("report: encode run: %w", err)
	}
	return writeFile(path, append(b, '\n'))
}

// Validate checks what would otherwise make a misleading report: rounds out
// of order or repeated, accuracies that are not fractions (a percentage
// passed by mistake), more data kept than generated, negative or non-finite
// numbers.
func (r Run) Validate() error {
	for i, rd := range r.Rounds {
		if i > 0 && rd.Index <= r.Rounds[i-1].Index {
			return fmt.Errorf("report: round %d follows round %d: rounds must be in increasing order", rd.Index, r.Rounds[i-1].Index)
		}
		if err := rd.validate(); err != nil {
			return fmt.Errorf("report: round %d: %w", rd.Index, err)
		}
	}
	if r.LabelledUpTo < 0 {
		return fmt.Errorf("report: labelled_up_to is %d, want 0 or more", r.LabelledUpTo)
	}
	return nil
}

func (rd Round) validate() error {
	if err := checkAccuracy("", rd.AccuracyByDifficulty); err != nil {
		return err
	}
	if err := checkMetrics("", rd.Metrics); err != nil {
		return err
	}
	if err := checkAccuracy("teacher ", rd.TeacherAccuracyByDifficulty); err != nil {
		return err
	}
	if b := rd.Baseline; b != nil {
		if err := checkAccuracy("baseline ", b.AccuracyByDifficulty); err != nil {
			return err
		}
		if err := checkMetrics("baseline ", b.Metrics); err != nil {
			return err
		}
	}
	switch {
	case rd.Generated < 0 || rd.Kept < 0 || rd.TrainSteps < 0:
		return fmt.Errorf("negative count (generated %d, kept %d, train steps %d)", rd.Generated, rd.Kept, rd.TrainSteps)
	case rd.Kept > rd.Generated:
		return fmt.Errorf("kept %d examples of %d generated", rd.Kept, rd.Generated)
	case !finite(rd.Score) || !finite(rd.TeacherScore) || !finite(rd.FirstLoss) || !finite(rd.TrainLoss) || !finite(rd.CostUSD) || !finite(rd.CPUSeconds):
		return fmt.Errorf("a score, loss, cost or CPU time is not a number")
	case rd.CostUSD < 0 || rd.CPUSeconds < 0:
		return fmt.Errorf("negative cost %v or CPU seconds %v", rd.CostUSD, rd.CPUSeconds)
	}
	return nil
}

func checkAccuracy(what string, acc map[int]float64) error {
	for _, d := range sortedKeys(acc) {
		if a := acc[d]; !(a >= 0 && a <= 1) {
			return fmt.Errorf("%saccuracy at difficulty %d is %v, want a fraction in [0, 1]", what, d, a)
		}
	}
	return nil
}

func checkMetrics(what string, m map[string]float64) error {
	for _, k := range sortedKeys(m) {
		if !finite(m[k]) {
			return fmt.Errorf("%smetric %q is %v", what, k, m[k])
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// Files lists what Write wrote.
type Files struct {
	HTML  string   // path of the HTML page
	Plots []string // paths of the PNG plots drawn
	// Skipped names each plot not drawn, with the reason the page gives.
	Skipped []string
}

// Write renders r into dir (created if missing): HTMLFile and the PNG plots
// it links to. The page is a pure function of r; the PNGs are drawn from the
// same numbers but their bytes may vary with the plotting library's version.
func Write(dir string, r Run) (Files, error) {
	if err := r.Validate(); err != nil {
		return Files{}, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return Files{}, fmt.Errorf("report: %w", err)
	}
	var files Files
	figs := figures(r)
	for _, f := range figs {
		path := filepath.Join(dir, f.File)
		if f.Skip != "" {
			// A plot from an earlier report of the same run would otherwise
			// sit beside a page that says it was not drawn.
			if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
				return Files{}, fmt.Errorf("report: remove stale plot: %w", err)
			}
			files.Skipped = append(files.Skipped, f.Title+": "+f.Skip)
			continue
		}
		png, err := f.draw()
		if err != nil {
			return Files{}, fmt.Errorf("report: plot %s: %w", f.File, err)
		}
		if err := writeFile(path, png); err != nil {
			return Files{}, err
		}
		files.Plots = append(files.Plots, path)
	}
	var page bytes.Buffer
	if err := renderHTML(&page, r, figs); err != nil {
		return Files{}, err
	}
	files.HTML = filepath.Join(dir, HTMLFile)
	if err := writeFile(files.HTML, page.Bytes()); err != nil {
		return Files{}, err
	}
	return files, nil
}

// HTML writes the report page for r to w, the same page Write writes.
func HTML(w io.Writer, r Run) error {
	if err := r.Validate(); err != nil {
		return err
	}
	return renderHTML(w, r, figures(r))
}

// writeFile replaces path through a rename, so a browser never shows a page
// or plot half written.
func writeFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("report: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		tmp.Close()
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("report: write %s: %w", path, err)
	}
	return nil
}

// mainMetric is the metric that decides promotion, "" when the run names none
// and its rounds report several.
func (r Run) mainMetric() string {
	if r.Metric != "" {
		return r.Metric
	}
	if names := r.metricNames(); len(names) == 1 {
		return names[0]
	}
	return ""
}

// metricNames lists every metric any round reports, the main one first,
// then the others sorted.
func (r Run) metricNames() []string {
	seen := map[string]bool{}
	for _, rd := range r.Rounds {
		for k := range rd.Metrics {
			seen[k] = true
		}
	}
	names := sortedKeys(seen)
	if m := r.Metric; m != "" {
		names = slices.DeleteFunc(names, func(s string) bool { return s == m })
		names = append([]string{m}, names...)
	}
	return names
}

// difficulties lists every difficulty at which any round, or its baseline,
// was evaluated.
func (r Run) difficulties() []int {
	seen := map[int]bool{}
	for _, rd := range r.Rounds {
		for d := range rd.AccuracyByDifficulty {
			seen[d] = true
		}
		for d := range rd.TeacherAccuracyByDifficulty {
			seen[d] = true
		}
		if rd.Baseline != nil {
			for d := range rd.Baseline.AccuracyByDifficulty {
				seen[d] = true
			}
		}
	}
	return sortedKeys(seen)
}

func (r Run) hasBaseline() bool {
	for _, rd := range r.Rounds {
		if rd.Baseline != nil && len(rd.Baseline.AccuracyByDifficulty) > 0 {
			return true
		}
	}
	return false
}

// harderMean is the mean accuracy over the difficulties above LabelledUpTo
// (all of them when it is 0), and whether there were any.
func (r Run) harderMean(acc map[int]float64) (float64, bool) {
	var sum float64
	n := 0
	for _, d := range sortedKeys(acc) { // in order, so the sum is the same every time
		if d > r.LabelledUpTo {
			sum += acc[d]
			n++
		}
	}
	if n == 0 {
		return 0, false
	}
	return sum / float64(n), true
}

// harderLabel describes the problems harderMean averages over.
func (r Run) harderLabel() string {
	if r.LabelledUpTo > 0 {
		return fmt.Sprintf("difficulty above %d (unlabelled)", r.LabelledUpTo)
	}
	return "all difficulties"
}

func sortedKeys[K interface{ ~int | ~string }, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// oneLine folds s onto one line for plot labels, which cannot wrap.
func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
