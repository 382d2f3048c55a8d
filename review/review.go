// Package review turns the human review log of a run into decisions: each reviewer's standing verdict, the record as a human left it, the sample to review and the quality figures measured from it.
package review

import (
	"context"
	"iter"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// Log is where the review log is read from; *store.Store is one.
type Log interface {
	Reviews(ctx context.Context, stage, recordID string) iter.Seq2[store.Review, error]
}

// Verdict is one reviewer's standing decision on a record: their latest
// accept, reject or edit that is not undone.
type Verdict struct {
	Reviewer string            `json:"reviewer"`
	Kind     store.ReviewKind  `json:"kind"`
	Reason   string            `json:"reason,omitempty"`
	Edits    map[string]string `json:"edits,omitempty"`
	At       time.Time         `json:"at"`
}

// Keep reports whether the verdict keeps the record (accepted or corrected).
func (v Verdict) Keep() bool { return v.Kind != store.Reject }

// Decisions holds the standing verdicts of one stage (or a whole run).
type Decisions struct {
	// ByRecord maps a record ID to its reviewers' verdicts, oldest first.
	ByRecord map[string][]Verdict
	// Prefs maps a record ID to its reviewers' standing preferences
	// between the two sides of its pair, or between two of its candidates
	// (a store.CandidatePref, one standing per reviewer and pair), oldest
	// first.
	Prefs map[string][]Verdict
}

// Preference is what the reviewers prefer of a record's pair: the side most
// of them named ("chosen", "rejected" or "tie"), a tie when they split
// evenly; ok is false when no one compared the pair.
func (d *Decisions) Preference(id string) (side string, ok bool) {
	n := map[string]int{}
	for _, v := range d.Prefs[id] {
		n[v.Reason]++
	}
	if n["chosen"]+n["rejected"]+n["tie"] == 0 { // none, or only between candidates
		return "", false
	}
	switch {
	case n["chosen"] > n["rejected"] && n["chosen"] > n["tie"]:
		return "chosen", true
	case n["rejected"] > n["chosen"] && n["rejected"] > n["tie"]:
		return "rejected", true
	}
	return "tie", true
}

// Load reads the log of stage ("" every stage) and works out the standing
// verdicts: the log is replayed in order, an undo cancelling the row it names.
func Load(ctx context.Context, log Log, stage string) (*Decisions, error) {
	var rows []store.Review
	undone := map[int64]bool{}
	for rv, err := range log.Reviews(ctx, stage, "") {
		if err != nil {
			return nil, err
		}
		if rv.Kind == store.Undo {
			undone[rv.Undoes] = true
			continue
		}
		rows = append(rows, rv)
	}
	type key struct {
		rec, who string
		pref     bool
		pair     [2]int // the candidates a preference is between; a reviewer's latest on each pair stands
	}
	latest := map[key]store.Review{}
	for _, rv := range rows {
		if undone[rv.ID] || rv.Kind == store.Comment {
			continue
		}
		k := key{rv.RecordID, rv.Reviewer, rv.Kind == store.Prefer, [2]int{-1, -1}}
		if c, ok := store.ParseCandidatePref(rv.Reason); ok && k.pref {
			k.pair = c.Pair()
		}
		latest[k] = rv // rows are in log order: the last wins
	}
	d := &Decisions{ByRecord: map[string][]Verdict{}, Prefs: map[string][]Verdict{}}
	for k, rv := range latest {
		m := d.ByRecord
		if k.pref {
			m = d.Prefs
		}
		m[k.rec] = append(m[k.rec], Verdict{Reviewer: rv.Reviewer, Kind: rv.Kind, Reason: rv.Reason, Edits: rv.Edits, At: rv.At})
	}
	for _, m := range []map[string][]Verdict{d.ByRecord, d.Prefs} {
		for _, vs := range m {
			slices.SortFunc(vs, func(a, b Verdict) int { return a.At.Compare(b.At) })
		}
	}
	return d, nil
}

// Outcome is what the reviewers decided together about one record. A reject
// by any reviewer rejects: one person who saw a hallucination outweighs
// another who missed it. Otherwise the latest edit gives the text.
func (d *Decisions) Outcome(id string) (v Verdict, ok bool) {
	vs := d.ByRecord[id]
	if len(vs) == 0 {
		return Verdict{}, false
	}
	v = vs[len(vs)-1]
	for _, x := range vs {
		if x.Kind == store.Edit {
			v = x // latest edit, unless a reject follows below
		}
	}
	for _, x := range vs {
		if x.Kind == store.Reject {
			return x, true
		}
	}
	return v, true
}

// HumanPairFilter is the Decision.Filter of the reviewers' preference on
// an exported pair.
const HumanPairFilter = "human_pair"

// applyPreference returns the record with its pair as the reviewers would
// have it: the sides swapped when they prefer the rejected answer, and the
// record rejected when they find the two equally good (a tie teaches a
// preference trainer nothing). Kept records only: a pair a filter rejected
// stays out.
func (d *Decisions) applyPreference(r *record.Record) *record.Record {
	side, ok := d.Preference(r.ID)
	if !ok || r.Chosen == "" || r.Rejected == "" || r.Status != record.Kept {
		return r
	}
	c := *r
	who := make([]string, 0, len(d.Prefs[r.ID]))
	for _, v := range d.Prefs[r.ID] {
		who = append(who, v.Reviewer+": "+v.Reason)
	}
	dec := record.Decision{Filter: HumanPairFilter, Passed: side != "tie", Reason: "preferred " + side + " (" + strings.Join(who, ", ") + ")"}
	c.Decisions = append(slices.Clip(r.Decisions), dec)
	switch side {
	case "rejected":
		c.Chosen, c.Rejected = r.Rejected, r.Chosen
	case "tie":
		c.Status = record.Rejected
	}
	return &c
}

// HumanFilter is the Decision.Filter of a human verdict on an exported record.
const HumanFilter = "human"

// Apply returns the record as the reviewers left it, or r itself when no one
// decided on it. A reject makes a kept record rejected, with the reviewer's
// reason as a decision; an edit replaces the text fields it names and keeps
// the originals and who edited when in Meta["human_edit"]. An accept adds a
// passed decision but does not revive a record a filter rejected: the
// pipeline's later stages never saw it.
func (d *Decisions) Apply(r *record.Record) *record.Record {
	r = d.applyPreference(r)
	v, ok := d.Outcome(r.ID)
	if !ok {
		return r
	}
	c := *r
	c.Decisions = append(slices.Clip(r.Decisions), record.Decision{Filter: HumanFilter, Passed: v.Keep(), Reason: humanReason(v)})
	switch v.Kind {
	case store.Reject:
		if c.Status == record.Kept {
			c.Status = record.Rejected
		}
	case store.Edit:
		orig, fields := map[string]string{}, r.Fields()
		for f, text := range v.Edits {
			if c.SetText(f, text) {
				orig[f], _ = fields[f].(string)
			}
		}
		c.Meta = maps.Clone(r.Meta)
		if c.Meta == nil {
			c.Meta = map[string]any{}
		}
		c.Meta["human_edit"] = map[string]any{"reviewer": v.Reviewer, "at": v.At.Format(time.RFC3339), "original": orig}
	}
	return &c
}

func humanReason(v Verdict) string {
	s := string(v.Kind) + " by " + v.Reviewer
	if v.Reason != "" {
		s += ": " + v.Reason
	}
	return s
}
