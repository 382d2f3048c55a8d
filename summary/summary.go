// Package summary is a loop run's summary: the one type the loop writes to summary.json and reports render.
package summary

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"math"
	"os"
	"path/filepath"
	"slices"
	"time"
)

// Run is what a loop run did, round by round, in plain values for
// reports. Load reads it from a run directory at any time, also while the
// loop is running (the last round then has Status other than "done").
//
// Every field is filled by the loop from what its generator, trainer and
// evaluator reported; fields a plugin did not report stay at their zero
// value (nil maps, 0 counts). Metric values are fractions in [0, 1] for
// accuracies and win rates, not percentages.
type Run struct {
	// Name is the loop config's name; Config its file.
	Name   string `json:"name"`
	Config string `json:"config"`
	// Description is the loop config's description, as written.
	Description string `json:"description,omitempty"`
	// RunDir is the directory Load read.
	RunDir string `json:"run_dir"`
	// Settings are shown by reports as given, sorted by key: the task, the
	// method, the trainer, ... (the loop writes none).
	Settings map[string]string `json:"settings,omitempty"`
	// LabelledUpTo is the highest difficulty that had true labels; reports
	// mark it and average accuracy above it. 0 means unknown; Complete
	// derives it from the rounds' metrics.
	LabelledUpTo int `json:"labelled_up_to,omitempty"`
	// Metric names the score the promotion decision compares, e.g.
	// "accuracy" (verifier evaluation) or "win_rate" (pairwise judge).
	Metric string `json:"metric"`
	// Margin is how much the student must beat the teacher by to be promoted.
	Margin float64 `json:"margin"`
	// Teacher is the current teacher's model ref (after the last promotion).
	Teacher string `json:"teacher"`
	// Stopped says why the loop ended: "rounds" (all rounds ran), "patience"
	// (no promotion for that many rounds), "budget" (max_cost_usd spent);
	// empty while the loop has rounds left to run.
	Stopped string  `json:"stopped,omitempty"`
	Rounds  []Round `json:"rounds"`
	// CostUSD and CPUSeconds add up the rounds.
	CostUSD    float64 `json:"cost_usd"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// Baseline is the loop's control run (the config's baseline block),
	// nil when it has none or it has not started; its Description is the
	// baseline's title.
	Baseline *Run `json:"baseline,omitempty"`
}

// Round is one round of a Run.
type Round struct {
	Index int `json:"index"` // 1-based
	// Status is the step the round is at: "generate", "train", "evaluate",
	// or "done" once the promotion decision is recorded.
	Status string `json:"status"`
	// Teacher generated this round's data; Student is the model trained from
	// it ("" until trained). Both are model refs such as "openai/gpt-4o-mini",
	// "local/runs/x/round-002/student" or "openai/ft:gpt-4o-mini:org::abc".
	Teacher string `json:"teacher"`
	Student string `json:"student,omitempty"`
	// Promoted reports that the student became the teacher of the next round;
	// Reason says why or why not, e.g. "accuracy 0.82 > teacher 0.75 + margin 0.02".
	Promoted bool   `json:"promoted"`
	Reason   string `json:"reason,omitempty"`
	// Score and TeacherScore are the compared values of Summary.Metric.
	Score        float64 `json:"score"`
	TeacherScore float64 `json:"teacher_score"`
	// Metrics holds every number the round's generator, trainer and evaluator
	// reported, by name: evaluation metrics as the evaluator names them
	// ("accuracy", "teacher_accuracy", "win_rate", "wins", "ties", ...),
	// generator metrics prefixed "gen_" (e.g. "gen_yield", kept/generated),
	// trainer metrics prefixed "train_" (e.g. "train_params"), and the cost
	// of each step: "gen_cost_usd", "train_cost_usd", "eval_cost_usd".
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// AccuracyByDifficulty is the student's accuracy per problem difficulty,
	// and TeacherAccuracyByDifficulty the teacher's, when the held-out set
	// has difficulties (nil otherwise).
	AccuracyByDifficulty        map[int]float64 `json:"accuracy_by_difficulty,omitempty"`
	TeacherAccuracyByDifficulty map[int]float64 `json:"teacher_accuracy_by_difficulty,omitempty"`
	// Baseline is the same round of the run's baseline (Run.Baseline), as
	// Complete copies it in; nil otherwise.
	Baseline *Baseline `json:"baseline,omitempty"`
	// Generated counts the records the generator produced and Kept those
	// that passed its filters and became training data.
	Generated int `json:"generated"`
	Kept      int `json:"kept"`
	// Data is the round's training file, relative to the run directory.
	Data string `json:"data,omitempty"`
	// TrainSteps is the trainer's optimizer steps, FirstLoss and TrainLoss
	// the loss at the first and the last step (0 when the trainer reports
	// none), TrainLog the training log file relative to the run directory.
	TrainSteps int     `json:"train_steps"`
	FirstLoss  float64 `json:"first_loss"`
	TrainLoss  float64 `json:"train_loss"`
	TrainLog   string  `json:"train_log,omitempty"`
	// CostUSD is what the round paid: generation, training and evaluation.
	CostUSD float64 `json:"cost_usd"`
	// CPUSeconds is the user+system CPU time the round used in this
	// process and its child processes (not remote servers).
	CPUSeconds float64 `json:"cpu_seconds"`
	// Shared marks a baseline round taken over from the main run.
	Shared bool `json:"shared,omitempty"`
	// Phase is the loop phase whose steps the round ran, 1-based (the
	// config's phases[Phase-1]), 0 for the loop's own steps; PhaseTitle is
	// that phase's title.
	Phase      int    `json:"phase,omitempty"`
	PhaseTitle string `json:"phase_title,omitempty"`
	// Started and Finished bound the round in wall-clock time; Finished is
	// zero until the round is done.
	Started  time.Time `json:"started"`
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

// Done reports whether the round got as far as its promotion decision.
func (rd Round) Done() bool { return rd.Status == "" || rd.Status == "done" }

// Score is the student's value of the main metric in round rd.
func (r Run) Score(rd Round) (float64, bool) {
	m := r.MainMetric()
	if m == "" {
		return 0, false
	}
	if v, ok := rd.Metrics[m]; ok {
		return v, true
	}
	return rd.Score, rd.Done() && r.Metric != ""
}

// TeacherScore is the teacher's value of the main metric in round rd.
func (r Run) TeacherScore(rd Round) (float64, bool) {
	m := r.MainMetric()
	if m == "" {
		return 0, false
	}
	if v, ok := rd.Metrics["teacher_"+m]; ok {
		return v, true
	}
	return rd.TeacherScore, rd.Done() && r.Metric != "" && rd.TeacherScore != 0
}

// BaselineScore is the unfiltered baseline's value of the main metric.
func (r Run) BaselineScore(rd Round) (float64, bool) {
	m := r.MainMetric()
	if m == "" || rd.Baseline == nil {
		return 0, false
	}
	if v, ok := rd.Baseline.Metrics[m]; ok {
		return v, true
	}
	return rd.Baseline.Score, r.Metric != ""
}

// Complete fills in what a loop's summary implies but does not state: each
// round's Baseline from the baseline run, and LabelledUpTo from the rounds
// whose generator wrote true labels (metrics gen_labelled = 1 and gen_to,
// as the lab's generators report).
func (r *Run) Complete() {
	if b := r.Baseline; b != nil {
		byIndex := map[int]Round{}
		for _, rd := range b.Rounds {
			if rd.Done() {
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

// Validate checks what would otherwise make a misleading report: rounds out
// of order or repeated, accuracies that are not fractions (a percentage
// passed by mistake), more data kept than generated, negative or non-finite
// numbers.
func (r Run) Validate() error {
	for i, rd := range r.Rounds {
		if i > 0 && rd.Index <= r.Rounds[i-1].Index {
			return fmt.Errorf("summary: round %d follows round %d: rounds must be in increasing order", rd.Index, r.Rounds[i-1].Index)
		}
		if err := rd.Validate(); err != nil {
			return fmt.Errorf("summary: round %d: %w", rd.Index, err)
		}
	}
	if r.LabelledUpTo < 0 {
		return fmt.Errorf("summary: labelled_up_to is %d, want 0 or more", r.LabelledUpTo)
	}
	return nil
}

func (rd Round) Validate() error {
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
	for _, d := range slices.Sorted(maps.Keys(acc)) {
		if a := acc[d]; !(a >= 0 && a <= 1) {
			return fmt.Errorf("%saccuracy at difficulty %d is %v, want a fraction in [0, 1]", what, d, a)
		}
	}
	return nil
}

func checkMetrics(what string, m map[string]float64) error {
	for _, k := range slices.Sorted(maps.Keys(m)) {
		if !finite(m[k]) {
			return fmt.Errorf("%smetric %q is %v", what, k, m[k])
		}
	}
	return nil
}

func finite(f float64) bool { return !math.IsNaN(f) && !math.IsInf(f, 0) }

// MainMetric is the metric that decides promotion, "" when the run names none
// and its rounds report several.
func (r Run) MainMetric() string {
	if r.Metric != "" {
		return r.Metric
	}
	if names := r.MetricNames(); len(names) == 1 {
		return names[0]
	}
	return ""
}

// MetricNames lists every metric any round reports, the main one first,
// then the others sorted.
func (r Run) MetricNames() []string {
	seen := map[string]bool{}
	for _, rd := range r.Rounds {
		for k := range rd.Metrics {
			seen[k] = true
		}
	}
	names := slices.Sorted(maps.Keys(seen))
	if m := r.Metric; m != "" {
		names = slices.DeleteFunc(names, func(s string) bool { return s == m })
		names = append([]string{m}, names...)
	}
	return names
}

// Difficulties lists every difficulty at which any round, or its baseline,
// was evaluated.
func (r Run) Difficulties() []int {
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
	return slices.Sorted(maps.Keys(seen))
}

// HasBaseline reports whether some round has its baseline's accuracy by difficulty.
func (r Run) HasBaseline() bool {
	for _, rd := range r.Rounds {
		if rd.Baseline != nil && len(rd.Baseline.AccuracyByDifficulty) > 0 {
			return true
		}
	}
	return false
}

// HarderMean is the mean accuracy over the difficulties above LabelledUpTo
// (all of them when it is 0), and whether there were any.
func (r Run) HarderMean(acc map[int]float64) (float64, bool) {
	var sum float64
	n := 0
	for _, d := range slices.Sorted(maps.Keys(acc)) { // in order, so the sum is the same every time
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

// HarderLabel describes the problems HarderMean averages over.
func (r Run) HarderLabel() string {
	if r.LabelledUpTo > 0 {
		return fmt.Sprintf("difficulty above %d (unlabelled)", r.LabelledUpTo)
	}
	return "all difficulties"
}

// Decode reads a Run from its JSON form, completes it (Complete) and checks
// it (Validate). Fields it does not know are ignored, so that it reads what
// newer loops write.
func Decode(r io.Reader) (Run, error) {
	var run Run
	if err := json.NewDecoder(r).Decode(&run); err != nil {
		return Run{}, fmt.Errorf("summary: decode: %w", err)
	}
	run.Complete()
	if err := run.Validate(); err != nil {
		return Run{}, err
	}
	return run, nil
}

// ReadFile reads a Run from the JSON file at path (Decode).
func ReadFile(path string) (Run, error) {
	f, err := os.Open(path)
	if err != nil {
		return Run{}, fmt.Errorf("summary: %w", err)
	}
	defer f.Close()
	run, err := Decode(f)
	if err != nil {
		return Run{}, fmt.Errorf("%w (in %s)", err, path)
	}
	return run, nil
}

// WriteFile writes r as indented JSON to path through a rename, so a reader
// never sees half a file.
func (r *Run) WriteFile(path string) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return fmt.Errorf("summary: encode: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("summary: %w", err)
	}
	defer os.Remove(tmp.Name()) // fails harmlessly after the rename
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Chmod(0o644)
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), path)
	}
	if err != nil {
		return fmt.Errorf("summary: write %s: %w", path, err)
	}
	return nil
}
