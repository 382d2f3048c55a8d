package selfreward

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// RoundLengths is the answer length of one self-rewarding round: if the
// chosen answers grow round after round while scores barely move, the model
// is learning that longer wins (length hacking), and prefer_shorter helps.
type RoundLengths struct {
	Round int `json:"round"`
	Pairs int `json:"pairs"` // kept preference pairs
	Ties  int `json:"ties"`  // records dropped as ties or with too few scores
	// Mean lengths in characters.
	Candidates float64 `json:"mean_candidate_chars"`
	Chosen     float64 `json:"mean_chosen_chars"`
	Rejected   float64 `json:"mean_rejected_chars"`
	// ChosenLonger is the share of pairs whose chosen answer is the longer.
	ChosenLonger float64 `json:"chosen_longer"`
	// MeanChosenScore and MeanRejectedScore are the judge's mean scores.
	MeanChosenScore   float64 `json:"mean_chosen_score"`
	MeanRejectedScore float64 `json:"mean_rejected_score"`
}

// Lengths reads a selfreward stage's records and reports answer length per
// round (Provenance.Round), in round order.
func Lengths(ctx context.Context, st pipeline.Store, stage string) ([]RoundLengths, error) {
	type acc struct {
		RoundLengths
		candN            int
		cand             float64
		chosen, rejected float64
		longer           int
		cs, rs           float64
	}
	rounds := map[int]*acc{}
	for r, err := range st.Records(ctx, stage, "") {
		if err != nil {
			return nil, err
		}
		a := rounds[r.Prov.Round]
		if a == nil {
			a = &acc{}
			a.Round = r.Prov.Round
			rounds[r.Prov.Round] = a
		}
		for _, c := range r.Candidates {
			a.cand += float64(LengthOf(c.Text).Chars)
			a.candN++
		}
		switch r.Status {
		case record.Kept:
			a.Pairs++
			c, j := LengthOf(r.Chosen).Chars, LengthOf(r.Rejected).Chars
			a.chosen += float64(c)
			a.rejected += float64(j)
			if c > j {
				a.longer++
			}
			a.cs += r.Scores["chosen"]
			a.rs += r.Scores["rejected"]
		case record.Rejected:
			a.Ties++
		}
	}
	var out []RoundLengths
	for _, a := range rounds {
		if a.candN > 0 {
			a.Candidates = a.cand / float64(a.candN)
		}
		if a.Pairs > 0 {
			n := float64(a.Pairs)
			a.Chosen, a.Rejected, a.ChosenLonger = a.chosen/n, a.rejected/n, float64(a.longer)/n
			a.MeanChosenScore, a.MeanRejectedScore = a.cs/n, a.rs/n
		}
		out = append(out, a.RoundLengths)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Round < out[j].Round })
	return out, nil
}

// FormatLengths renders the report as a small table for a terminal.
func FormatLengths(rs []RoundLengths) string {
	var b strings.Builder
	b.WriteString("round  pairs  ties  cand_chars  chosen_chars  rejected_chars  chosen_longer  chosen_score  rejected_score\n")
	for _, r := range rs {
		fmt.Fprintf(&b, "%5d  %5d  %4d  %10.0f  %12.0f  %14.0f  %12.0f%%  %12.2f  %14.2f\n",
			r.Round, r.Pairs, r.Ties, r.Candidates, r.Chosen, r.Rejected, 100*r.ChosenLonger, r.MeanChosenScore, r.MeanRejectedScore)
	}
	return b.String()
}
