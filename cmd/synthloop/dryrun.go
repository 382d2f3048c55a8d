package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/estimate"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// dryRun runs cfg against placeholder replies into a throwaway store and
// prints what the real run would send and cost. No model is contacted.
func dryRun(cmd *cobra.Command, cfg *pipeline.Config, samples int) error {
	ctx := cmd.Context()
	dir, err := os.MkdirTemp("", "synthloop-dry-run-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	st, err := store.Open(ctx, dir)
	if err != nil {
		return err
	}
	defer st.Close()
	est := estimate.New(estimate.Options{Seed: cfg.Seed, Samples: max(samples, 1)})
	errOut := cmd.ErrOrStderr()
	fmt.Fprintf(errOut, "synthloop: dry run of %s: placeholder replies, no model is contacted\n", cfg.Source)
	err = pipeline.Run(ctx, cfg, pipeline.Options{
		Store: st, Reporter: est, OpenModel: est.Open, Getenv: os.Getenv, Version: version,
		// Stages' warnings are about placeholder replies, not the run.
		Log: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		return fmt.Errorf("dry run: %w", err)
	}
	est.Report().Write(cmd.OutOrStdout(), samples > 0)
	return nil
}

// preview runs at most n units per stage for real into a throwaway run
// directory and prints the records they made.
func preview(cmd *cobra.Command, cfg *pipeline.Config, n int, opts pipeline.Options, jsonProg bool) error {
	dir, err := os.MkdirTemp("", "synthloop-preview-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	opts.MaxUnits = n
	fmt.Fprintf(cmd.ErrOrStderr(), "synthloop: preview: at most %d units per stage, for real, into a throwaway run directory\n", n)
	if err := runPipeline(cmd, cfg, dir, opts, jsonProg); err != nil {
		return err
	}
	st, err := store.OpenReadOnly(cmd.Context(), dir)
	if err != nil {
		return err
	}
	defer st.Close()
	return printRecords(cmd.Context(), cmd.OutOrStdout(), st, cfg)
}

func printRecords(ctx context.Context, w io.Writer, st *store.Store, cfg *pipeline.Config) error {
	for _, sc := range cfg.Stages {
		fmt.Fprintf(w, "\n=== %s (%s)\n", sc.Name, sc.Type)
		for r, err := range st.Records(ctx, sc.Name, "") {
			if err != nil {
				return err
			}
			writeRecord(w, r)
		}
	}
	return nil
}

func writeRecord(w io.Writer, r *record.Record) {
	fmt.Fprintf(w, "- %s [%s]", r.ID, r.Status)
	if r.Error != "" {
		fmt.Fprintf(w, " %s", oneLine(r.Error, 200))
	}
	for _, d := range r.Decisions {
		if !d.Passed {
			fmt.Fprintf(w, " rejected by %s: %s", d.Filter, oneLine(d.Reason, 120))
		}
	}
	fmt.Fprintln(w)
	field := func(name, v string) {
		if v != "" {
			fmt.Fprintf(w, "    %s: %s\n", name, oneLine(v, 300))
		}
	}
	field("instruction", r.Instruction)
	field("input", r.Input)
	field("output", r.Output)
	field("chosen", r.Chosen)
	field("rejected", r.Rejected)
	for _, t := range r.Messages {
		field(t.Role, strings.TrimSpace(t.Content))
	}
}
