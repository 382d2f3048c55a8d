// Package pipelinegen is the loop's `pipeline` generator: any pipeline, run with the round's teacher in place of one of its models, its kept records exported as training JSONL.
package pipelinegen

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"maps"
	"path/filepath"
	"regexp"

	"github.com/goccy/go-yaml"

	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/store"
)

func init() {
	loop.RegisterGenerator(loop.Type[loop.Generator]{
		Name: "pipeline",
		Doc: `Runs a pipeline (inline under pipeline:, or from pipeline_file:) each round with the
round's teacher in place of the pipeline's model named by teacher_model, in its own run
store under round-NNN/gen (so a killed round resumes unit by unit), and exports the kept
records of the last stage (or stage:) as training JSONL in format openai (SFT) or dpo.
Round r runs with the pipeline's seed + r - 1. The loop's max_cost_usd caps the spending;
a max_cost_usd inside the pipeline is ignored.`,
		Example: `generate:
  type: pipeline
  with:
    teacher_model: teacher   # the pipeline model replaced by the loop's teacher
    format: openai           # or dpo for preference pairs
    pipeline:
      name: gen
      models:
        teacher: {ref: openai/gpt-4o-mini}
      stages:
        - {type: selfinstruct, with: {model: teacher, target: 200}}
        - {type: selfinstruct-instances, with: {model: teacher}}`,
		Config: func() any { return &Config{TeacherModel: "teacher", Format: "openai"} },
		New:    func(c any) (loop.Generator, error) { return New(c.(*Config)) },
	})
}

// Config is the `with:` block of a pipeline generator.
type Config struct {
	// Pipeline is the pipeline inline; PipelineFile a path to one (relative
	// to the loop config). Exactly one is set. An inline pipeline without a
	// models section uses the loop's models.
	Pipeline     loop.YAML `yaml:"pipeline" doc:"The pipeline config inline (or pipeline_file)"`
	PipelineFile string    `yaml:"pipeline_file" doc:"Path of a pipeline config, relative to the loop config"`
	TeacherModel string    `yaml:"teacher_model" doc:"Pipeline model the round's teacher replaces"`
	// Format is the export format of the training file: openai (default),
	// alpaca or sharegpt for SFT, dpo for preference pairs.
	Format string `yaml:"format" doc:"Export format of the training file: openai, alpaca, sharegpt or dpo"`
	Stage  string `yaml:"stage" doc:"Stage whose kept records are exported (default: the last)"`

	dir    string
	models map[string]model.Config
	parsed *pipeline.Config
}

// SetLoop implements the loop's config hook.
func (c *Config) SetLoop(l *loop.Config) { c.dir, c.models = l.Dir(), l.Models }

// Validate parses the pipeline and checks that it has the teacher model.
func (c *Config) Validate() error {
	switch {
	case c.Pipeline.IsZero() && c.PipelineFile == "":
		return errors.New("pipeline or pipeline_file is required")
	case !c.Pipeline.IsZero() && c.PipelineFile != "":
		return errors.New("pipeline and pipeline_file are both set; keep one")
	}
	switch c.Format {
	case "openai", "alpaca", "sharegpt", "dpo":
	default:
		return fmt.Errorf("format %q: want openai, alpaca, sharegpt or dpo", c.Format)
	}
	if c.TeacherModel == "" {
		c.TeacherModel = "teacher"
	}
	var err error
	if c.PipelineFile != "" {
		path := c.PipelineFile
		if !filepath.IsAbs(path) && c.dir != "" {
			path = filepath.Join(c.dir, path)
		}
		c.parsed, err = pipeline.LoadConfig(path)
	} else {
		y := c.Pipeline
		text := y.Text
		if !hasModels.Match(text) && len(c.models) > 0 {
			// An inline pipeline without models uses the loop's.
			head, err := modelsYAML(c.models)
			if err != nil {
				return err
			}
			if t := bytes.TrimSpace(text); len(t) > 0 && t[0] == '{' {
				// Flow style: its one line cannot follow a block; write it as a block.
				var m yaml.MapSlice
				if err := yaml.Unmarshal(t, &m); err != nil {
					return y.Fix(&pipeline.ConfigError{File: y.File, Msg: "invalid YAML: " + err.Error()}, "generate.with.pipeline")
				}
				if text, err = yaml.Marshal(m); err != nil {
					return fmt.Errorf("pipelinegen: %w", err)
				}
			}
			text = append(head, text...)
			y.Line -= bytes.Count(head, []byte("\n"))
		}
		c.parsed, err = pipeline.ParseConfig(y.File, text)
		err = y.Fix(err, "generate.with.pipeline")
	}
	if err != nil {
		return err
	}
	if _, ok := c.parsed.Models[c.TeacherModel]; !ok {
		msg := fmt.Sprintf("teacher_model %q: the pipeline has no model of that name to replace with the loop's teacher", c.TeacherModel)
		if c.PipelineFile == "" {
			return &pipeline.ConfigError{File: c.Pipeline.File, Line: c.Pipeline.Line, Column: c.Pipeline.Column, Field: "generate.with.teacher_model", Msg: msg}
		}
		return errors.New(msg)
	}
	if c.Stage != "" {
		found := false
		for _, s := range c.parsed.Stages {
			found = found || s.Name == c.Stage
		}
		if !found {
			return fmt.Errorf("stage %q: the pipeline has no stage of that name", c.Stage)
		}
	}
	return nil
}

var hasModels = regexp.MustCompile(`(?m)^models\s*:`)

// modelsYAML renders models as a pipeline's models section.
func modelsYAML(models map[string]model.Config) ([]byte, error) {
	b, err := yaml.MarshalWithOptions(map[string]any{"models": models}, yaml.OmitEmpty())
	if err != nil {
		return nil, fmt.Errorf("pipelinegen: %w", err)
	}
	return b, nil
}

// Generator runs the pipeline.
type Generator struct{ c *Config }

// New returns the generator of a validated config.
func New(c *Config) (*Generator, error) {
	if c.parsed == nil {
		if err := c.Validate(); err != nil {
			return nil, err
		}
	}
	return &Generator{c: c}, nil
}

// Generate implements loop.Generator.
func (g *Generator) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	if r.Teacher.Ref() == "" {
		return loop.Data{}, errors.New("pipelinegen: the loop config names no teacher to generate with")
	}
	cfg := *g.c.parsed
	cfg.Models = maps.Clone(cfg.Models)
	cfg.Models[g.c.TeacherModel] = r.Teacher.Config
	cfg.Seed += int64(r.Index - 1)
	cfg.MaxCostUSD = 0

	st, err := store.Open(ctx, filepath.Join(r.Dir, "gen"))
	if err != nil {
		return loop.Data{}, err
	}
	defer st.Close()
	// Money spent on this round before a restart counts against the cap.
	before, err := st.SpentUSD(ctx)
	if err != nil {
		return loop.Data{}, err
	}
	r.Budget.Charge(before)
	err = pipeline.Run(ctx, &cfg, pipeline.Options{
		Store: st, Cache: st, Reporter: r.Reporter, Log: r.Log, Round: r.Index,
		// The loop checks its own config for changes; the pipeline is part of it.
		AllowConfigChange: true,
		OpenModel: func(ctx context.Context, name string, mc model.Config, _ model.Options) (model.Backend, model.Info, error) {
			if name == g.c.TeacherModel {
				return r.Open(ctx, r.Teacher)
			}
			return r.Open(ctx, loop.Model{Config: mc})
		},
	})
	if err != nil {
		return loop.Data{}, err
	}
	spent, err := st.SpentUSD(ctx)
	if err != nil {
		return loop.Data{}, err
	}
	out := filepath.Join(r.Dir, "data.jsonl")
	d := loop.Data{Path: out, Format: "sft", CostUSD: spent}
	if g.c.Format == "dpo" {
		d.Format = "dpo"
	}
	counts, exportErr := export.Write(ctx, st, export.Options{Format: g.c.Format, Stage: g.c.Stage}, out)
	if exportErr != nil && !errors.Is(exportErr, export.ErrEmpty) {
		return loop.Data{}, exportErr
	}
	stage := counts.Stage
	if stage == "" {
		stage = g.c.Stage
		if stage == "" {
			stage = cfg.Stages[len(cfg.Stages)-1].Name
		}
	}
	if d.Generated, err = st.Count(ctx, stage, ""); err != nil {
		return loop.Data{}, err
	}
	d.Kept = counts.Written
	if exportErr != nil || d.Kept == 0 {
		d.Path, d.Kept = "", 0
	}
	if d.Generated > 0 {
		d.Metrics = map[string]float64{"yield": float64(d.Kept) / float64(d.Generated)}
	}
	return d, nil
}
