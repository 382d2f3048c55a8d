package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/stage/codet"
	"github.com/synthloop/synthloop/stage/evol"
	"github.com/synthloop/synthloop/stage/preference"
	"github.com/synthloop/synthloop/stage/problems"
	"github.com/synthloop/synthloop/stage/reasoning"
	"github.com/synthloop/synthloop/stage/reject"
	"github.com/synthloop/synthloop/stage/sample"
	"github.com/synthloop/synthloop/stage/selfreward"
	"github.com/synthloop/synthloop/stage/tools"
	"github.com/synthloop/synthloop/store"
)

func newStatusCmd() *cobra.Command {
	var reasons int
	cmd := &cobra.Command{
		Use:   "status RUN_DIR",
		Short: "Show a run's counts per stage: kept, rejected with reasons, failures, tokens, cost",
		Long: `Show what a run holds: for each stage the units done, records kept, rejected and failed,
the filters that rejected records and their most frequent kinds of reason, the most
frequent kinds of error, model requests (and how many came from the response cache),
tokens and cost. A kind is a reason with its record-specific words (numbers, record ids,
model refs) written "…": "40  near-duplicate of … (est. Jaccard …)" counts 40 records,
each a near-duplicate of its own record, and up to two example reasons follow on their
own lines. Below the table: the share of prompt tokens the providers' prompt caches
served (billed at their cached rates), and, for a model served by several endpoints, how
many requests each endpoint took in the last run and how many failed; each provider
batch (models or stages with batch: true): its state, the provider's last word on it,
and how many of its requests are answered; and the progress and measurements of a
human review ('synthloop review').

Failures show in two columns. "failed" counts records that failed permanently (the
server refused the request, or its reply could not be used): they stay failed until
'synthloop run --retry-failed'. "retry" counts the units that the last run left undone
because they failed for a transient cause (a server error, a rate limit, a timeout):
nothing of them was committed, and running the same command again retries them.
It only reads the run store, so it is safe while the run is going on.`,
		Example: `  synthloop status runs/demo
  synthloop status runs/demo --reasons 1`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			st, err := store.OpenReadOnly(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			defer st.Close()
			return writeStatus(cmd.Context(), cmd.OutOrStdout(), st, args[0], reasons)
		},
	}
	cmd.Flags().IntVar(&reasons, "reasons", 3, "kinds of reason to show per rejecting filter, and of error per stage (at most 3)")
	return cmd
}

func printStatus(cmd *cobra.Command, st *store.Store, runDir string) error {
	return writeStatus(cmd.Context(), cmd.OutOrStdout(), st, runDir, 3)
}

type statsSource interface {
	pipeline.Store
	metaReader
	Stats(ctx context.Context) ([]store.StageStats, error)
	Meta(ctx context.Context) (store.Meta, error)
}

// stageReports add a stage type's own summary to status: the acceptance rate
// and score histogram of reject sampling, answer lengths of self-rewarding,
// pass rates and trace lengths of reasoning (with the pass rate per
// attribute value), how evenly a sample stage covered each column and the
// kept records of problems, reasoning and tools cover the attributes, each pool model's wins in preference, established
// tests of codet.
var stageReports = map[string]func(ctx context.Context, st pipeline.Store, stage string) (string, error){
	"reject":     summarized(reject.Summarize),
	"reasoning":  summarized(reasoning.Summarize),
	"evol":       summarized(evol.Summarize),
	"codet":      summarized(codet.Summarize),
	"preference": summarized(preference.Summarize),
	"sample":     summarized(sample.Summarize),
	// Problems and tools report coverage only when their inputs carried
	// attributes (a sample stage's records).
	"problems": func(ctx context.Context, st pipeline.Store, stage string) (string, error) {
		cov, err := problems.Coverage(ctx, st, stage)
		return coverageReport(cov, "kept problems"), err
	},
	"tools": func(ctx context.Context, st pipeline.Store, stage string) (string, error) {
		cov, err := tools.Coverage(ctx, st, stage)
		return coverageReport(cov, "kept trajectories"), err
	},
	"selfreward": func(ctx context.Context, st pipeline.Store, stage string) (string, error) {
		ls, err := selfreward.Lengths(ctx, st, stage)
		return selfreward.FormatLengths(ls), err
	},
}

// summarized is a stage's Summarize as a report: its summary's String.
func summarized[S fmt.Stringer](summarize func(context.Context, pipeline.Store, string) (S, error)) func(context.Context, pipeline.Store, string) (string, error) {
	return func(ctx context.Context, st pipeline.Store, stage string) (string, error) {
		s, err := summarize(ctx, st, stage)
		return s.String(), err
	}
}

// coverageReport is the coverage of a stage's kept records of what, or
// nothing when they carry no attributes.
func coverageReport(cov sample.Coverage, what string) string {
	if cov.Records == 0 {
		return ""
	}
	return what + "' " + cov.String()
}

// stageTypes maps the run's stage names to their types, from the config
// stored in the run; nil when the config cannot be read back.
func stageTypes(m store.Meta) map[string]string {
	cfg, err := pipeline.ParseConfig("run config", []byte(m.Config))
	if err != nil {
		return nil
	}
	out := map[string]string{}
	for _, sc := range cfg.Stages {
		out[sc.Name] = sc.Type
	}
	return out
}

func writeStatus(ctx context.Context, out io.Writer, st statsSource, runDir string, reasons int) error {
	stats, err := st.Stats(ctx)
	if err != nil {
		return err
	}
	var types map[string]string
	if m, err := st.Meta(ctx); err == nil {
		fmt.Fprintf(out, "run %s  (started %s, seed %d, version %s)\n", runDir, m.Created.Local().Format("2006-01-02 15:04:05"), m.Seed, m.Version)
		types = stageTypes(m)
	} else {
		fmt.Fprintf(out, "run %s\n", runDir)
	}
	if ws, err := readWarnings(ctx, st); err == nil && len(ws) > 0 {
		fmt.Fprintf(out, "warnings (%d):\n", len(ws))
		for _, w := range ws {
			fmt.Fprintf(out, "  %s\n", w)
		}
	}
	undone, err := pipeline.ReadUndone(ctx, st)
	if err != nil {
		return err
	}
	retry := map[string]pipeline.Undone{}
	for _, u := range undone {
		retry[u.Stage] = u
		// A stage whose every unit failed so far has committed nothing,
		// but what waits for a rerun must show.
		if !slices.ContainsFunc(stats, func(s store.StageStats) bool { return s.Stage == u.Stage }) {
			stats = append(stats, store.StageStats{Stage: u.Stage})
		}
	}
	if len(stats) == 0 {
		fmt.Fprintln(out, "no stage has committed any work yet")
		return nil
	}
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tunits\tkept\trejected\tfailed\tretry\trequests\tcached\tin tok\tout tok\tcost $\terrors\t")
	var tot store.StageStats
	for _, s := range stats {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%d\t%.4f\t%d\t\n", s.Stage, s.Units, s.Kept, s.Rejected, s.Failed, retry[s.Stage].Units,
			s.Requests, s.CachedRequests, s.PromptTokens, s.CompletionTokens, s.CostUSD, s.Errors)
		tot.Requests += s.Requests
		tot.CachedRequests += s.CachedRequests
		tot.PromptTokens += s.PromptTokens
		tot.CompletionTokens += s.CompletionTokens
		tot.CostUSD += s.CostUSD
		tot.Errors += s.Errors
	}
	fmt.Fprintf(tw, "total\t\t\t\t\t\t%d\t%d\t%d\t%d\t%.4f\t%d\t\n", tot.Requests, tot.CachedRequests, tot.PromptTokens, tot.CompletionTokens, tot.CostUSD, tot.Errors)
	tw.Flush()
	writePromptCache(out, stats)
	writeEndpoints(ctx, out, st)
	writeBatches(ctx, out, st)
	writeReview(ctx, out, st, stats)
	for _, s := range stats {
		writeStageDetails(ctx, out, st, s, types[s.Stage], retry, reasons)
	}
	return nil
}

// writeStageDetails writes what a stage's row cannot say: its units left
// for a rerun, its own report, its rejections and failures with examples.
func writeStageDetails(ctx context.Context, out io.Writer, st statsSource, s store.StageStats, typ string, retry map[string]pipeline.Undone, reasons int) {
	var text string
	if report := stageReports[typ]; report != nil {
		if t, err := report(ctx, st, s.Stage); err == nil {
			text = strings.TrimRight(t, "\n")
		}
	}
	u, left := retry[s.Stage]
	if len(s.Rejections) == 0 && len(s.Failures) == 0 && text == "" && !left {
		return
	}
	fmt.Fprintf(out, "\n%s:\n", s.Stage)
	if left {
		what := "units failed for transient causes in the last run and were not committed; running the same command again retries them"
		if u.Units == 1 {
			what = "unit failed for a transient cause in the last run and was not committed; running the same command again retries it"
		}
		fmt.Fprintf(out, "  retry  %5d  %s. Last cause: %s\n", u.Units, what, oneLine(u.Error, 160))
	}
	if text != "" {
		for _, line := range strings.Split(text, "\n") {
			fmt.Fprintf(out, "  %s\n", line)
		}
	}
	for _, f := range s.Rejections {
		fmt.Fprintf(out, "  rejected by %-22s %d\n", f.Filter, f.Count)
		for i, r := range f.Reasons {
			if i >= reasons {
				break
			}
			fmt.Fprintf(out, "      %5d  %s\n", r.Count, oneLine(r.Kind, 100))
			writeExamples(out, "             ", r)
		}
	}
	for i, f := range s.Failures {
		if i >= reasons {
			break
		}
		fmt.Fprintf(out, "  failed %5d  %s\n", f.Count, oneLine(f.Kind, 100))
		writeExamples(out, "               ", f)
	}
	if len(s.Failures) > 0 {
		fmt.Fprintln(out, "  (failed records are kept as they are; run --retry-failed does their units again)")
	}
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// writeExamples prints a kind's example texts on their own lines under its
// count, so that a count of one kind ("near-duplicate of …") is never read
// as a count of one example's record. A kind without record-specific parts
// is its only text and gets none.
func writeExamples(out io.Writer, indent string, r store.ReasonCount) {
	for i, e := range r.Examples {
		if e == r.Kind {
			continue
		}
		lead := "e.g. "
		if i > 0 {
			lead = "     "
		}
		fmt.Fprintf(out, "%s%s%s\n", indent, lead, oneLine(e, 100))
	}
}
