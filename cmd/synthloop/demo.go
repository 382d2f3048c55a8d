package main

import (
	"context"
	"embed"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/store"
)

//go:embed demo/*.yaml
var demoFiles embed.FS

func newDemoSelfInstructCmd() *cobra.Command {
	var (
		runDir   string
		lang     string
		jsonProg bool
	)
	cmd := &cobra.Command{
		Use:   "selfinstruct",
		Short: "Run Self-Instruct end to end offline, with no API key, against a built-in scripted teacher",
		Long: `Run the whole Self-Instruct pipeline offline: bootstrap instructions from the built-in
seed tasks, filter them (length, blacklist, punctuation, ROUGE-L novelty), classify them,
generate instances, filter those, store everything in a run directory and export it as
Alpaca JSONL and a Hugging Face dataset folder.

The teacher here is a scripted stand-in (package model/scripted) served over a local
OpenAI-compatible HTTP server that the command starts itself: it writes plausible-looking
tasks from templates, with the kinds of defects the filters exist to catch. It is not a
language model, and the data it makes is only good for seeing the machinery work. Point a
pipeline at a real model with 'synthloop run' (see examples/).

Run it again with the same --run-dir and it resumes (or, when finished, does nothing).`,
		Example: `  synthloop demo selfinstruct
  synthloop demo selfinstruct --lang ja`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			file := "demo/selfinstruct-" + lang + ".yaml"
			text, err := demoFiles.ReadFile(file)
			if err != nil {
				return fmt.Errorf("%w: --lang must be en or ja", errUsage)
			}
			cfg, err := pipeline.ParseConfig("(built-in) "+file, text)
			if err != nil {
				return err
			}
			if runDir == "" {
				runDir = defaultRunDir(cfg)
			}
			teacher := scripted.New(cfg.Seed)
			srv := modeltest.NewServer(teacher.Responder())
			defer srv.Close()
			opts := pipeline.Options{
				OpenModel: func(ctx context.Context, name string, mc model.Config, mo model.Options) (model.Backend, model.Info, error) {
					mc.BaseURL = srv.URL
					return model.Open(ctx, name, mc, mo)
				},
			}
			if err := runPipeline(cmd, cfg, runDir, opts, jsonProg); err != nil {
				return err
			}
			return demoExports(cmd, runDir)
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory (default runs/demo-selfinstruct, or runs/demo-selfinstruct-ja)")
	cmd.Flags().StringVar(&lang, "lang", "en", "seed set and prompt language: en or ja")
	cmd.Flags().BoolVar(&jsonProg, "json", false, "report progress as JSON lines even on a terminal")
	return cmd
}

func demoExports(cmd *cobra.Command, runDir string) error {
	st, err := store.OpenReadOnly(cmd.Context(), runDir)
	if err != nil {
		return err
	}
	defer st.Close()
	out := cmd.OutOrStdout()
	for _, e := range []struct{ format, path string }{
		{"alpaca", filepath.Join(runDir, "export", "alpaca.jsonl")},
		{"hf", filepath.Join(runDir, "export", "hf")},
	} {
		c, err := export.Write(cmd.Context(), st, export.Options{Format: e.format}, e.path)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "exported %d records as %s to %s\n", c.Written, e.format, e.path)
	}
	fmt.Fprintf(out, "\nnext: synthloop status %s\n      synthloop review %s --sample 50    # look at the data, accept or reject, measure its quality\n      synthloop export %s --stage instructions --include-rejected --format openai --out audit.jsonl\n", runDir, runDir, runDir)
	return nil
}
