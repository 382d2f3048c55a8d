package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/synthloop/synthloop/store"
)

// Summary is what a loop run did, round by round, in plain values for
// reports. Load reads it from a run directory at any time, also while the
// loop is running (the last round then has Status other than "done").
//
// Every field is filled by the loop from what its generator, trainer and
// evaluator reported; fields a plugin did not report stay at their zero
// value (nil maps, 0 counts). Metric values are fractions in [0, 1] for
// accuracies and win rates, not percentages.
type Summary struct {
	// Name is the loop config's name; Config its file.
	Name   string `json:"name"`
	Config string `json:"config"`
	// Description is the loop config's description, as written.
	Description string `json:"description,omitempty"`
	// RunDir is the directory Load read.
	RunDir string `json:"run_dir"`
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
	Stopped string         `json:"stopped,omitempty"`
	Rounds  []RoundSummary `json:"rounds"`
	// CostUSD and CPUSeconds add up the rounds.
	CostUSD    float64 `json:"cost_usd"`
	CPUSeconds float64 `json:"cpu_seconds"`
	// Baseline is the loop's control run (the config's baseline block),
	// nil when it has none or it has not started; its Description is the
	// baseline's title.
	Baseline *Summary `json:"baseline,omitempty"`
}

// RoundSummary is one round of a Summary.
type RoundSummary struct {
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
	// Started and Finished bound the round in wall-clock time; Finished is
	// zero until the round is done.
	Started  time.Time `json:"started"`
	Finished time.Time `json:"finished,omitzero"`
}

// ErrNoLoop is returned (wrapped) by Load for a directory that holds no loop run.
var ErrNoLoop = errors.New("loop: no loop run in this directory")

// Load reads the Summary of the loop run in dir. It opens the run store
// read-only, so it may be called while the loop runs.
func Load(ctx context.Context, dir string) (*Summary, error) {
	if _, err := os.Stat(filepath.Join(dir, store.FileName)); err != nil {
		return nil, fmt.Errorf("loop: load %s: %w", dir, ErrNoLoop)
	}
	st, err := store.OpenReadOnly(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("loop: load %s: %w", dir, err)
	}
	defer st.Close()
	s, ok, err := readState(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("loop: load %s: %w", dir, err)
	}
	if !ok {
		return nil, fmt.Errorf("loop: load %s: %w", dir, ErrNoLoop)
	}
	sum := s.summary()
	sum.RunDir = dir
	if b, err := Load(ctx, filepath.Join(dir, BaselineDir)); err == nil {
		sum.Baseline = b
	} else if !errors.Is(err, ErrNoLoop) {
		return nil, err
	}
	return sum, nil
}

// WriteJSON writes the summary as indented JSON to path, atomically.
func (s *Summary) WriteJSON(path string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return fmt.Errorf("loop: summary: %w", err)
	}
	return writeFileAtomic(path, append(b, '\n'))
}
