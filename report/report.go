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
// a test, a JSON file) fills it in. Every field may be left empty; the report
// leaves out what it is not given and says so.
type Run struct {
	Name        string `json:"name"`
	Description string `json:"description,omitempty"`
	// Settings are shown as given, sorted by key: the task, the method, the
	// trainer, the promotion margin, ...
	Settings map[string]string `json:"settings,omitempty"`
	// MainMetric names the entry of Round.Metrics that decides promotion
	// ("accuracy", "win_rate"); higher is better. Empty means the only metric there is, if the
	// rounds report exactly one.
	MainMetric string `json:"main_metric,omitempty"`
	// LabelledUpTo is the highest difficulty that had true labels; the plots
	// mark it, and the summary reports accuracy above it. 0 means unknown.
	LabelledUpTo int `json:"labelled_up_to,omitempty"`
	// InitialTeacher is the model that taught round 1 (or the first round).
	InitialTeacher string `json:"initial_teacher,omitempty"`
	// Stopped says why the loop ended ("rounds done", "no improvement for 2
	// rounds", "budget spent"); empty while it is still going.
	Stopped  string    `json:"stopped,omitempty"`
	Started  time.Time `json:"started,omitzero"`
	Finished time.Time `json:"finished,omitzero"`
	Rounds   []Round   `json:"rounds"`
}

// Round is one round of the loop: the teacher generated data, a filter kept
// part of it, a student was trained on it and evaluated.
type Round struct {
	Index   int    `json:"index"`
	Teacher string `json:"teacher,omitempty"`
	Student string `json:"student,omitempty"`
	// Promoted says whether the student became the next teacher, and Reason
	// why or why not (user-facing text, shown escaped).
	Promoted bool   `json:"promoted"`
	Reason   string `json:"reason,omitempty"`
	// Metrics are the student's evaluation results by name.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// AccuracyByDifficulty is the student's held-out accuracy, a fraction in
	// [0, 1], by problem difficulty.
	AccuracyByDifficulty map[int]float64 `json:"accuracy_by_difficulty,omitempty"`
	// Baseline is the same round trained without filtering, when the run has
	// such a control; nil otherwise.
	Baseline *Baseline `json:"baseline,omitempty"`
	// DataGenerated counts the examples the teacher produced, DataKept those
	// the filter kept and the student trained on.
	DataGenerated int     `json:"data_generated,omitempty"`
	DataKept      int     `json:"data_kept,omitempty"`
	TrainSteps    int     `json:"train_steps,omitempty"`
	TrainLoss     float64 `json:"train_loss,omitempty"` // final training loss; shown only when TrainSteps > 0
	CostUSD       float64 `json:"cost_usd,omitempty"`
	CPUSeconds    float64 `json:"cpu_seconds,omitempty"` // user+sys CPU time of the round
}

// Baseline is the unfiltered control of a round: a student trained on all the
// teacher's data, kept or not, and evaluated the same way.
type Baseline struct {
	Metrics              map[string]float64 `json:"metrics,omitempty"`
	AccuracyByDifficulty map[int]float64    `json:"accuracy_by_difficulty,omitempty"`
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
// (see Save and Load).
const RunFile = "report.json"

// ErrNoRun means there is no loop run to report on: the file holding it is
// missing or holds no rounds.
var ErrNoRun = errors.New("no loop run")

// Decode reads a Run from its JSON form and checks it.
func Decode(r io.Reader) (Run, error) {
	var run Run
	dec := json.NewDecoder(r)
	dec.DisallowUnknownFields()
	if err := dec.Decode(&run); err != nil {
		return Run{}, fmt.Errorf("report: decode run: %w", err)
	}
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
	if b := rd.Baseline; b != nil {
		if err := checkAccuracy("baseline ", b.AccuracyByDifficulty); err != nil {
			return err
		}
		if err := checkMetrics("baseline ", b.Metrics); err != nil {
			return err
		}
	}
	switch {
	case rd.DataGenerated < 0 || rd.DataKept < 0 || rd.TrainSteps < 0:
		return fmt.Errorf("negative count (generated %d, kept %d, train steps %d)", rd.DataGenerated, rd.DataKept, rd.TrainSteps)
	case rd.DataKept > rd.DataGenerated:
		return fmt.Errorf("kept %d examples of %d generated", rd.DataKept, rd.DataGenerated)
	case !finite(rd.TrainLoss) || !finite(rd.CostUSD) || !finite(rd.CPUSeconds):
		return fmt.Errorf("train loss %v, cost %v or CPU seconds %v is not a number", rd.TrainLoss, rd.CostUSD, rd.CPUSeconds)
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
	if r.MainMetric != "" {
		return r.MainMetric
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
	if m := r.MainMetric; m != "" {
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
