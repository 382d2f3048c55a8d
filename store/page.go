package store

import (
	"context"
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
	// Sort is "" (pipeline order), "score" (highest score first) or
	// "uncertain" (nearest its judge's keep threshold first; records
	// without a score or threshold last).
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
	score := fmt.Sprintf(`json_extract(data, '$.scores."%s"')`, key)
	k := "0"
	switch q.Sort {
	case "":
	case "score":
		k = fmt.Sprintf(`COALESCE(-%s, %g)`, score, last)
	case "uncertain":
		k = fmt.Sprintf(`COALESCE(abs(%s - json_extract(data, '$.provenance.params.threshold')), %g)`, score, last)
	default:
		return Page{}, fmt.Errorf("store: page of %s: unknown sort %q (want score or uncertain)", q.Stage, q.Sort)
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
		if k == "0" {
			add("(seq, id) > (?, ?)", c.Seq, c.ID)
		} else {
			add("("+k+", seq, id) > (?, ?, ?)", c.K, c.Seq, c.ID)
		}
	}
	order := "seq, id"
	if k != "0" {
		order = k + ", seq, id"
	}
	rows, err := s.r.QueryContext(ctx, `SELECT data, `+k+` FROM records WHERE `+strings.Join(where, " AND ")+` ORDER BY `+order+` LIMIT ?`,
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
		r := new(record.Record)
		if err := json.Unmarshal(b, r); err != nil {
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
	return p, nil
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
