package main

import (
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/progress"
	"github.com/synthloop/synthloop/store"
)

func newRunCmd() *cobra.Command {
	var (
		runDir      string
		stages      []string
		allowChange bool
		jsonProg    bool
	)
	cmd := &cobra.Command{
		Use:   "run PIPELINE.yaml",
		Short: "Run a pipeline into a run directory (resumes when the directory already holds a run)",
		Long: `Run the stages of a pipeline file in order, committing each finished unit of work to
the run store (run.db in the run directory). Running the same command again after a crash,
kill or Ctrl-C resumes: finished units are skipped and requests that already got an answer
are served from the response cache.

Progress shows as live bars on a terminal and as JSON lines otherwise (or with --json).
Exit status: 0 done, 1 failed, 2 bad config or usage, 130 stopped cleanly (Ctrl-C or
max_cost_usd reached; run again to resume).`,
		Example: `  synthloop run examples/selfinstruct-openai.yaml
  synthloop run pipeline.yaml --run-dir runs/try2
  synthloop run pipeline.yaml --stage instances     # only this stage (earlier ones must be done)`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := pipeline.LoadConfig(args[0])
			if err != nil {
				return configFile(err)
			}
			if runDir == "" {
				runDir = defaultRunDir(cfg)
			}
			return runPipeline(cmd, cfg, runDir, pipeline.Options{Stages: stages, AllowConfigChange: allowChange}, jsonProg)
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory (default runs/<pipeline name>)")
	cmd.Flags().StringSliceVar(&stages, "stage", nil, "run only these stages (repeatable); earlier stages must be complete")
	cmd.Flags().BoolVar(&allowChange, "allow-config-change", false, "resume even though the pipeline file changed since the run started")
	cmd.Flags().BoolVar(&jsonProg, "json", false, "report progress as JSON lines even on a terminal")
	return cmd
}

func defaultRunDir(cfg *pipeline.Config) string {
	name := cfg.Name
	if name == "" {
		name = filepath.Base(cfg.Source)
		name = name[:len(name)-len(filepath.Ext(name))]
	}
	return filepath.Join("runs", name)
}

// runPipeline opens the run store, runs the pipeline with progress on stderr
// and prints a summary.
func runPipeline(cmd *cobra.Command, cfg *pipeline.Config, runDir string, opts pipeline.Options, jsonProg bool) error {
	ctx := cmd.Context()
	st, err := store.Open(ctx, runDir)
	if err != nil {
		return err
	}
	defer st.Close()
	errOut := cmd.ErrOrStderr()
	tty := !jsonProg && isTerminal(errOut)
	interval := time.Second
	if tty {
		interval = 200 * time.Millisecond
	}
	rep := progress.New(errOut, tty, interval)
	opts.Store = st
	opts.Cache = st
	opts.Reporter = rep
	opts.Getenv = os.Getenv
	opts.Version = version
	warn := &warnings{w: errOut}
	if opts.Log == nil {
		opts.Log = slog.New(warn.handler())
	}
	fmt.Fprintf(errOut, "synthloop: running %s into %s\n", cfg.Source, runDir)
	if stats, err := st.Stats(ctx); err == nil && len(stats) > 0 {
		// Say where a rerun picks up, so a resume is not mistaken for a
		// fresh start (or the other way round).
		var done []string
		for _, s := range stats {
			done = append(done, fmt.Sprintf("%s %d units (%d kept)", s.Stage, s.Units, s.Kept))
		}
		fmt.Fprintf(errOut, "synthloop: resuming; already done: %s\n", strings.Join(done, ", "))
	}
	err = pipeline.Run(ctx, cfg, opts)
	rep.Close()
	if serr := warn.save(ctx, st); err == nil {
		err = serr
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "done: %s\n", runDir)
	return printStatus(cmd, st, runDir)
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
