package review

import (
	"cmp"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// HumanPairGenerator is the Provenance.Generator of a preference pair made
// from reviewers' choices between two candidates of a record.
const HumanPairGenerator = "human_pair"

// HumanPairs returns the preference pairs the reviewers made between r's
// candidates (a reject stage's samples for one prompt): for each two
// candidates compared, the one most reviewers preferred as chosen and the
// other as rejected. A pair the reviewers tied, or split on evenly, makes
// none: it teaches a preference trainer nothing. Each pair is a kept record
// of r's stage, its ID r's with the candidates' indexes, made from r.
func (d *Decisions) HumanPairs(r *record.Record) []*record.Record {
	type tally struct {
		votes map[int]int // winner's index (-1 a tie) → reviewers
		who   []string
	}
	pairs := map[[2]int]*tally{}
	for _, v := range d.Prefs[r.ID] {
		c, ok := store.ParseCandidatePref(v.Reason)
		if !ok || max(c.Win, c.Lose) >= len(r.Candidates) {
			continue
		}
		t := pairs[c.Pair()]
		if t == nil {
			t = &tally{votes: map[int]int{}}
			pairs[c.Pair()] = t
		}
		w := c.Win
		if c.Tie {
			w = -1
		}
		t.votes[w]++
		t.who = append(t.who, v.Reviewer+": "+v.Reason)
	}
	var out []*record.Record
	for _, p := range slices.SortedFunc(maps.Keys(pairs), func(a, b [2]int) int { return cmp.Or(a[0]-b[0], a[1]-b[1]) }) {
		t := pairs[p]
		win, lose := p[0], p[1]
		if t.votes[win] < t.votes[lose] {
			win, lose = lose, win
		}
		if t.votes[win] <= t.votes[lose] || t.votes[win] <= t.votes[-1] {
			continue
		}
		pr := &record.Record{ID: fmt.Sprintf("%s:human-pair:%d>%d", r.ID, win, lose), Stage: r.Stage, Status: record.Kept,
			Instruction: r.Instruction, Input: r.Input, Chosen: r.Candidates[win].Text, Rejected: r.Candidates[lose].Text,
			Meta: map[string]any{"candidates": []int{win, lose}},
			Decisions: []record.Decision{{Filter: HumanPairFilter, Passed: true,
				Reason: fmt.Sprintf("candidate %d preferred to %d (%s)", win, lose, strings.Join(t.who, ", "))}}}
		if s, ok := r.Candidates[win].Scores["judge"]; ok {
			pr.Scores = map[string]float64{"chosen": s}
			if s2, ok := r.Candidates[lose].Scores["judge"]; ok {
				pr.Scores["rejected"] = s2
			}
		}
		pr.Prov = r.Prov
		pr.Prov.Generator, pr.Prov.ParentIDs = HumanPairGenerator, []string{r.ID}
		out = append(out, pr)
	}
	return out
}
