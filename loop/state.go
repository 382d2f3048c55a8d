package loop

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"time"
)

// stateKey is the run-store meta key that holds the loop's state as JSON.
// The whole state is rewritten at every step: it is a few kilobytes, and one
// value committed in one transaction can never be half-written.
const stateKey = "loop.state"

// state is everything the loop has done, as committed to the run store.
type state struct {
	Version     int     `json:"version"`
	Name        string  `json:"name"`
	Description string  `json:"description,omitempty"`
	Config      string  `json:"config"`
	ConfigHash  string  `json:"config_hash"`
	Metric      string  `json:"metric"`
	Margin      float64 `json:"margin"`
	// Teacher is the current teacher: the initial one, or the last promoted student.
	Teacher Model         `json:"teacher"`
	Rounds  []*roundState `json:"rounds"`
	Stopped string        `json:"stopped,omitempty"`
}

// Steps of a round, in order; a round's Status is the step it is at.
const (
	stepGenerate = "generate"
	stepTrain    = "train"
	stepEvaluate = "evaluate"
	stepDone     = "done"
)

type roundState struct {
	Index   int   `json:"index"`
	Teacher Model `json:"teacher"`
	// Each step's result, nil until the step finished.
	Gen   *Data      `json:"gen,omitempty"`
	Mix   []DataFile `json:"mix,omitempty"`
	Train *Trained   `json:"train,omitempty"`
	// TrainFailed is the reason of a training failure that ended the round
	// (ErrTrainingFailed): the round is then done and not promoted.
	TrainFailed string `json:"train_failed,omitempty"`
	Eval        *Eval  `json:"eval,omitempty"`
	Done        bool   `json:"done"`
	// Shared marks a round a baseline took over from its main run.
	Shared bool `json:"shared,omitempty"`
	// Phase is the phase the round ran, 1-based (Config.Phases[Phase-1]),
	// 0 for the loop's own steps; nil until the round's steps are chosen
	// (and in run directories from before phases were recorded).
	Phase      *int   `json:"phase,omitempty"`
	PhaseTitle string `json:"phase_title,omitempty"`
	Promoted   bool   `json:"promoted"`
	Reason     string `json:"reason,omitempty"`
	// CPU is the CPU seconds of the steps finished so far.
	CPU float64 `json:"cpu_seconds"`
	// Scratch is what plugins saved with Round.Save, by step and key.
	Scratch  map[string]json.RawMessage `json:"scratch,omitempty"`
	Started  time.Time                  `json:"started"`
	Finished time.Time                  `json:"finished,omitzero"`
}

func (r *roundState) status() string {
	switch {
	case r.Done:
		return stepDone
	case r.Gen == nil:
		return stepGenerate
	case r.Train == nil:
		return stepTrain
	default:
		return stepEvaluate
	}
}

func (r *roundState) cost() float64 {
	c := 0.0
	if r.Gen != nil {
		c += r.Gen.CostUSD
	}
	if r.Train != nil {
		c += r.Train.CostUSD
	}
	if r.Eval != nil {
		c += r.Eval.CostUSD
	}
	return c
}

// metaReader is the part of the run store the state is read from.
type metaReader interface {
	MetaValue(ctx context.Context, key string) (string, bool, error)
}

func readState(ctx context.Context, st metaReader) (*state, bool, error) {
	v, ok, err := st.MetaValue(ctx, stateKey)
	if err != nil || !ok {
		return nil, false, err
	}
	s := &state{}
	if err := json.Unmarshal([]byte(v), s); err != nil {
		return nil, false, fmt.Errorf("loop: corrupt state in the run store: %w", err)
	}
	return s, true, nil
}

func (s *state) summary() *Summary {
	sum := &Summary{Name: s.Name, Description: s.Description, Config: s.Config, Metric: s.Metric, Margin: s.Margin, Teacher: s.Teacher.Ref(), Stopped: s.Stopped}
	for _, r := range s.Rounds {
		rs := RoundSummary{
			Index: r.Index, Status: r.status(), Teacher: r.Teacher.Ref(),
			Promoted: r.Promoted, Reason: r.Reason, CostUSD: r.cost(), CPUSeconds: r.CPU, Shared: r.Shared,
			Started: r.Started, Finished: r.Finished, PhaseTitle: r.PhaseTitle,
		}
		if r.Phase != nil {
			rs.Phase = *r.Phase
		}
		metrics := map[string]float64{}
		if g := r.Gen; g != nil {
			metrics["gen_cost_usd"] = g.CostUSD
			rs.Generated, rs.Kept = g.Generated, g.Kept
			rs.Data = g.Path
			for k, v := range g.Metrics {
				metrics["gen_"+k] = v
			}
		}
		if t := r.Train; t != nil {
			rs.Student = t.Student.Ref()
			rs.TrainSteps, rs.FirstLoss, rs.TrainLoss = t.Steps, t.FirstLoss, t.LastLoss
			rs.TrainLog = t.Log
			metrics["train_cost_usd"] = t.CostUSD
			for k, v := range t.Metrics {
				metrics["train_"+k] = v
			}
		}
		if e := r.Eval; e != nil {
			rs.Score, rs.TeacherScore = e.Student, e.Teacher
			metrics["eval_cost_usd"] = e.CostUSD
			maps.Copy(metrics, e.Metrics)
			rs.AccuracyByDifficulty = e.ByDifficulty
			rs.TeacherAccuracyByDifficulty = e.TeacherByDifficulty
		}
		if len(metrics) > 0 {
			rs.Metrics = metrics
		}
		sum.CostUSD += rs.CostUSD
		sum.CPUSeconds += rs.CPUSeconds
		sum.Rounds = append(sum.Rounds, rs)
	}
	return sum
}
