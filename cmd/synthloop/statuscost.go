package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

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
