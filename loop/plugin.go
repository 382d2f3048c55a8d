// Package loop runs the self-learning loop: each round the teacher generates data, a student is trained on it, and the student replaces the teacher when it evaluates better.
package loop

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"path/filepath"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
)

// Model is a model the loop can generate with, train from, evaluate and
// promote: how to open it, plus what a trainer may need to continue from it.
// It is stored in the run store as JSON, so every field must survive a
// round trip through encoding/json.
type Model struct {
	// Config opens the model with model.Open: "local/DIR" for a built-in
	// model, "openai/ft:..." for an OpenAI fine-tune, an OpenAI-compatible
	// server with base_url for anything else.
	Config model.Config `json:"config"`
	// Dir is the model directory of a built-in (engine checkpoint) model, ""
	// for any other.
	Dir string `json:"dir,omitempty"`
	// Serve, when set, is a command that serves the model; the loop starts it
	// when the model is first used, waits until it answers, and stops it when
	// the model is no longer needed or the loop ends. Config.BaseURL may then
	// contain {{.Port}}, replaced by the port the server was given.
	Serve *ServeSpec `json:"serve,omitempty"`
	// Voters are models trained beside this one from other seeds on the
	// same data, for generators that label by a majority vote across
	// models (Lee et al., 2025). The model itself is the one evaluated,
	// served and promoted; its voters travel with it.
	Voters []Model `json:"voters,omitempty"`
}

// Ref is the model's reference, e.g. "local/runs/x/round-001/student".
func (m Model) Ref() string { return m.Config.Ref }

// LocalModel is the Model of a built-in model directory. It drops
// presence_penalty, which the engine does not have, so that pipelines
// written for API teachers (Self-Instruct asks for it) run on it too.
func LocalModel(dir string) Model {
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return Model{Config: model.Config{Ref: "local/" + dir, DropParams: []string{"presence_penalty"}}, Dir: dir}
}

// Round is one round as a generator, trainer or evaluator sees it. The loop
// builds it; plugins read its fields and call its methods. Safe for
// concurrent use by the plugin's goroutines.
type Round struct {
	Index int    // 1-based
	Dir   string // the round's directory inside the run directory; plugins write their files here
	// RunDir is the loop's run directory and ConfigDir the directory of the
	// loop config file, against which relative paths in the config resolve.
	RunDir    string
	ConfigDir string
	// Seed is the loop's seed plus the round index: a plugin derives its
	// randomness from it so a resumed round redoes the same work.
	Seed int64
	// Teacher generates this round's data. It is opened through Open.
	Teacher Model
	// Log receives progress details.
	Log *slog.Logger
	// Reporter shows the progress of a pipeline run inside a generator; nil
	// means none.
	Reporter pipeline.Reporter
	// Budget is the loop's spending cap shared by every model the round
	// opens; nil means unlimited. Plugins that pay outside model calls (a
	// fine-tuning job) charge it themselves.
	Budget *model.Budget
	// Getenv reads the environment (API keys); never nil.
	Getenv func(string) string

	l   *runner
	key string // the current step's key in the round state, for Save/Restore
}

// Path resolves a path from the loop config: relative paths are relative to
// the config file's directory.
func (r *Round) Path(p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(r.ConfigDir, p)
}

// Open opens m with the loop's response cache and budget, starting its
// server first when it has a Serve command. The backend is shared: callers
// must not close it.
func (r *Round) Open(ctx context.Context, m Model) (model.Backend, model.Info, error) {
	return r.l.open(ctx, m)
}

// OpenNamed opens a model of the loop config's models section by name (a
// judge, say).
func (r *Round) OpenNamed(ctx context.Context, name string) (model.Backend, model.Info, error) {
	mc, ok := r.l.cfg.Models[name]
	if !ok {
		return nil, model.Info{}, fmt.Errorf("loop: no model named %q in the models section", name)
	}
	return r.l.openConfig(ctx, name, Model{Config: mc})
}

// ModelConfig returns the config of a model of the loop config's models section.
func (r *Round) ModelConfig(name string) (model.Config, bool) {
	mc, ok := r.l.cfg.Models[name]
	return mc, ok
}

// Save durably records v (JSON) under key for the current step of this
// round, so that the step can pick up where it stopped after a crash: a
// fine-tuning job's id, an uploaded file's id. It is committed before Save
// returns.
func (r *Round) Save(ctx context.Context, key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("loop: save %s: %w", key, err)
	}
	return r.l.saveScratch(ctx, r.Index, r.key+"."+key, b)
}

// Restore reads what Save recorded under key into v; ok is false when
// nothing was saved.
func (r *Round) Restore(key string, v any) (ok bool, err error) {
	b, ok := r.l.scratch(r.Index, r.key+"."+key)
	if !ok {
		return false, nil
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("loop: restore %s: %w", key, err)
	}
	return true, nil
}

// Earlier returns the generator results of the rounds before this one, in
// order (element i is round i+1's), with their metrics and absolute paths:
// a generator whose round depends on how the earlier ones went (a
// curriculum that repeats a difficulty when too few labels were kept) reads
// them here rather than keeping state of its own, so a resumed or baseline
// run sees the same history.
func (r *Round) Earlier() []Data {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	var out []Data
	for _, x := range r.l.s.Rounds {
		if x.Index >= r.Index {
			break
		}
		var d Data
		if x.Gen != nil {
			d = *x.Gen
			d.Path = r.l.absPath(d.Path)
			d.Metrics = maps.Clone(d.Metrics)
		}
		out = append(out, d)
	}
	return out
}

// Progress reports a step's progress (done of total units, total 0 when
// unknown) with a short note such as "loss 1.234". It never blocks for long.
func (r *Round) Progress(done, total int, note string) {
	if r.l.opts.Progress != nil {
		r.l.opts.Progress(Event{Round: r.Index, Step: r.key, Done: done, Total: total, Note: note})
	}
}

// Data is what a generator produced: one training file.
type Data struct {
	// Path is a JSONL file of the Format below (sft and dpo as
	// trainjob.ReadJSONL reads them), usually
	// inside the round's directory.
	Path string `json:"path"`
	// Format is "sft" (conversations: messages, alpaca or sharegpt lines),
	// "dpo" (prompt, chosen, rejected lines), or one a plugin pair agrees on
	// (lab-prompts' "prompts": problems without answers, which lab-train
	// trains on with GRPO). A round's mixture only takes earlier rounds of
	// the same format.
	Format string `json:"format"`
	// Generated counts the records produced and Kept those written to Path.
	Generated int `json:"generated"`
	Kept      int `json:"kept"`
	// CostUSD is what generating cost; Metrics are reported with a "gen_" prefix.
	CostUSD float64            `json:"cost_usd"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// Generator makes one round's training data with the round's teacher. It
// must be resumable: called again for the same round after a crash, it
// continues (or redoes deterministically) rather than paying twice; the
// pipeline generator does this through its run store. Generate blocks until
// the data is written or ctx ends.
type Generator interface {
	Generate(ctx context.Context, r *Round) (Data, error)
}

// DataFile is one file of a training mixture with its sampling weight.
type DataFile struct {
	Path   string  `json:"path"`
	Weight float64 `json:"weight"`
	Round  int     `json:"round"` // the round that generated it
	Kept   int     `json:"kept"`  // its examples
}

// TrainInput is what a trainer trains on.
type TrainInput struct {
	// Data is the mixture: this round's file (newest last) and, by the loop's
	// mix settings, earlier rounds' files. Weights add up to 1.
	Data []DataFile
	// Format is the generator's: "sft", "dpo", or another a trainer knows
	// (the lab's "prompts", problems without answers for RL).
	Format string
	// Previous is the previous round's student (promoted or not), zero in
	// round 1.
	Previous Model
}

// Trained is what a trainer produced.
type Trained struct {
	Student Model `json:"student"`
	// Steps, FirstLoss and LastLoss describe the training run when the
	// trainer knows them.
	Steps     int     `json:"steps"`
	FirstLoss float64 `json:"first_loss"`
	LastLoss  float64 `json:"last_loss"`
	// Log is the training log file (under the round directory).
	Log     string             `json:"log,omitempty"`
	CostUSD float64            `json:"cost_usd"`
	Metrics map[string]float64 `json:"metrics,omitempty"`
}

// ErrTrainingFailed marks a training failure that belongs to the round
// rather than to the loop: a fine-tuning job the provider failed or
// cancelled. The loop records the round as not promoted with the error as
// its reason and goes on; any other error stops the loop.
var ErrTrainingFailed = errors.New("loop: training failed")

// Trainer trains the round's student from the round's data. It must be
// resumable: called again for the same round after a crash, it continues
// the training it started (from a checkpoint, or by polling the job it
// created, whose id it keeps with Round.Save) instead of starting another.
type Trainer interface {
	Train(ctx context.Context, r *Round, in TrainInput) (Trained, error)
}

// Eval is an evaluation of the student against the teacher.
type Eval struct {
	// Metric names the compared score, e.g. "accuracy" or "win_rate".
	Metric string `json:"metric"`
	// Student and Teacher are the compared scores, higher is better: the
	// student is promoted when Student > Teacher + margin. For a pairwise
	// judge Student is the win rate (ties count half) and Teacher 0.5.
	Student float64 `json:"student"`
	Teacher float64 `json:"teacher"`
	// Metrics are further numbers for the report.
	Metrics map[string]float64 `json:"metrics,omitempty"`
	// ByDifficulty is accuracy per difficulty for student and teacher when
	// the held-out items have difficulties.
	ByDifficulty        map[int]float64 `json:"by_difficulty,omitempty"`
	TeacherByDifficulty map[int]float64 `json:"teacher_by_difficulty,omitempty"`
	CostUSD             float64         `json:"cost_usd"`
}

// Evaluator compares the student with the teacher on held-out data. It
// should be deterministic (greedy decoding, fixed seeds) so that a resumed
// evaluation, served from the response cache, gives the same result.
type Evaluator interface {
	Evaluate(ctx context.Context, r *Round, student, teacher Model) (Eval, error)
}
