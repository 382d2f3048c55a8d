package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/review"
	"github.com/synthloop/synthloop/store"
)

// writeReview adds each reviewed stage's review progress, its measured
// share of acceptable records and the raters' agreement to status.
func writeReview(ctx context.Context, out io.Writer, st any, stats []store.StageStats) {
	run, ok := st.(review.Measured)
	if !ok {
		return
	}
	for _, s := range stats {
		p, est, ags, err := review.Summarize(ctx, run, s.Stage)
		if err != nil {
			fmt.Fprintf(out, "\nreview of %s: %v\n", s.Stage, err)
			continue
		}
		if p.Reviewed == 0 && p.Sampled == 0 && p.Pairs == 0 {
			continue
		}
		var who []string
		for _, name := range slices.Sorted(maps.Keys(p.ByReviewer)) {
			who = append(who, fmt.Sprintf("%s %d", name, p.ByReviewer[name]))
		}
		fmt.Fprintf(out, "\nreview of %s: %d of %d records reviewed (%s)", s.Stage, p.Reviewed, s.Records, strings.Join(who, ", "))
		if p.Sampled > 0 {
			fmt.Fprintf(out, "; sample of %d", p.Sampled)
		}
		fmt.Fprintln(out)
		if l := p.PairLine(); l != "" {
			fmt.Fprintf(out, "  %s\n", l)
		}
		for _, e := range est {
			fmt.Fprintf(out, "  %s\n", e)
		}
		for _, a := range ags {
			k := "n/a"
			if !math.IsNaN(a.Kappa) {
				k = fmt.Sprintf("%.2f", a.Kappa)
			}
			fmt.Fprintf(out, "  agreement %s vs %s: kappa %s, %.0f%% agree on %d records\n", a.A, a.B, k, 100*a.Observed, a.N)
		}
	}
}
