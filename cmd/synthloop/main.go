// Command synthloop generates synthetic training data with LLMs, filters it,
// and runs the self-learning loop. See `synthloop --help`.
package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	_ "github.com/synthloop/synthloop/all" // registers every stage, provider and loop plugin
	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/pipeline"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:]))
}

// exitTempFail is the exit code of a run that left units undone after
// transient failures (server errors, rate limits, timeouts): sysexits.h's
// EX_TEMPFAIL, "try again later", which is what running the same command
// again does.
const exitTempFail = 75

// run executes the CLI and returns the process exit code: 0 on success, 1 on
// error, 2 on bad usage or config, 75 when units failed for transient causes
// and a rerun will retry them, 130 after a clean stop on Ctrl-C or budget.
func run(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRoot()
	root.SetArgs(args)
	err := root.ExecuteContext(ctx)
	switch {
	case err == nil:
		return 0
	case errors.Is(err, pipeline.ErrStopped) || errors.Is(err, errStopped):
		fmt.Fprintln(os.Stderr, "synthloop:", err)
		return 130
	case errors.Is(err, pipeline.ErrTransient):
		fmt.Fprintln(os.Stderr, "synthloop:", err)
		return exitTempFail
	default:
		fmt.Fprintln(os.Stderr, "synthloop:", err)
		var ce pipeline.ConfigErrors
		var one *pipeline.ConfigError
		if errors.As(err, &ce) || errors.As(err, &one) || errors.Is(err, errUsage) || errors.Is(err, export.ErrUnknownFormat) {
			return 2
		}
		return 1
	}
}

// configFile wraps the error of loading a config file named on the command
// line: a file that is not there is a usage error (exit 2), as a bad one is.
func configFile(err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	return err
}

var (
	errUsage   = errors.New("usage")
	errStopped = errors.New("stopped")
)

func newRoot() *cobra.Command {
	root := &cobra.Command{
		Use:   "synthloop",
		Short: "Generate, judge and filter synthetic LLM training data, and run the self-learning loop",
		Long: `synthloop drives teacher models (OpenAI, Anthropic, any OpenAI-compatible server such as
vLLM, Ollama, llama.cpp, TGI or LM Studio) to generate training data (Self-Instruct,
document-grounded QA, FAQ expansion, Evol-Instruct, multi-turn conversations), judges and
filters it (LLM judges, verifiers, reject sampling, self-rewarding, dedup), keeps every record
with its provenance in a durable run store (SQLite in the run directory), exports it in the
formats trainers read, trains students in its built-in engine, through the OpenAI fine-tuning
API or any external trainer, and runs the self-learning loop: generate, train, evaluate, promote.

Runs are resumable: after a crash, kill -9 or Ctrl-C, running the same command again
continues where it stopped, without losing or duplicating records and without paying
twice for a request that already got its answer. Work that failed for a transient cause
(a server error, a rate limit, a timeout, an outage) is never recorded as failed: the run
exits 75 and running the same command again retries it.`,
		Example: `  synthloop demo                                  # offline, no API key: a model teaches itself (about 9 min on 2 cores)
  synthloop demo selfinstruct                     # offline Self-Instruct against a built-in stand-in
  synthloop run examples/selfinstruct-openai.yaml  # a real run (needs OPENAI_API_KEY)
  synthloop status runs/selfinstruct-openai
  synthloop export runs/selfinstruct-openai --format alpaca --out data.jsonl
  synthloop loop examples/loop-distill.yaml        # the self-learning loop
  synthloop report runs/loop-distill               # its HTML report and plots`,
		SilenceUsage:  true,
		SilenceErrors: true,
		Version:       version,
	}
	root.AddCommand(newRunCmd(), newStatusCmd(), newExportCmd(), newModelsCmd(), newStagesCmd(), newDemoCmd(), newServeCmd(), newSampleCmd(), newTrainCmd(), newExportGGUFCmd(), newJudgeCmd(), newReportCmd(), newLoopCmd(), newMergeCmd(), newReviewCmd())
	return root
}
