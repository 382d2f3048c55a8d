package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/review"
	"github.com/synthloop/synthloop/store"
)

func newJudgeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "judge",
		Short: "Tools for LLM judges",
	}
	cmd.AddCommand(newCalibrateCmd())
	return cmd
}

func newCalibrateCmd() *cobra.Command {
	var (
		cfg         judge.Config
		pipe        string
		cacheDir    string
		concurrency int
		asJSON      bool
		fromReview  string
		stage       string
	)
	cmd := &cobra.Command{
		Use:   "calibrate (LABELS.jsonl | --from-review RUN_DIR) --models PIPELINE.yaml (--judge-model NAME | --panel A,B,...)",
		Short: "Measure a judge's agreement with human labels",
		Long: `Score a labelled set with a judge and report how well it agrees with the humans.
Each line of LABELS.jsonl is {"prompt", "answer", "score"} (a human score) or
{"prompt", "answer_a", "answer_b", "preference": "a"|"b"|"tie"}. Scored lines give
Spearman's rho, Kendall's tau-b and pairwise ordering accuracy; preference lines give the
share where the judge (both orders, a win only when both agree) picks what the human picked.
Replies without a usable score are counted as errors, never given a made-up score.

--from-review RUN_DIR takes the labels from the decisions people made in 'synthloop review'
on that run (--stage to keep one stage): each reviewed record's prompt and answer as the
pipeline wrote them, scored 2 if accepted, 1 if edited, 0 if rejected.

The judge's models come from the models section of a pipeline file (--models). With
--cache-dir, answers are cached there, so a rerun pays nothing.`,
		Example: `  synthloop judge calibrate labels.jsonl --models examples/judge-panel.yaml --judge-model judge
  synthloop judge calibrate labels.jsonl --models pipeline.yaml --panel judge_a,judge_b --aggregate majority --json
  synthloop judge calibrate --from-review runs/demo --models pipeline.yaml --judge-model judge`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if pipe == "" || (cfg.Model == "" && len(cfg.Panel) == 0) {
				return fmt.Errorf("%w: calibrate needs --models and --judge-model or --panel", errUsage)
			}
			pc, err := pipeline.LoadConfig(pipe)
			if err != nil {
				return configFile(err)
			}
			if err := cfg.Validate(); err != nil {
				return err
			}
			mopts := model.Options{Getenv: os.Getenv}
			if cacheDir != "" {
				st, err := store.Open(cmd.Context(), cacheDir)
				if err != nil {
					return err
				}
				defer st.Close()
				mopts.Cache = st
			}
			open := func(name string) (judge.Backend, error) {
				mc, ok := pc.Models[name]
				if !ok {
					return judge.Backend{}, fmt.Errorf("%w: no model named %q in %s", errUsage, name, pipe)
				}
				b, info, err := model.Open(cmd.Context(), name, mc, mopts)
				if err != nil {
					return judge.Backend{}, err
				}
				return judge.Backend{Backend: b, Name: name, Provider: info.Provider, Model: info.Model}, nil
			}
			var labels io.Reader
			switch {
			case len(args) == 1 && fromReview == "":
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				labels = f
			case len(args) == 0 && fromReview != "":
				run, err := store.OpenReadOnly(cmd.Context(), fromReview)
				if err != nil {
					return err
				}
				defer run.Close()
				var b bytes.Buffer
				n, err := review.Labels(cmd.Context(), run, stage, &b)
				if err != nil {
					return err
				}
				if n == 0 {
					return fmt.Errorf("%w: %s has no reviewed record with an answer; review it first (synthloop review)", errUsage, fromReview)
				}
				labels = &b
			default:
				return fmt.Errorf("%w: calibrate needs either LABELS.jsonl or --from-review RUN_DIR", errUsage)
			}
			cal, err := judge.CalibrateConfig(cmd.Context(), labels, &cfg, open, concurrency)
			if err != nil {
				return err
			}
			if asJSON {
				return json.NewEncoder(cmd.OutOrStdout()).Encode(cal)
			}
			fmt.Fprintln(cmd.OutOrStdout(), cal.String())
			return nil
		},
	}
	f := cmd.Flags()
	f.StringVar(&pipe, "models", "", "pipeline file whose models section defines the judges")
	f.StringVar(&cfg.Model, "judge-model", "", "the judge's model name")
	f.StringSliceVar(&cfg.Panel, "panel", nil, "several judge model names (a panel)")
	f.StringVar(&cfg.Aggregate, "aggregate", "mean", "panel aggregation: mean or majority")
	f.IntVar(&cfg.Samples, "samples", 3, "times each answer is scored and averaged")
	f.StringVar(&cfg.Structured, "structured", "", "ask the judge for JSON of its schema: off, auto, native or prompt")
	f.StringVar(&cacheDir, "cache-dir", "", "run directory to cache judge answers in")
	f.IntVar(&concurrency, "concurrency", 8, "labels judged at once")
	f.BoolVar(&asJSON, "json", false, "print the result as JSON")
	f.StringVar(&fromReview, "from-review", "", "take the labels from the review decisions of this run directory")
	f.StringVar(&stage, "stage", "", "with --from-review: only this stage's records")
	return cmd
}
