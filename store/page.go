package store

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/record"
)

// PageQuery selects and orders a stage's records for the review queue.
// Every filter is optional; zero values select everything.
type PageQuery struct {
	Stage  string
	Status record.Status
	// RejectedBy keeps records that the named filter (a Decision's Filter,
	// e.g. "judge", "rouge") did not pass.
	RejectedBy string
	// ScoreKey names the record score that MinScore, MaxScore and the score
	// sorts read; "" means "judge".
	ScoreKey           string
	MinScore, MaxScore *float64
	// MetaKey and MetaValue keep records whose Meta[MetaKey] equals MetaValue
	// (a language, a source document).
	MetaKey, MetaValue string
	// Parent keeps records made from the record with this ID (lineage).
	Parent string
	// Sort is "" (pipeline order), "score" (highest score first),
	// "uncertain" (nearest its judge's keep threshold first, a panel's
	// disagreement counting as nearness: see byUncertainty; records without
	// a score or threshold last) or "disagreement" (the widest spread of a
	// judge panel's scores first; records judged by no panel last).
	Sort string
	// Pending keeps the records Reviewer has no standing verdict on.
	Pending  bool
	Reviewer string
	// InSample keeps the records of the stage's review sample.
	InSample bool
	// After is the Next of the previous page; "" is the first page.
	After string
	Limit int
}

// Page is one page of a PageQuery.
type Page struct {
	Records []*record.Record
	// Next is the After of the following page, "" after the last.
	Next string
	// Last is the After that continues past this page's last record, set
	// even when no record follows yet: a viewer of a run still being
	// written asks with it for the records committed since.
	Last string
}

// cursor is a page boundary: the sort key, seq and ID of the last record.
type cursor struct {
	K   float64 `json:"k"`
	Seq int64   `json:"s"`
	ID  string  `json:"i"`
}

// last is what a missing score or threshold sorts as: after every real one.
const last = 1e300

// standing is the SQL condition "review row r is a verdict not undone".
const standing = `r.kind IN ('accept', 'reject', 'edit') AND NOT EXISTS (SELECT 1 FROM reviews u WHERE u.undoes = r.id)`

// RecordPage returns one page of the query, by keyset pagination: each page
// starts strictly after the previous page's last (sort key, seq, id), so a
// page costs the same wherever it is and memory is bounded by Limit, not by
// the stage. A filter that matches few records makes a page scan far.
func (s *Store) RecordPage(ctx context.Context, q PageQuery) (Page, error) {
	if q.Limit <= 0 || q.Limit > 1000 {
		q.Limit = 50
	}
	key := q.ScoreKey
	if key == "" {
		key = "judge"
	}
	if strings.ContainsAny(key, `"\`) {
		return Page{}, fmt.Errorf("store: page of %s: bad score key %q", q.Stage, key)
	}
	score := scoreExpr(key)
	k := "0"
	switch q.Sort {
	case "":
	case "score":
		k = byScore(key)
	case "uncertain":
		k = byUncertainty(key)
	case "disagreement":
		k = byDisagreement
	default:
		return Page{}, fmt.Errorf("store: page of %s: unknown sort %q (want score, uncertain or disagreement)", q.Stage, q.Sort)
	}
	where := []string{"stage = ?"}
	args := []any{q.Stage}
	add := func(cond string, a ...any) { where = append(where, cond); args = append(args, a...) }
	if q.Status != "" {
		add("status = ?", string(q.Status))
	}
	if q.RejectedBy != "" {
		add(`EXISTS (SELECT 1 FROM json_each(data, '$.decisions') WHERE json_extract(value, '$.filter') = ? AND json_extract(value, '$.passed') = 0)`, q.RejectedBy)
	}
	if q.MinScore != nil {
		add(score+" >= ?", *q.MinScore)
	}
	if q.MaxScore != nil {
		add(score+" <= ?", *q.MaxScore)
	}
	if q.MetaKey != "" {
		if strings.ContainsAny(q.MetaKey, `"\`) {
			return Page{}, fmt.Errorf("store: page of %s: bad meta key %q", q.Stage, q.MetaKey)
		}
		add(fmt.Sprintf(`CAST(json_extract(data, '$.meta."%s"') AS TEXT) = ?`, q.MetaKey), q.MetaValue)
	}
	if q.Parent != "" {
		add(`EXISTS (SELECT 1 FROM json_each(data, '$.provenance.parent_ids') WHERE value = ?)`, q.Parent)
	}
	if q.Pending && s.hasReviews() {
		add(`NOT EXISTS (SELECT 1 FROM reviews r WHERE r.record_id = records.id AND r.reviewer = ? AND `+standing+`)`, q.Reviewer)
	}
	if q.InSample {
		if !s.hasReviews() {
			return Page{}, nil
		}
		add(`id IN (SELECT record_id FROM review_sample WHERE stage = ?)`, q.Stage)
	}
	if q.After != "" {
		c, err := decodeCursor(q.After)
		if err != nil {
			return Page{}, fmt.Errorf("store: page of %s: %w", q.Stage, err)
		}
		// The plain >= in front gives the planner a range to seek to: it
		// does not see one in a row value over an expression.
		if k == "0" {
			add("seq >= ? AND (seq, id) > (?, ?)", c.Seq, c.Seq, c.ID)
		} else {
			add(k+" >= ? AND ("+k+", seq, id) > (?, ?, ?)", c.K, c.K, c.Seq, c.ID)
		}
	}
	order := "seq, id"
	if k != "0" {
		order = k + ", seq, id"
	}
	from := "records"
	if k != "0" && (key == "judge" || q.Sort == "disagreement") {
		// The planner prefers the (stage, seq) index and a sort of the whole
		// stage over the expression index: name the index when it exists.
		name := reviewIndexes[q.Sort]
		var n int
		if err := s.r.QueryRowContext(ctx, `SELECT count(*) FROM sqlite_schema WHERE type = 'index' AND name = ?`, name).Scan(&n); err != nil {
			return Page{}, fmt.Errorf("store: page of %s: %w", q.Stage, err)
		}
		if n == 1 {
			from += " INDEXED BY " + name
		}
	}
	rows, err := s.r.QueryContext(ctx, `SELECT data, `+k+` FROM `+from+` WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT ?`,
		append(args, q.Limit+1)...)
	if err != nil {
		return Page{}, fmt.Errorf("store: page of %s: %w", q.Stage, err)
	}
	defer rows.Close()
	var p Page
	var keys []float64
	for rows.Next() {
		var b []byte
		var kv float64
		if err := rows.Scan(&b, &kv); err != nil {
			return Page{}, fmt.Errorf("store: page of %s: %w", q.Stage, err)
		}
		r, err := decodeRecord(b)
		if err != nil {
			return Page{}, fmt.Errorf("store: page of %s: decode: %w", q.Stage, err)
		}
		p.Records, keys = append(p.Records, r), append(keys, kv)
	}
	if err := rows.Err(); err != nil {
		return Page{}, fmt.Errorf("store: page of %s: %w", q.Stage, err)
	}
	if len(p.Records) > q.Limit {
		p.Records = p.Records[:q.Limit]
		l := p.Records[q.Limit-1]
		p.Next = encodeCursor(cursor{K: keys[q.Limit-1], Seq: l.Seq, ID: l.ID})
	}
	if n := len(p.Records); n > 0 {
		l := p.Records[n-1]
		p.Last = encodeCursor(cursor{K: keys[n-1], Seq: l.Seq, ID: l.ID})
	} else {
		p.Last = q.After
	}
	return p, nil
}

func scoreExpr(key string) string { return fmt.Sprintf(`json_extract(data, '$.scores."%s"')`, key) }

// byScore, byUncertainty and byDisagreement are the sort keys of the score
// sorts. IndexScores indexes them for the "judge" score, so the text here
// and there must be one.
func byScore(key string) string { return fmt.Sprintf(`COALESCE(-%s, %g)`, scoreExpr(key), last) }

// spreadExpr is the spread of a judge panel's scores (judge.Result.Spread):
// in a judge stage's meta.judgment, or in a reject stage's judgment of the
// candidate it kept (meta.best; the only one with keep: all). NULL for a
// record no panel judged.
const spreadExpr = `COALESCE(json_extract(data, '$.meta.judgment.spread'), ` +
	`json_extract(data, '$.meta.judgments[' || COALESCE(json_extract(data, '$.meta.best'), 0) || '].spread'))`

// byUncertainty is how near a record's score is to its keep threshold,
// less half its panel's spread: a panel whose members straddle the
// threshold (scores 3 and 5 around 4) sorts as first as a score on it,
// and one judge's score counts as it is.
func byUncertainty(key string) string {
	return fmt.Sprintf(`COALESCE(abs(%s - json_extract(data, '$.provenance.params.threshold')) - COALESCE(%s, 0) / 2.0, %g)`, scoreExpr(key), spreadExpr, last)
}

var byDisagreement = fmt.Sprintf(`COALESCE(-(%s), %g)`, spreadExpr, last)

// reviewIndexes names the index of each score sort. The uncertain index
// took its "2" when its key came to count the panel's spread: an index on
// the old key under the old name is dropped, not used for the new order.
var reviewIndexes = map[string]string{
	"score":        "records_review_score",
	"uncertain":    "records_review_uncertain2",
	"disagreement": "records_review_disagreement",
}

// IndexScores makes the score sorts of the judge score index scans: without
// it the first page of a sort reads the whole stage (1.7 s per 100,000
// records). It is built once, when a run is first reviewed, not with the
// run: every later commit pays for keeping it, which a run nobody reviews
// should not.
func (s *Store) IndexScores(ctx context.Context) error {
	if _, err := s.writer(); err != nil {
		return err
	}
	err := s.write(func(ctx context.Context, tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DROP INDEX IF EXISTS records_review_uncertain`); err != nil {
			return err
		}
		for sort, k := range map[string]string{"score": byScore("judge"), "uncertain": byUncertainty("judge"), "disagreement": byDisagreement} {
			if _, err := tx.ExecContext(ctx, `CREATE INDEX IF NOT EXISTS `+reviewIndexes[sort]+` ON records (stage, `+k+`, seq, id)`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: index scores: %w", err)
	}
	return nil
}

func encodeCursor(c cursor) string {
	b, _ := json.Marshal(c) // a float, an int and a string always encode
	return base64.RawURLEncoding.EncodeToString(b)
}

func decodeCursor(s string) (cursor, error) {
	var c cursor
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return c, fmt.Errorf("bad page cursor: %w", err)
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, fmt.Errorf("bad page cursor: %w", err)
	}
	return c, nil
}

// StageCount is a stage's record count by status, and the filters that
// rejected its records.
type StageCount struct {
	Stage                  string
	Kept, Rejected, Failed int
	// Filters are the filters seen rejecting among the stage's first
	// 2,000 rejected records: enough to offer as choices, cheap on a big
	// stage (Stats reads every rejected record for exact counts).
	Filters []string
}

// StageCounts returns every stage's counts in stage order, from the
// (stage, status, seq) index alone but for the filters.
func (s *Store) StageCounts(ctx context.Context) ([]StageCount, error) {
	stages, err := s.Stages(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]StageCount, len(stages))
	for i, st := range stages {
		c := StageCount{Stage: st}
		for _, x := range []struct {
			status record.Status
			n      *int
		}{{record.Kept, &c.Kept}, {record.Rejected, &c.Rejected}, {record.Failed, &c.Failed}} {
			if *x.n, err = s.Count(ctx, st, x.status); err != nil {
				return nil, err
			}
		}
		rows, err := s.r.QueryContext(ctx, `SELECT DISTINCT json_extract(d.value, '$.filter') FROM
			(SELECT data FROM records WHERE stage = ? AND status = 'rejected' LIMIT 2000) r, json_each(r.data, '$.decisions') d
			WHERE coalesce(json_extract(d.value, '$.passed'), 0) = 0 ORDER BY 1`, st)
		if err != nil {
			return nil, fmt.Errorf("store: filters of %s: %w", st, err)
		}
		for rows.Next() {
			var f sql.NullString
			if err := rows.Scan(&f); err != nil {
				rows.Close()
				return nil, fmt.Errorf("store: filters of %s: %w", st, err)
			}
			if f.Valid {
				c.Filters = append(c.Filters, f.String)
			}
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return nil, fmt.Errorf("store: filters of %s: %w", st, err)
		}
		out[i] = c
	}
	return out, nil
}
