// Package openaift is the loop's `openai` trainer: the OpenAI fine-tuning jobs API (upload, create, poll with events), whose fine-tuned model becomes the student.
package openaift

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	sdk "github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/packages/param"

	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/loop/mixfile"
	"github.com/synthloop/synthloop/model"
	_ "github.com/synthloop/synthloop/model/openai" // opens the fine-tuned students
)

func init() {
	loop.RegisterTrainer(loop.Type[loop.Trainer]{
		Name: "openai",
		Doc: `Fine-tunes through the OpenAI fine-tuning jobs API (or a compatible service): writes the
round's data mixture as one JSONL file in the API's format (chat messages, or preference
pairs for DPO), uploads it with purpose fine-tune, creates a job and polls it, showing its
status, events and training loss. The fine-tuned model (ft:...) is the student, served by
the same provider config. The file and job ids are kept in the run store: a loop killed
while the job runs resumes polling the same job, and never creates a second job for a
round. A job the provider fails or that is cancelled ends the round as not promoted.`,
		Example: `train:
  type: openai
  with:
    provider: teacher              # the models entry whose connection (base_url, api_key_env) to use
    base_model: gpt-4o-mini-2024-07-18
    n_epochs: 3
    suffix: synthloop
    price_per_mtok: 3.0            # USD per million trained tokens, for max_cost_usd`,
		Config: func() any { return &Config{PollInterval: model.Duration(30 * time.Second)} },
		New:    func(c any) (loop.Trainer, error) { return New(c.(*Config)) },
	})
}

// Config is the `with:` block of the openai trainer.
type Config struct {
	// Provider names the loop model whose connection the API calls use (its
	// provider, base_url and api_key_env); default: the round's teacher.
	Provider string `yaml:"provider" doc:"Loop model whose connection the API calls use (default: the round's teacher)"`
	// BaseModel is fine-tuned when the teacher is not already a fine-tune on
	// the same connection (and always with init: base).
	BaseModel string `yaml:"base_model" doc:"Model fine-tuned when the teacher is not already a fine-tune (and with init: base)"`
	// Init is teacher (default: continue from the teacher when it is a
	// fine-tune on this connection) or base (always from base_model).
	Init                   string         `yaml:"init" doc:"teacher (continue from a fine-tuned teacher) or base (always from base_model)"`
	Method                 string         `yaml:"method" doc:"supervised or dpo (empty: follow the data)"`
	NEpochs                int            `yaml:"n_epochs" doc:"Epochs (0: the API's choice)"`
	BatchSize              int            `yaml:"batch_size" doc:"Batch size (0: the API's choice)"`
	LearningRateMultiplier float64        `yaml:"learning_rate_multiplier" doc:"Learning-rate multiplier (0: the API's choice)"`
	Beta                   float64        `yaml:"beta" doc:"DPO strength (0: the API's choice)"`
	Suffix                 string         `yaml:"suffix" doc:"Suffix of the fine-tuned model's name"`
	Seed                   int64          `yaml:"seed" doc:"Seed of the job (0: the round's seed)"`
	Examples               int            `yaml:"examples" doc:"Size of the uploaded mixture (0: the newest round's examples over its weight)"`
	PollInterval           model.Duration `yaml:"poll_interval" doc:"Wait between job status polls"`
	// PricePerMTok is the training price in USD per million trained tokens,
	// charged against max_cost_usd; unset counts training as free.
	PricePerMTok *float64 `yaml:"price_per_mtok" doc:"Training price in USD per million tokens, charged to max_cost_usd (unset: free)"`
}

// ModelNames lists the provider for the loop's check of model names.
func (c *Config) ModelNames() []string { return []string{c.Provider} }

// Validate checks the settings.
func (c *Config) Validate() error {
	if c.BaseModel == "" {
		return errors.New("base_model: required (the model the first round fine-tunes, e.g. gpt-4o-mini-2024-07-18)")
	}
	switch c.Init {
	case "", "teacher", "base":
	default:
		return fmt.Errorf("init %q: want teacher or base", c.Init)
	}
	switch c.Method {
	case "", "supervised", "dpo":
	default:
		return fmt.Errorf("method %q: want supervised or dpo", c.Method)
	}
	if c.NEpochs < 0 || c.BatchSize < 0 || c.LearningRateMultiplier < 0 || c.Beta < 0 || c.Examples < 0 || c.PollInterval < 0 {
		return errors.New("n_epochs, batch_size, learning_rate_multiplier, beta, examples and poll_interval must not be negative")
	}
	if c.PricePerMTok != nil && *c.PricePerMTok < 0 {
		return errors.New("price_per_mtok must not be negative")
	}
	return nil
}

// Trainer runs fine-tuning jobs.
type Trainer struct{ c *Config }

// New returns the trainer of a config.
func New(c *Config) (*Trainer, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	return &Trainer{c: c}, nil
}

// Keys of what the trainer saves in the round state.
const (
	keyFile     = "file_id"
	keyToken    = "token"
	keyJob      = "job_id"
	keyProgress = "progress"
)

// MetadataKey is the job metadata key that ties a job to its loop round, so
// a loop killed between creating a job and recording its id finds the job
// instead of creating a second one.
const MetadataKey = "synthloop_key"

type progress struct {
	LastEvent string  `json:"last_event,omitempty"`
	Steps     int     `json:"steps"`
	FirstLoss float64 `json:"first_loss"`
	LastLoss  float64 `json:"last_loss"`
	HasLoss   bool    `json:"has_loss"`
}

type conn struct {
	cfg      model.Config
	provider string
	files    sdk.FileService
	jobs     sdk.FineTuningJobService
}

func (t *Trainer) connect(r *loop.Round) (*conn, error) {
	mc := r.Teacher.Config
	name := "the teacher"
	if t.c.Provider != "" {
		var ok bool
		if mc, ok = r.ModelConfig(t.c.Provider); !ok {
			return nil, fmt.Errorf("openaift: no model named %q in the models section", t.c.Provider)
		}
		name = t.c.Provider
	}
	ref, err := model.ParseRef(mc.Ref)
	if err != nil {
		return nil, fmt.Errorf("openaift: provider (%s): %w", name, err)
	}
	base := strings.TrimRight(mc.BaseURL, "/")
	if base == "" {
		if ref.Provider != "openai" {
			return nil, fmt.Errorf("openaift: %s (%s) has no base_url; set provider: to an OpenAI or OpenAI-compatible model entry", name, mc.Ref)
		}
		base = "https://api.openai.com/v1"
	}
	keyEnv := mc.APIKeyEnv
	if keyEnv == "" && ref.Provider == "openai" {
		keyEnv = "OPENAI_API_KEY"
	}
	key := ""
	if keyEnv != "" {
		key = strings.TrimSpace(r.Getenv(keyEnv))
		if key == "" {
			return nil, fmt.Errorf("openaift: no API key: set the environment variable %s", keyEnv)
		}
	}
	opts := []option.RequestOption{option.WithBaseURL(base + "/"), option.WithMaxRetries(3)}
	if key != "" {
		opts = append(opts, option.WithAPIKey(key))
	}
	return &conn{cfg: mc, provider: ref.Provider, files: sdk.NewFileService(opts...), jobs: sdk.NewFineTuningJobService(opts...)}, nil
}

// Train implements loop.Trainer.
func (t *Trainer) Train(ctx context.Context, r *loop.Round, in loop.TrainInput) (loop.Trained, error) {
	c := t.c
	cn, err := t.connect(r)
	if err != nil {
		return loop.Trained{}, err
	}
	method := c.Method
	if method == "" {
		method = "supervised"
		if in.Format == "dpo" {
			method = "dpo"
		}
	}
	var jobID string
	if _, err := r.Restore(keyJob, &jobID); err != nil {
		return loop.Trained{}, err
	}
	if jobID == "" {
		if jobID, err = t.start(ctx, r, cn, in, method); err != nil {
			return loop.Trained{}, err
		}
	}
	return t.poll(ctx, r, cn, jobID)
}

// start uploads the data and creates the job, or finds the job an earlier
// process created, and records its id.
func (t *Trainer) start(ctx context.Context, r *loop.Round, cn *conn, in loop.TrainInput, method string) (string, error) {
	c := t.c
	var token string
	if _, err := r.Restore(keyToken, &token); err != nil {
		return "", err
	}
	if token == "" {
		b := make([]byte, 12)
		rand.Read(b)
		token = fmt.Sprintf("r%03d-%s", r.Index, hex.EncodeToString(b))
		if err := r.Save(ctx, keyToken, token); err != nil {
			return "", err
		}
	} else {
		// Killed after creating the job but before recording it?
		page, err := cn.jobs.List(ctx, sdk.FineTuningJobListParams{Metadata: map[string]string{MetadataKey: token}})
		if err != nil {
			return "", fmt.Errorf("openaift: list jobs: %w", err)
		}
		for _, j := range page.Data {
			if j.Metadata[MetadataKey] == token {
				r.Log.Info("openaift: found the job an earlier run created", "job", j.ID)
				return j.ID, r.Save(ctx, keyJob, j.ID)
			}
		}
	}
	var fileID string
	if _, err := r.Restore(keyFile, &fileID); err != nil {
		return "", err
	}
	if fileID == "" {
		path := filepath.Join(r.Dir, "train-openai.jsonl")
		total := c.Examples
		if total == 0 {
			total = mixfile.Total(in.Data)
		}
		n, err := mixfile.Write(path, in.Data, total, r.Seed, mixfile.OpenAI)
		if err != nil {
			return "", err
		}
		f, err := os.Open(path)
		if err != nil {
			return "", fmt.Errorf("openaift: %w", err)
		}
		r.Progress(0, 0, fmt.Sprintf("uploading %d examples", n))
		fo, err := cn.files.New(ctx, sdk.FileNewParams{File: sdk.File(f, fmt.Sprintf("synthloop-round-%03d.jsonl", r.Index), "application/jsonl"), Purpose: sdk.FilePurposeFineTune})
		f.Close()
		if err != nil {
			return "", fmt.Errorf("openaift: upload %s: %w", path, err)
		}
		fileID = fo.ID
		if err := r.Save(ctx, keyFile, fileID); err != nil {
			return "", err
		}
	}
	if r.Budget.Exceeded() {
		return "", fmt.Errorf("openaift: not starting a fine-tuning job: %w", model.ErrBudgetExceeded)
	}
	base := c.BaseModel
	if c.Init != "base" && r.Teacher.Config.BaseURL == cn.cfg.BaseURL {
		if ref, err := model.ParseRef(r.Teacher.Ref()); err == nil && ref.Provider == cn.provider && strings.HasPrefix(ref.Model, "ft:") {
			base = ref.Model
		}
	}
	p := sdk.FineTuningJobNewParams{
		Model:        sdk.FineTuningJobNewParamsModel(base),
		TrainingFile: fileID,
		Metadata:     map[string]string{MetadataKey: token, "synthloop_round": fmt.Sprint(r.Index)},
	}
	if c.Suffix != "" {
		p.Suffix = sdk.String(c.Suffix)
	}
	if c.Seed != 0 {
		p.Seed = sdk.Int(c.Seed)
	}
	p.Method = method_(c, method)
	job, err := cn.jobs.New(ctx, p, option.WithMaxRetries(0))
	if err != nil {
		return "", fmt.Errorf("openaift: create job: %w", err)
	}
	r.Log.Info("openaift: created job", "job", job.ID, "model", base, "file", fileID)
	return job.ID, r.Save(ctx, keyJob, job.ID)
}

func method_(c *Config, method string) sdk.FineTuningJobNewParamsMethod {
	if method == "dpo" {
		var h sdk.DpoHyperparameters
		c.hyperparameters(&h.NEpochs.OfInt, &h.BatchSize.OfInt, &h.LearningRateMultiplier.OfFloat)
		if c.Beta > 0 {
			h.Beta.OfFloat = sdk.Float(c.Beta)
		}
		return sdk.FineTuningJobNewParamsMethod{Type: "dpo", Dpo: sdk.DpoMethodParam{Hyperparameters: h}}
	}
	var h sdk.SupervisedHyperparameters
	c.hyperparameters(&h.NEpochs.OfInt, &h.BatchSize.OfInt, &h.LearningRateMultiplier.OfFloat)
	return sdk.FineTuningJobNewParamsMethod{Type: "supervised", Supervised: sdk.SupervisedMethodParam{Hyperparameters: h}}
}

// hyperparameters sets the settings both methods take, through pointers:
// the SDK gives each method its own types for the same fields. A zero
// setting stays unset, the API's choice.
func (c *Config) hyperparameters(nEpochs, batchSize *param.Opt[int64], lrMultiplier *param.Opt[float64]) {
	if c.NEpochs > 0 {
		*nEpochs = sdk.Int(int64(c.NEpochs))
	}
	if c.BatchSize > 0 {
		*batchSize = sdk.Int(int64(c.BatchSize))
	}
	if c.LearningRateMultiplier > 0 {
		*lrMultiplier = sdk.Float(c.LearningRateMultiplier)
	}
}

// poll waits for the job to end, logging its new events and loss.
func (t *Trainer) poll(ctx context.Context, r *loop.Round, cn *conn, jobID string) (loop.Trained, error) {
	var pr progress
	if _, err := r.Restore(keyProgress, &pr); err != nil {
		return loop.Trained{}, err
	}
	logPath := filepath.Join(r.Dir, "train.log")
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return loop.Trained{}, fmt.Errorf("openaift: %w", err)
	}
	defer lf.Close()
	enc := json.NewEncoder(lf)
	interval := t.c.PollInterval.Std()
	if interval <= 0 {
		interval = 30 * time.Second
	}
	total := 0
	for {
		job, err := cn.jobs.Get(ctx, jobID)
		if err != nil {
			return loop.Trained{}, fmt.Errorf("openaift: job %s: %w", jobID, err)
		}
		evs, err := newEvents(ctx, cn, jobID, pr.LastEvent)
		if err != nil {
			return loop.Trained{}, err
		}
		for _, ev := range evs {
			enc.Encode(map[string]any{"time": time.Unix(ev.CreatedAt, 0).UTC(), "level": ev.Level, "type": ev.Type, "message": ev.Message, "data": ev.Data})
			if m, ok := ev.Data.(map[string]any); ok && ev.Type == "metrics" {
				step, _ := m["step"].(float64)
				ts, _ := m["total_steps"].(float64)
				if loss, ok := m["train_loss"].(float64); ok {
					if !pr.HasLoss {
						pr.FirstLoss, pr.HasLoss = loss, true
					}
					pr.LastLoss = loss
				}
				pr.Steps, total = int(step), int(ts)
			} else {
				r.Log.Info("openaift: "+ev.Message, "job", jobID)
			}
			pr.LastEvent = ev.ID
		}
		if len(evs) > 0 {
			if err := r.Save(ctx, keyProgress, pr); err != nil {
				return loop.Trained{}, err
			}
		}
		note := fmt.Sprintf("job %s %s", jobID, job.Status)
		if pr.HasLoss {
			note += fmt.Sprintf(" loss %.4f", pr.LastLoss)
		}
		r.Progress(pr.Steps, total, note)
		switch job.Status {
		case sdk.FineTuningJobStatusSucceeded:
			if job.FineTunedModel == "" {
				return loop.Trained{}, fmt.Errorf("%w: job %s succeeded without a fine_tuned_model", loop.ErrTrainingFailed, jobID)
			}
			cost := 0.0
			if t.c.PricePerMTok != nil {
				cost = float64(job.TrainedTokens) * *t.c.PricePerMTok / 1e6
				r.Budget.Charge(cost)
			}
			student := cn.cfg
			student.Ref = cn.provider + "/" + job.FineTunedModel
			return loop.Trained{
				Student: loop.Model{Config: student}, Steps: pr.Steps, FirstLoss: pr.FirstLoss, LastLoss: pr.LastLoss,
				Log: logPath, CostUSD: cost, Metrics: map[string]float64{"trained_tokens": float64(job.TrainedTokens)},
			}, nil
		case sdk.FineTuningJobStatusFailed:
			msg := job.Error.Message
			if job.Error.Code != "" {
				msg = job.Error.Code + ": " + msg
			}
			return loop.Trained{}, fmt.Errorf("%w: job %s failed: %s", loop.ErrTrainingFailed, jobID, msg)
		case sdk.FineTuningJobStatusCancelled:
			return loop.Trained{}, fmt.Errorf("%w: job %s was cancelled", loop.ErrTrainingFailed, jobID)
		}
		select {
		case <-ctx.Done():
			return loop.Trained{}, fmt.Errorf("openaift: stopped polling job %s (it keeps running; run again to resume polling): %w", jobID, ctx.Err())
		case <-time.After(interval):
		}
	}
}

// newEvents returns the job's events after lastSeen, oldest first. The API
// lists events newest first, a page at a time.
func newEvents(ctx context.Context, cn *conn, jobID, lastSeen string) ([]sdk.FineTuningJobEvent, error) {
	var out []sdk.FineTuningJobEvent
	after := ""
	for range 20 {
		q := sdk.FineTuningJobListEventsParams{Limit: sdk.Int(50)}
		if after != "" {
			q.After = sdk.String(after)
		}
		page, err := cn.jobs.ListEvents(ctx, jobID, q)
		if err != nil {
			return nil, fmt.Errorf("openaift: job %s events: %w", jobID, err)
		}
		done := !page.HasMore || len(page.Data) == 0
		for _, ev := range page.Data {
			if ev.ID == lastSeen {
				done = true
				break
			}
			out = append(out, ev)
		}
		if done {
			break
		}
		after = page.Data[len(page.Data)-1].ID
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out, nil
}
