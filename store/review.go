package store

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"iter"
	"strconv"
	"strings"
	"time"
)

// The human review tables (schema version 4). Reviews are an append-only log:
// a decision is never changed or deleted, an undo is one more row naming the
// row it cancels, so the log is also the audit trail of who decided what when.
// The records table is never touched by a review: the original text stays
// where the pipeline wrote it and an edit lives beside it.
const reviewSchema = `
CREATE TABLE IF NOT EXISTS reviews (
	id        INTEGER PRIMARY KEY,
	record_id TEXT NOT NULL,
	stage     TEXT NOT NULL,
	reviewer  TEXT NOT NULL,
	kind      TEXT NOT NULL,             -- accept, reject, edit, comment, undo
	reason    TEXT NOT NULL DEFAULT '',  -- a reject's reason tag
	edits     TEXT NOT NULL DEFAULT '',  -- an edit's new texts, JSON {field: text}
	comment   TEXT NOT NULL DEFAULT '',
	undoes    INTEGER NOT NULL DEFAULT 0, -- an undo's cancelled row
	at        INTEGER NOT NULL           -- unix nanoseconds
);
CREATE INDEX IF NOT EXISTS reviews_record ON reviews (record_id, id);
CREATE INDEX IF NOT EXISTS reviews_stage ON reviews (stage, id);
CREATE INDEX IF NOT EXISTS reviews_undoes ON reviews (undoes) WHERE undoes != 0;

-- The records drawn for a measured review (sample mode), by stage.
CREATE TABLE IF NOT EXISTS review_sample (
	stage     TEXT NOT NULL,
	record_id TEXT NOT NULL,
	PRIMARY KEY (stage, record_id)
) WITHOUT ROWID;
`

// ReviewKind is what a review row does.
type ReviewKind string

// The review kinds. Accept, Reject and Edit are verdicts: a reviewer's latest
// verdict on a record that is not undone is their standing decision. A
// Comment is a note that decides nothing; an Undo cancels one earlier row.
const (
	Accept  ReviewKind = "accept"
	Reject  ReviewKind = "reject"
	Edit    ReviewKind = "edit"
	Comment ReviewKind = "comment"
	Undo    ReviewKind = "undo"
	// Prefer says which side of a record's preference pair the reviewer
	// prefers: Reason is "chosen", "rejected" or "tie"; or, between two of
	// the record's candidates, a CandidatePref ("2>5"). It stands beside
	// the reviewer's verdict rather than replacing it.
	Prefer ReviewKind = "prefer"
)

// CandidatePref is a preference between two of a record's candidates (a
// reject stage's samples), written as a Prefer row's Reason: "2>5" prefers
// candidate 2 to candidate 5, "2=5" finds them equal.
type CandidatePref struct {
	Win, Lose int
	Tie       bool
}

func (c CandidatePref) String() string {
	op := ">"
	if c.Tie {
		op = "="
	}
	return strconv.Itoa(c.Win) + op + strconv.Itoa(c.Lose)
}

// Pair is the two candidates compared, lower index first.
func (c CandidatePref) Pair() [2]int { return [2]int{min(c.Win, c.Lose), max(c.Win, c.Lose)} }

// ParseCandidatePref reads a CandidatePref; ok is false for anything else
// (a side of a pair, a candidate compared with itself, an index past 9999).
func ParseCandidatePref(reason string) (c CandidatePref, ok bool) {
	i := strings.IndexAny(reason, ">=")
	if i < 0 {
		return c, false
	}
	c.Tie = reason[i] == '='
	num := func(s string) (int, bool) {
		if len(s) == 0 || len(s) > 4 || strings.Trim(s, "0123456789") != "" {
			return 0, false
		}
		n, err := strconv.Atoi(s)
		return n, err == nil
	}
	var ok1, ok2 bool
	c.Win, ok1 = num(reason[:i])
	c.Lose, ok2 = num(reason[i+1:])
	return c, ok1 && ok2 && c.Win != c.Lose
}

// Review is one row of the review log.
type Review struct {
	ID       int64             `json:"id"`
	RecordID string            `json:"record_id"`
	Stage    string            `json:"stage"`
	Reviewer string            `json:"reviewer"`
	Kind     ReviewKind        `json:"kind"`
	Reason   string            `json:"reason,omitempty"`
	Edits    map[string]string `json:"edits,omitempty"`
	Comment  string            `json:"comment,omitempty"`
	Undoes   int64             `json:"undoes,omitempty"`
	At       time.Time         `json:"at"`
}

// ErrNothingToUndo is returned (wrapped) by Undo when the reviewer has no
// standing row on the record.
var ErrNothingToUndo = errors.New("store: nothing to undo")

func (s *Store) hasReviews() bool { return s.version >= 4 }

// AddReview appends one decision, comment or edit to the review log and
// returns it with its ID and time. It returns once the row is committed, so
// a decision the caller was told about survives a kill -9 that follows.
// Undo rows are made by Undo, not here.
func (s *Store) AddReview(ctx context.Context, rv Review) (Review, error) {
	if _, err := s.writer(); err != nil {
		return rv, err
	}
	switch rv.Kind {
	case Accept, Reject, Edit, Comment:
	case Prefer:
		_, cand := ParseCandidatePref(rv.Reason)
		if rv.Reason != "chosen" && rv.Reason != "rejected" && rv.Reason != "tie" && !cand {
			return rv, fmt.Errorf("store: review of %s: a preference is chosen, rejected, tie or between two candidates (2>5, 2=5), not %q", rv.RecordID, rv.Reason)
		}
	default:
		return rv, fmt.Errorf("store: review of %s: kind %q is not accept, reject, edit, comment or prefer", rv.RecordID, rv.Kind)
	}
	if rv.RecordID == "" || rv.Reviewer == "" {
		return rv, fmt.Errorf("store: review: needs a record and a reviewer (record %q, reviewer %q)", rv.RecordID, rv.Reviewer)
	}
	if rv.Kind == Edit && len(rv.Edits) == 0 {
		return rv, fmt.Errorf("store: review of %s: an edit changes no field", rv.RecordID)
	}
	var edits string
	if len(rv.Edits) > 0 {
		b, err := json.Marshal(rv.Edits)
		if err != nil {
			return rv, fmt.Errorf("store: review of %s: %w", rv.RecordID, err)
		}
		edits = string(b)
	}
	if rv.At.IsZero() {
		rv.At = s.now()
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		// The stage comes from the record, which must exist: a decision on
		// a record the run does not hold would count in no estimate.
		var cands int
		if err := tx.QueryRowContext(ctx, `SELECT stage, COALESCE(json_array_length(data, '$.candidates'), 0) FROM records WHERE id = ?`, rv.RecordID).Scan(&rv.Stage, &cands); err != nil {
			if errors.Is(err, sql.ErrNoRows) {
				return fmt.Errorf("record %q: %w", rv.RecordID, ErrNotFound)
			}
			return err
		}
		if c, ok := ParseCandidatePref(rv.Reason); ok && rv.Kind == Prefer && max(c.Win, c.Lose) >= cands {
			return fmt.Errorf("preference %s: the record has %d candidates", rv.Reason, cands)
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO reviews(record_id, stage, reviewer, kind, reason, edits, comment, at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
			rv.RecordID, rv.Stage, rv.Reviewer, string(rv.Kind), rv.Reason, edits, rv.Comment, rv.At.UnixNano())
		if err != nil {
			return err
		}
		rv.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return rv, fmt.Errorf("store: review of %s: %w", rv.RecordID, err)
	}
	return rv, nil
}

// Undo cancels the reviewer's latest row on the record that is not yet
// undone (a verdict, an edit or a comment) and returns the undo row; it fails
// with ErrNothingToUndo when there is none. Finding the row and cancelling it
// happen in one transaction, so two undos never cancel the same row.
func (s *Store) Undo(ctx context.Context, recordID, reviewer string) (Review, error) {
	rv := Review{RecordID: recordID, Reviewer: reviewer, Kind: Undo, At: s.now()}
	if _, err := s.writer(); err != nil {
		return rv, err
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		err := tx.QueryRowContext(ctx, `SELECT id, stage FROM reviews r WHERE record_id = ? AND reviewer = ? AND kind != 'undo'
			AND NOT EXISTS (SELECT 1 FROM reviews u WHERE u.kind = 'undo' AND u.undoes = r.id) ORDER BY id DESC LIMIT 1`,
			recordID, reviewer).Scan(&rv.Undoes, &rv.Stage)
		if errors.Is(err, sql.ErrNoRows) {
			return ErrNothingToUndo
		}
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO reviews(record_id, stage, reviewer, kind, undoes, at) VALUES (?, ?, ?, 'undo', ?, ?)`,
			recordID, rv.Stage, reviewer, rv.Undoes, rv.At.UnixNano())
		if err != nil {
			return err
		}
		rv.ID, err = res.LastInsertId()
		return err
	})
	if err != nil {
		return rv, fmt.Errorf("store: undo on %s by %s: %w", recordID, reviewer, err)
	}
	return rv, nil
}

// Reviews yields the review log in the order it was written, of one stage or
// of every stage (""), or of one record when recordID is set. A run written
// before schema version 4 has no log and yields nothing.
func (s *Store) Reviews(ctx context.Context, stage, recordID string) iter.Seq2[Review, error] {
	return func(yield func(Review, error) bool) {
		if !s.hasReviews() {
			return
		}
		q, args := where(`SELECT id, record_id, stage, reviewer, kind, reason, edits, comment, undoes, at FROM reviews`, "stage", stage, "record_id", recordID)
		rows, err := s.r.QueryContext(ctx, q+` ORDER BY id`, args...)
		if err != nil {
			yield(Review{}, fmt.Errorf("store: reviews: %w", err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var rv Review
			var kind, edits string
			var at int64
			if err := rows.Scan(&rv.ID, &rv.RecordID, &rv.Stage, &rv.Reviewer, &kind, &rv.Reason, &edits, &rv.Comment, &rv.Undoes, &at); err != nil {
				yield(Review{}, fmt.Errorf("store: reviews: %w", err))
				return
			}
			rv.Kind, rv.At = ReviewKind(kind), time.Unix(0, at).UTC()
			if edits != "" {
				if err := json.Unmarshal([]byte(edits), &rv.Edits); err != nil {
					yield(Review{}, fmt.Errorf("store: review %d: edits: %w", rv.ID, err))
					return
				}
			}
			if !yield(rv, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield(Review{}, fmt.Errorf("store: reviews: %w", err))
		}
	}
}

// SetSample replaces the stage's review sample with ids, in one transaction.
func (s *Store) SetSample(ctx context.Context, stage string, ids []string) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM review_sample WHERE stage = ?`, stage); err != nil {
			return err
		}
		for _, id := range ids {
			if _, err := tx.ExecContext(ctx, `INSERT INTO review_sample(stage, record_id) VALUES (?, ?)`, stage, id); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: set review sample of %s: %w", stage, err)
	}
	return nil
}

// Sample returns the IDs in the stage's review sample, sorted.
func (s *Store) Sample(ctx context.Context, stage string) ([]string, error) {
	if !s.hasReviews() {
		return nil, nil
	}
	rows, err := s.r.QueryContext(ctx, `SELECT record_id FROM review_sample WHERE stage = ? ORDER BY record_id`, stage)
	if err != nil {
		return nil, fmt.Errorf("store: review sample of %s: %w", stage, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			return nil, fmt.Errorf("store: review sample of %s: %w", stage, err)
		}
		out = append(out, id)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: review sample of %s: %w", stage, err)
	}
	return out, nil
}

// IDs yields the IDs of the stage's records with status ("" any), in no set order,
// without decoding the records: what drawing a sample needs.
func (s *Store) IDs(ctx context.Context, stage string, status string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		q, args := `SELECT id FROM records WHERE stage = ?`, []any{stage}
		if status != "" {
			q, args = q+` AND status = ?`, append(args, status)
		}
		rows, err := s.r.QueryContext(ctx, q, args...)
		if err != nil {
			yield("", fmt.Errorf("store: ids of %s: %w", stage, err))
			return
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				yield("", fmt.Errorf("store: ids of %s: %w", stage, err))
				return
			}
			if !yield(id, nil) {
				return
			}
		}
		if err := rows.Err(); err != nil {
			yield("", fmt.Errorf("store: ids of %s: %w", stage, err))
		}
	}
}

// where adds "WHERE col = ?" for each (col, value) pair of colVals whose
// value is not "" to q, and returns it with the values to bind.
func where(q string, colVals ...string) (string, []any) {
	var conds []string
	var args []any
	for i := 0; i+1 < len(colVals); i += 2 {
		if colVals[i+1] != "" {
			conds = append(conds, colVals[i]+" = ?")
			args = append(args, colVals[i+1])
		}
	}
	if len(conds) > 0 {
		q += " WHERE " + strings.Join(conds, " AND ")
	}
	return q, args
}
