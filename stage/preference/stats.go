package preference

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// ModelStats is one pool model's record in a preference stage.
type ModelStats struct {
	Model    string
	Rated    int     // answers rated on every aspect
	Chosen   int     // pairs it won
	Rejected int     // pairs it lost
	Mean     float64 // mean rating of its rated answers
}

// Summary is what `synthloop status` shows of a preference stage.
type Summary struct {
	Prompts, Pairs, Ties, Failed int
	MeanMargin                   float64
	Models                       []ModelStats // in pool order
}

// Summarize reads a preference stage's records from the store.
func Summarize(ctx context.Context, st pipeline.Store, stage string) (Summary, error) {
	var sum Summary
	by := map[string]*ModelStats{}
	get := func(m string) *ModelStats {
		if by[m] == nil {
			by[m] = &ModelStats{Model: m}
			sum.Models = append(sum.Models, ModelStats{Model: m})
		}
		return by[m]
	}
	total := map[string]float64{}
	margins := 0.0
	for r, err := range st.Records(ctx, stage, "") {
		if err != nil {
			return sum, err
		}
		if r.Meta["kind"] != KindPair {
			continue
		}
		sum.Prompts++
		for _, m := range strs(r.Meta["models"]) {
			get(m)
		}
		if ratings, ok := r.Meta["ratings"].(map[string]any); ok {
			for m, v := range ratings {
				if f, ok := v.(float64); ok {
					get(m).Rated++
					total[m] += f
				}
			}
		}
		switch {
		case r.Status == record.Failed:
			sum.Failed++
		case r.Status == record.Kept:
			sum.Pairs++
			margins += r.Scores["margin"]
			if m, ok := r.Meta["chosen_model"].(string); ok {
				get(m).Chosen++
			}
			if m, ok := r.Meta["rejected_model"].(string); ok {
				get(m).Rejected++
			}
		default:
			sum.Ties++
		}
	}
	for i, m := range sum.Models {
		s := by[m.Model]
		if s.Rated > 0 {
			s.Mean = total[m.Model] / float64(s.Rated)
		}
		sum.Models[i] = *s
	}
	if sum.Pairs > 0 {
		sum.MeanMargin = margins / float64(sum.Pairs)
	}
	return sum, nil
}

// strs reads a []string from Meta, which holds []any after a store round trip.
func strs(v any) []string {
	switch x := v.(type) {
	case []string:
		return x
	case []any:
		var out []string
		for _, e := range x {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// String renders the summary, one line per model, best win rate first.
func (s Summary) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "prompts %d: pairs %d (mean margin %.2f), no pair (tie or too few rated) %d, failed %d", s.Prompts, s.Pairs, s.MeanMargin, s.Ties, s.Failed)
	ms := slices.Clone(s.Models)
	slices.SortStableFunc(ms, func(a, b ModelStats) int { return b.Chosen*max(a.Rated, 1) - a.Chosen*max(b.Rated, 1) })
	for _, m := range ms {
		fmt.Fprintf(&b, "\n  %-16s rated %d, mean %.2f; chosen %d, rejected %d", m.Model, m.Rated, m.Mean, m.Chosen, m.Rejected)
	}
	return b.String()
}
