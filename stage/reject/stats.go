package reject

import (
	"context"
	"fmt"
	"math"
	"sort"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// Summary is what `synthloop status` shows of a reject stage.
type Summary struct {
	Prompts    int // input records processed (keep: best) or candidate groups (keep: all)
	Kept       int // records kept
	Failed     int // records that failed (model errors, no candidate scored)
	Candidates int // candidates generated
	Scored     int // candidates with a score
	Accepted   int // scored candidates at or above the threshold
	// AcceptanceRate is Accepted / Scored; NaN with nothing scored.
	AcceptanceRate float64
	// Histogram counts scored candidates by the integer part of their score
	// (a mean of 3 judge samples like 3.67 counts under 3).
	Histogram map[int]int
	Mean      float64 // mean candidate score; NaN with nothing scored
}

// String renders the summary on one line.
func (s Summary) String() string {
	keys := make([]int, 0, len(s.Histogram))
	for k := range s.Histogram {
		keys = append(keys, k)
	}
	sort.Ints(keys)
	h := ""
	for _, k := range keys {
		h += fmt.Sprintf(" %d:%d", k, s.Histogram[k])
	}
	return fmt.Sprintf("prompts %d, kept %d, failed %d; candidates %d, scored %d, accepted %d (%.1f%%); mean score %.2f; histogram%s",
		s.Prompts, s.Kept, s.Failed, s.Candidates, s.Scored, s.Accepted, 100*s.AcceptanceRate, s.Mean, h)
}

// Summarize reads a reject stage's records from the store.
func Summarize(ctx context.Context, st pipeline.Store, stage string) (Summary, error) {
	sum := Summary{Histogram: map[int]int{}}
	var total float64
	parents := map[string]bool{}
	for r, err := range st.Records(ctx, stage, "") {
		if err != nil {
			return sum, err
		}
		if len(r.Prov.ParentIDs) > 0 {
			parents[r.Prov.ParentIDs[0]] = true
		}
		switch r.Status {
		case record.Kept:
			sum.Kept++
		case record.Failed:
			sum.Failed++
		}
		threshold, _ := r.Meta["threshold"].(float64)
		for _, c := range r.Candidates {
			sum.Candidates++
			v, ok := c.Scores["judge"]
			if !ok {
				v, ok = c.Scores["verifier"]
			}
			if !ok {
				continue
			}
			sum.Scored++
			total += v
			sum.Histogram[int(math.Floor(v))]++
			if v >= threshold {
				sum.Accepted++
			}
		}
	}
	sum.Prompts = len(parents)
	sum.AcceptanceRate, sum.Mean = math.NaN(), math.NaN()
	if sum.Scored > 0 {
		sum.AcceptanceRate = float64(sum.Accepted) / float64(sum.Scored)
		sum.Mean = total / float64(sum.Scored)
	}
	return sum, nil
}
