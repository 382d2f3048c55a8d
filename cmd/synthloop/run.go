package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
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
		retryFailed bool
		giveUp      bool
		maxCost     float64
		shardFlag   string
		shards      int
		dry         bool
		samples     int
		previewN    int
		stagedRun   bool
	)
	cmd := &cobra.Command{
		Use:   "run PIPELINE.yaml",
		Short: "Run a pipeline into a run directory (resumes when the directory already holds a run)",
		Long: `Run the stages of a pipeline file, committing each finished unit of work to the run
store (run.db in the run directory). Running the same command again after a crash,
kill or Ctrl-C resumes: finished units are skipped and requests that already got an answer
are served from the response cache.

The stages run at once: a per-record stage (generate, judge, reject, evol, conversation,
derive, tools, reasoning, codet, preference, selfreward, faq, selfinstruct-instances) takes
each kept record of the stage before it as soon as that record is committed, so a slow
model's tail in one stage no longer holds up the next. A stage that needs its whole input
(load, sample, dedup, selfinstruct, problems, docqa, and any stage with limit, seeds or
batch: true) waits for the stage before it to end. The records, their IDs and order, and
the exports are the same as running the stages one after another, which --staged does.

A failure is either transient (HTTP 5xx, 429, a timeout, a connection error, an overloaded
server, or a refusal of every request such as a rejected API key) or permanent (the server
refused this request, e.g. HTTP 400, or its reply cannot be used). A unit of work that
failed for a transient cause is not committed: the stage finishes its other units (and the
streaming stages after it the records it made), no stage that needs its whole input starts,
the run exits 75, and running the same command again retries it.
A permanent failure is recorded on its record (status failed) and stays there;
--retry-failed does those units again too (a stage already done that reads its whole
input at once, such as dedup, does not see what they make then). When a few requests keep
failing transiently for good (a server that always times out on one prompt), and the run
should finish without them, --give-up-transient records those failures on their records as
permanent ones; a later --retry-failed redoes them.

A model or stage with batch: true sends its requests through the provider's batch API at
half price: the stage's requests are collected into one batch, and the run waits for it
(up to 24 hours). Ctrl-C leaves the batch running at the provider; running the same
command again collects it, and never creates a second batch for the same requests.

Progress shows as live bars on a terminal and as JSON lines otherwise (or with --json).
Exit status: 0 done, 1 failed, 2 bad config or usage, 75 units failed for transient
causes (run again to retry them), 130 stopped cleanly (Ctrl-C or max_cost_usd reached;
run again to resume).

The cost cap (max_cost_usd, or --max-cost) counts everything the run has paid, across
reruns. A run stopped by it stops again at once when rerun under the same cap; to continue,
rerun with a higher --max-cost (or raise max_cost_usd: a change of the cap alone does not
need --allow-config-change).

Sharded runs split one pipeline among N processes, on one machine or many, that share
nothing but the config file: --shard I/N runs shard I (from 0) of N; --shards N takes I
from the scheduler, JOB_COMPLETION_INDEX in a Kubernetes Indexed Job or SLURM_ARRAY_TASK_ID
less SLURM_ARRAY_TASK_MIN in a Slurm job array. Each shard writes its own run store in
RUN_DIR/shard-I-of-N and resumes like any run. Work is split by a hash of its name:
loaded records by their IDs, seeds, documents and generation batches by their keys,
and every later per-record stage works on the records of its own shard. Self-Instruct
shards bootstrap on their own, each to its share of the target. Whole-input stages
(dedup, decontamination, ROUGE-L novelty) run over the shard's share; synthloop merge
runs them again over every shard's records.

--dry-run estimates before spending: the pipeline runs with every model call answered by a
placeholder and counted instead of sent, into a throwaway directory, and the command prints
per stage and model the requests, input tokens (with OpenAI's tokenizer for OpenAI models,
estimated otherwise), output tokens, cost at list price, with the prompt cache, through the
batch API and with both, and the time at the models' limits, then a sample prompt of each
stage. No key is needed. Stages that stop at a target or retry unusable replies depend on what
the replies say, so their counts are estimates; --preview N runs N units of each stage for
real (this costs money) into a throwaway directory and prints the records.`,
		Example: `  synthloop run examples/selfinstruct-openai.yaml
  synthloop run pipeline.yaml --run-dir runs/try2
  synthloop run pipeline.yaml --stage instances     # only this stage (earlier ones must be done)
  synthloop run pipeline.yaml --retry-failed        # also redo the units whose records failed for good
  synthloop run pipeline.yaml --give-up-transient   # finish: record what still fails transiently as failed
  synthloop run pipeline.yaml --max-cost 20         # continue a run stopped at its cost cap, up to $20 in all
  synthloop run pipeline.yaml --shard 2/4           # shard 2 of 4, into runs/NAME/shard-2-of-4
  synthloop run pipeline.yaml --shards 4 --run-dir /data/runs/x   # index from the Kubernetes or Slurm variables
  synthloop run pipeline.yaml --dry-run             # what it would send and cost; nothing is sent
  synthloop run pipeline.yaml --preview 3           # 3 units per stage for real, printed, then thrown away`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := pipeline.LoadConfig(args[0])
			if err != nil {
				return configFile(err)
			}
			if runDir == "" {
				runDir = defaultRunDir(cfg)
			}
			if maxCost < 0 {
				return fmt.Errorf("%w: --max-cost must not be negative, got %g", errUsage, maxCost)
			}
			if dry && previewN > 0 {
				return fmt.Errorf("%w: --dry-run and --preview are separate: pick one", errUsage)
			}
			if previewN < 0 || samples < 0 {
				return fmt.Errorf("%w: --preview and --samples must not be negative", errUsage)
			}
			if dry {
				return dryRun(cmd, cfg, samples)
			}
			opts := pipeline.Options{Stages: stages, AllowConfigChange: allowChange, RetryFailed: retryFailed, GiveUpTransient: giveUp, MaxCostUSD: maxCost, Staged: stagedRun}
			if previewN > 0 {
				return preview(cmd, cfg, previewN, opts, jsonProg)
			}
			if opts.Shard, err = shardOf(shardFlag, shards, os.Getenv); err != nil {
				return err
			}
			if opts.Shard.Sharded() {
				runDir = filepath.Join(runDir, opts.Shard.DirName())
			}
			return runPipeline(cmd, cfg, runDir, opts, jsonProg)
		},
	}
	cmd.Flags().StringVar(&runDir, "run-dir", "", "run directory (default runs/<pipeline name>)")
	cmd.Flags().StringSliceVar(&stages, "stage", nil, "run only these stages (repeatable); earlier stages must be complete")
	cmd.Flags().BoolVar(&allowChange, "allow-config-change", false, "resume even though the pipeline file changed since the run started")
	cmd.Flags().Float64Var(&maxCost, "max-cost", 0, "cap on what the whole run may spend, in USD, replacing max_cost_usd (0: keep max_cost_usd); raise it to continue a run stopped at its cap")
	cmd.Flags().BoolVar(&jsonProg, "json", false, "report progress as JSON lines even on a terminal")
	cmd.Flags().BoolVar(&giveUp, "give-up-transient", false, "record units that fail for transient causes as failed, like permanent failures, instead of leaving them for a rerun (a model down still stops the run)")
	cmd.Flags().StringVar(&shardFlag, "shard", "", "run shard I (from 0) of N of a sharded run, as I/N, into RUN_DIR/shard-I-of-N; merge the shards with synthloop merge")
	cmd.Flags().IntVar(&shards, "shards", 0, "run one of N shards, its index from JOB_COMPLETION_INDEX (Kubernetes Indexed Job) or SLURM_ARRAY_TASK_ID less SLURM_ARRAY_TASK_MIN (Slurm array)")
	cmd.Flags().BoolVar(&dry, "dry-run", false, "send nothing: estimate the run's requests, tokens, cost and time with placeholder replies, and show a sample prompt per stage")
	cmd.Flags().IntVar(&samples, "samples", 1, "with --dry-run: sample prompts shown per stage (0 for none)")
	cmd.Flags().IntVar(&previewN, "preview", 0, "run at most N units of each stage for real into a throwaway run directory and print the records")
	cmd.Flags().BoolVar(&stagedRun, "staged", false, "run the stages one after another, each once the one before has ended, instead of streaming records between them (same results)")
	cmd.Flags().BoolVar(&retryFailed, "retry-failed", false, "also redo the units whose records failed permanently (units that failed for transient causes are retried by every run)")
	return cmd
}

// shardOf is the shard the flags ask for: --shard I/N, or --shards N with
// the index from the scheduler's variables; neither is an unsharded run.
func shardOf(flag string, count int, getenv func(string) string) (pipeline.Shard, error) {
	switch {
	case flag != "" && count != 0:
		return pipeline.Shard{}, fmt.Errorf("%w: pass --shard I/N or --shards N, not both", errUsage)
	case flag != "":
		s, err := pipeline.ParseShard(flag)
		if err != nil {
			return s, fmt.Errorf("%w: --shard: %w", errUsage, err)
		}
		return s, nil
	case count != 0:
		s, err := pipeline.ShardFromEnv(count, getenv)
		if err != nil {
			return s, fmt.Errorf("%w: %w", errUsage, err)
		}
		return s, nil
	}
	return pipeline.Shard{}, nil
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
	sayResume(ctx, errOut, st, opts)
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

// sayResume says where a rerun picks up, so that a resume is not mistaken
// for a fresh start (or the other way round), and what it will retry.
func sayResume(ctx context.Context, w io.Writer, st *store.Store, opts pipeline.Options) {
	stats, err := st.Stats(ctx)
	if err != nil || len(stats) == 0 {
		return
	}
	var done, failed []string
	for _, s := range stats {
		done = append(done, fmt.Sprintf("%s %d units (%d kept)", s.Stage, s.Units, s.Kept))
		if s.Failed > 0 && (len(opts.Stages) == 0 || slices.Contains(opts.Stages, s.Stage)) {
			failed = append(failed, fmt.Sprintf("%s %d", s.Stage, s.Failed))
		}
	}
	fmt.Fprintf(w, "synthloop: resuming; already done: %s\n", strings.Join(done, ", "))
	if undone, err := pipeline.ReadUndone(ctx, st); err == nil && len(undone) > 0 {
		var left []string
		for _, u := range undone {
			left = append(left, fmt.Sprintf("%s %d", u.Stage, u.Units))
		}
		fmt.Fprintf(w, "synthloop: retrying the units that failed for transient causes: %s\n", strings.Join(left, ", "))
	}
	if opts.RetryFailed && len(failed) > 0 {
		fmt.Fprintf(w, "synthloop: --retry-failed: redoing the units of the failed records: %s\n", strings.Join(failed, ", "))
	}
}

func isTerminal(w any) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
