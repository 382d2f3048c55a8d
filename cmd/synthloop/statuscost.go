package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/store"
)

// writePromptCache says what share of the prompt tokens the providers'
// prompt caches served, when any did.
func writePromptCache(out io.Writer, stats []store.StageStats) {
	prompt, cached := 0, 0
	for _, s := range stats {
		prompt += s.PromptTokens
		cached += s.CachedPromptTokens
	}
	if cached == 0 || prompt == 0 {
		return
	}
	fmt.Fprintf(out, "prompt cache: %d of %d prompt tokens (%.1f%%) were read from the providers' prompt caches\n",
		cached, prompt, 100*float64(cached)/float64(prompt))
}

// writeEndpoints shows, for each model served by several endpoints, how the
// last run spread its requests over them.
func writeEndpoints(ctx context.Context, out io.Writer, st metaReader) {
	models, err := pipeline.ReadEndpoints(ctx, st)
	if err != nil || len(models) == 0 {
		return
	}
	for _, m := range models {
		fmt.Fprintf(out, "\nendpoints of %s (last run):\n", m.Model)
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  endpoint\trequests\tfailed\twindow\t")
		for _, e := range m.Endpoints {
			state := ""
			if e.Ejected {
				state = "  (ejected at the end)"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%d\t%d\t%s\n", e.BaseURL, e.Requests, e.Failures, e.Concurrency, state)
		}
		tw.Flush()
	}
}

// writeBatches shows each provider batch of the run: its state at the
// provider when last looked at, and how many of its results are committed.
// A run that was stopped while batches ran picks them up when run again.
func writeBatches(ctx context.Context, out io.Writer, st any) {
	bs, ok := st.(interface {
		AllBatches(ctx context.Context) ([]model.BatchInfo, error)
	})
	if !ok {
		return
	}
	all, err := bs.AllBatches(ctx)
	if err != nil || len(all) == 0 {
		return
	}
	fmt.Fprintf(out, "\nbatches (%d):\n", len(all))
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "  model\tbatch\tstate\tprovider says\trequests\tanswered\tfailed\tlast look\t")
	open := 0
	for _, b := range all {
		id := b.ID
		if id == "" {
			id = "(not created yet)"
		}
		if b.State != model.BatchFinished {
			open++
		}
		fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\t%d\t%d\t%d\t%s\t\n", b.Model, id, b.State, b.Status, b.Items, b.Succeeded, b.Failed,
			b.Updated.Local().Format("2006-01-02 15:04:05"))
	}
	tw.Flush()
	if open > 0 {
		fmt.Fprintf(out, "  %d batch(es) not collected yet: they go on at the provider; run the same command again to collect them\n", open)
	}
}
