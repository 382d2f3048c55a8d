// Package builtin is the loop's `builtin` trainer: the engine's SFT or DPO (trainjob) on the round's data mixture, into a model directory served in-process as local/DIR.
package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/synthloop/synthloop/loop"
	_ "github.com/synthloop/synthloop/model/local" // opens the local/DIR students this trainer makes
	"github.com/synthloop/synthloop/trainjob"
)

func init() {
	loop.RegisterTrainer(loop.Type[loop.Trainer]{
		Name: "builtin",
		Doc: `Trains a built-in LLaMA-style model with the engine (SFT on assistant tokens, or DPO)
on the round's data mixture, checkpointing into round-NNN/student so a killed round resumes
at its last checkpoint. The student starts from scratch (a new model of preset size with a
tokenizer built from the data), from the teacher's directory (init: teacher, for a built-in
teacher; an API teacher falls back to base), from the previous round's student
(init: previous), or from a base model directory (init: base). DPO needs a starting model,
which is also the frozen reference.`,
		Example: `train:
  type: builtin
  with:
    init: scratch      # scratch, teacher, previous or base (with base: DIR)
    preset: tiny       # tiny (2 layers, d=128) or small (6 layers, d=384)
    steps: 300
    batch: 16
    lr: 1e-3`,
		Config: func() any {
			return &Config{Init: "scratch", Preset: "tiny", Tokenizer: "char", Steps: 200, Batch: 16, LR: 1e-3, Warmup: 10, Schedule: "cosine"}
		},
		New: func(c any) (loop.Trainer, error) { return New(c.(*Config)) },
	})
}

// Config is the `with:` block of the builtin trainer; the training options
// are trainjob's (see `synthloop train --help`).
type Config struct {
	Method string `yaml:"method" doc:"sft or dpo (empty: follow the data)"`
	Init   string `yaml:"init" doc:"Where the student starts: scratch, teacher, previous or base"`
	// Base is a model directory: the start for init: base, and for init:
	// teacher or previous when there is no built-in model to start from.
	Base      string  `yaml:"base" doc:"Model directory to start from with init: base, or when there is no built-in model"`
	Preset    string  `yaml:"preset" doc:"Size of a new model (see synthloop train --help)"`
	Tokenizer string  `yaml:"tokenizer" doc:"Tokenizer of a new model: char or bpe"`
	BPEVocab  int     `yaml:"bpe_vocab" doc:"Vocabulary size of a new BPE tokenizer (0: 1024)"`
	Steps     int     `yaml:"steps" doc:"Training steps"`
	Batch     int     `yaml:"batch" doc:"Sequences (SFT) or pairs (DPO) per step"`
	Seq       int     `yaml:"seq" doc:"Sequence length in tokens (0: the model's)"`
	LR        float64 `yaml:"lr" doc:"Peak learning rate"`
	Warmup    int     `yaml:"warmup" doc:"Warmup steps"`
	Schedule  string  `yaml:"schedule" doc:"Learning-rate schedule: cosine or constant"`
	Beta      float64 `yaml:"beta" doc:"DPO strength (0: 0.1)"`
	NLL       float64 `yaml:"nll" doc:"Weight of the chosen answer's NLL added to DPO (RPO); 0 is plain DPO"`
	SaveEvery int     `yaml:"save_every" doc:"Steps between checkpoints (0: a tenth of the steps)"`
	Seed      uint64  `yaml:"seed" doc:"Seed of weights and data order (0: the round's seed)"`

	dir string
}

// SetLoop implements the loop's config hook.
func (c *Config) SetLoop(l *loop.Config) { c.dir = l.Dir() }

// Validate checks the settings that need no data.
func (c *Config) Validate() error {
	switch c.Init {
	case "scratch", "teacher", "previous":
	case "base":
		if c.Base == "" {
			return errors.New("init: base needs base: a model directory")
		}
	default:
		return fmt.Errorf("init %q: want scratch, teacher, previous or base", c.Init)
	}
	if c.Method != "" && c.Method != "sft" && c.Method != "dpo" {
		return fmt.Errorf("method %q: want sft or dpo", c.Method)
	}
	if _, ok := trainjob.Presets[c.Preset]; !ok {
		return fmt.Errorf("preset %q: want tiny or small", c.Preset)
	}
	if c.Steps <= 0 || c.Batch <= 0 || c.LR <= 0 || c.Warmup < 0 || c.Warmup >= c.Steps {
		return errors.New("steps, batch and lr must be positive and warmup in [0, steps)")
	}
	return nil
}

// Trainer runs trainjob.
type Trainer struct{ c *Config }

// New returns the trainer of a validated config.
func New(c *Config) (*Trainer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Trainer{c: c}, nil
}

// Train implements loop.Trainer.
func (t *Trainer) Train(ctx context.Context, r *loop.Round, in loop.TrainInput) (loop.Trained, error) {
	c := t.c
	method := c.Method
	if method == "" {
		method = "sft"
		if in.Format == "dpo" {
			method = "dpo"
		}
	}
	base := c.Base
	if base != "" && !filepath.IsAbs(base) && c.dir != "" {
		base = filepath.Join(c.dir, base)
	}
	init := ""
	switch c.Init {
	case "teacher":
		init = r.Teacher.Dir
		if init == "" && base == "" {
			return loop.Trained{}, fmt.Errorf("builtin: init: teacher, but the teacher %q is not a built-in model; set base: to a model directory to start from instead", r.Teacher.Ref())
		}
	case "previous":
		init = in.Previous.Dir
	}
	if init == "" && c.Init != "scratch" {
		init = base
	}
	if method == "dpo" && init == "" {
		return loop.Trained{}, errors.New("builtin: dpo needs a starting model (the reference): set init: teacher, previous or base")
	}
	out := filepath.Join(r.Dir, "student")
	logPath := filepath.Join(r.Dir, "train.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return loop.Trained{}, fmt.Errorf("builtin: %w", err)
	}
	defer lf.Close()
	enc := json.NewEncoder(lf)
	o := trainjob.Options{
		Out: out, Init: init, Preset: c.Preset, Tokenizer: c.Tokenizer, BPEVocab: c.BPEVocab,
		Method: method, Beta: c.Beta, NLL: c.NLL, Steps: c.Steps, Batch: c.Batch, Seq: c.Seq, LR: c.LR,
		Warmup: c.Warmup, Schedule: c.Schedule, Seed: c.Seed, SaveEvery: c.SaveEvery,
		Progress: func(p trainjob.Progress) {
			enc.Encode(map[string]any{"step": p.Step, "steps": p.Steps, "loss": p.Loss, "lr": p.LR, "tokens_per_sec": p.TokensPerSec})
			r.Progress(p.Step, p.Steps, fmt.Sprintf("loss %.4f", p.Loss))
		},
	}
	if o.Seed == 0 {
		o.Seed = uint64(r.Seed)
	}
	for _, d := range in.Data {
		o.Data = append(o.Data, trainjob.DataFile{Path: d.Path, Weight: d.Weight})
	}
	res, err := trainjob.Run(ctx, o)
	if err != nil && ctx.Err() == nil && strings.Contains(err.Error(), "holds a training state that does not fit") {
		// A kill in the middle of a checkpoint save leaves files that do not
		// match, and a changed config (--allow-config-change) a state of
		// another job: either way the round trains again from the start,
		// keeping the old directory for inspection.
		aside := fmt.Sprintf("%s.unusable-%d", out, time.Now().Unix())
		for i := 2; ; i++ {
			if _, err := os.Stat(aside); errors.Is(err, fs.ErrNotExist) {
				break
			}
			aside = fmt.Sprintf("%s.unusable-%d-%d", out, time.Now().Unix(), i)
		}
		r.Log.Warn("builtin: the student's checkpoint cannot be resumed; training again from the start", "err", err, "moved_to", aside)
		if rerr := os.Rename(out, aside); rerr != nil {
			return loop.Trained{}, fmt.Errorf("builtin: %w (and moving it aside failed: %v)", err, rerr)
		}
		fmt.Fprintf(lf, "{\"restart\": %q}\n", err.Error())
		res, err = trainjob.Run(ctx, o)
	}
	if err != nil {
		return loop.Trained{}, err
	}
	from := "scratch"
	if init != "" {
		from = init
	}
	r.Log.Info("builtin: trained", "out", out, "from", from, "steps", res.Steps, "loss", res.LastLoss)
	return loop.Trained{
		Student: loop.LocalModel(out), Steps: res.Steps, FirstLoss: res.FirstLoss, LastLoss: res.LastLoss, Log: logPath,
		Metrics: map[string]float64{"params": float64(res.Params), "examples": float64(res.Examples)},
	}, nil
}
