// Package review turns the human review log of a run into decisions: each reviewer's standing verdict, the record as a human left it, the sample to review and the quality figures measured from it.
package review

import (
	"context"
	"iter"
	"maps"
	"slices"
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
	type key struct{ rec, who string }
	latest := map[key]store.Review{}
	for _, rv := range rows {
		if undone[rv.ID] || rv.Kind == store.Comment {
			continue
		}
		latest[key{rv.RecordID, rv.Reviewer}] = rv // rows are in log order: the last wins
	}
	d := &Decisions{ByRecord: map[string][]Verdict{}}
	for k, rv := range latest {
		d.ByRecord[k.rec] = append(d.ByRecord[k.rec], Verdict{Reviewer: rv.Reviewer, Kind: rv.Kind, Reason: rv.Reason, Edits: rv.Edits, At: rv.At})
	}
	for _, vs := range d.ByRecord {
		slices.SortFunc(vs, func(a, b Verdict) int { return a.At.Compare(b.At) })
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

// HumanFilter is the Decision.Filter of a human verdict on an exported record.
const HumanFilter = "human"

// Apply returns the record as the reviewers left it, or r itself when no one
// decided on it. A reject makes a kept record rejected, with the reviewer's
// reason as a decision; an edit replaces the text fields it names and keeps
// the originals and who edited when in Meta["human_edit"]. An accept adds a
// passed decision but does not revive a record a filter rejected: the
// pipeline's later stages never saw it.
func (d *Decisions) Apply(r *record.Record) *record.Record {
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
