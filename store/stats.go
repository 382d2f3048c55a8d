package store

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
	"time"
)

// StageStats is what `synthloop status` shows for one stage.
type StageStats struct {
	Stage string
	Units int // committed units

	Records, Kept, Rejected, Failed int

	Requests         int
	CachedRequests   int
	PromptTokens     int
	CompletionTokens int
	CostUSD          float64
	Errors           int // failed model calls, as the units reported them

	// Rejections groups the rejected records by the filters that turned them
	// down, most frequent first. A record turned down by two filters counts
	// under both.
	Rejections []FilterCount
	// Failures are the most frequent error messages of failed records.
	Failures []ReasonCount

	// FirstCommit and LastCommit bound the stage's committed work in time.
	FirstCommit, LastCommit time.Time
}

// FilterCount is how many records one filter rejected, with its most
// frequent reasons (at most TopReasons of them, each counted per decision).
type FilterCount struct {
	Filter  string
	Count   int
	Reasons []ReasonCount
}

// ReasonCount is one reason or error text and how often it occurred; texts
// that differ only in their numbers are counted together (see Stats).
type ReasonCount struct {
	Reason string
	Count  int
}

// TopReasons bounds the reasons kept per filter and the failure messages kept
// per stage in Stats: status output is for a glance, the records hold the rest.
const TopReasons = 3

// Stats returns per-stage statistics in stage order. It reads aggregates
// through the indexes, plus one pass over the decisions of rejected records.
func (s *Store) Stats(ctx context.Context) ([]StageStats, error) {
	stages, err := s.Stages(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]StageStats, len(stages))
	idx := make(map[string]*StageStats, len(stages))
	for i, name := range stages {
		out[i].Stage = name
		idx[name] = &out[i]
	}

	// One read transaction so the numbers agree with each other.
	tx, err := s.r.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("store: stats: %w", err)
	}
	defer tx.Rollback()
	for _, add := range []func(context.Context, *sql.Tx, map[string]*StageStats) error{unitStats, recordCounts, rejections, failures} {
		if err := add(ctx, tx, idx); err != nil {
			return nil, err
		}
	}
	for i := range out {
		sort.Slice(out[i].Rejections, func(a, b int) bool {
			x, y := out[i].Rejections[a], out[i].Rejections[b]
			if x.Count != y.Count {
				return x.Count > y.Count
			}
			return x.Filter < y.Filter
		})
		out[i].Failures = top(out[i].Failures)
	}
	return out, nil
}

// eachRow runs query in tx and calls scan on each row; errors name what.
func eachRow(ctx context.Context, tx *sql.Tx, what, query string, scan func(*sql.Rows) error) error {
	rows, err := tx.QueryContext(ctx, query)
	if err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	defer rows.Close()
	for rows.Next() {
		if err := scan(rows); err != nil {
			return fmt.Errorf("store: %s: %w", what, err)
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: %s: %w", what, err)
	}
	return nil
}

// unitStats adds what the committed units report: their count, usage and
// commit times.
func unitStats(ctx context.Context, tx *sql.Tx, idx map[string]*StageStats) error {
	return eachRow(ctx, tx, "stats", `SELECT stage, count(*), sum(requests), sum(cached_requests), sum(prompt_tokens),
		sum(completion_tokens), sum(cost_usd), sum(errors), min(committed_at), max(committed_at) FROM units GROUP BY stage`, func(rows *sql.Rows) error {
		var st string
		var v StageStats
		var first, last int64
		if err := rows.Scan(&st, &v.Units, &v.Requests, &v.CachedRequests, &v.PromptTokens, &v.CompletionTokens, &v.CostUSD, &v.Errors, &first, &last); err != nil {
			return err
		}
		if p := idx[st]; p != nil {
			v.Stage = st
			v.FirstCommit = time.Unix(0, first).UTC()
			v.LastCommit = time.Unix(0, last).UTC()
			*p = v
		}
		return nil
	})
}

// recordCounts adds the records by status.
func recordCounts(ctx context.Context, tx *sql.Tx, idx map[string]*StageStats) error {
	return eachRow(ctx, tx, "stats", `SELECT stage, status, count(*) FROM records GROUP BY stage, status`, func(rows *sql.Rows) error {
		var st, status string
		var n int
		if err := rows.Scan(&st, &status, &n); err != nil {
			return err
		}
		p := idx[st]
		if p == nil {
			return nil
		}
		p.Records += n
		switch status {
		case "kept":
			p.Kept += n
		case "rejected":
			p.Rejected += n
		case "failed":
			p.Failed += n
		}
		return nil
	})
}

// rejections adds the filters that rejected records, each with its record
// count and its most frequent reasons.
func rejections(ctx context.Context, tx *sql.Tx, idx map[string]*StageStats) error {
	type fkey struct{ stage, filter string }
	byFilter := make(map[fkey]*FilterCount)
	// Reasons are free text (often with the measured value in them), so the
	// grouping by reason is exact-text and only the top few are kept.
	err := eachRow(ctx, tx, "stats: rejections", `SELECT r.stage, json_extract(d.value, '$.filter'), coalesce(json_extract(d.value, '$.reason'), ''), count(*)
		FROM records r, json_each(r.data, '$.decisions') d
		WHERE r.status = 'rejected' AND coalesce(json_extract(d.value, '$.passed'), 0) = 0
		GROUP BY 1, 2, 3`, func(rows *sql.Rows) error {
		var st, filter, reason string
		var n int
		if err := rows.Scan(&st, &filter, &reason, &n); err != nil {
			return err
		}
		k := fkey{st, filter}
		fc := byFilter[k]
		if fc == nil {
			fc = &FilterCount{Filter: filter}
			byFilter[k] = fc
		}
		fc.Reasons = append(fc.Reasons, ReasonCount{reason, n})
		return nil
	})
	if err != nil {
		return err
	}
	// Count records, not decisions, per filter: a filter may give several
	// failing decisions on one record (two blacklisted words).
	err = eachRow(ctx, tx, "stats: rejections", `SELECT r.stage, json_extract(d.value, '$.filter'), count(DISTINCT r.id)
		FROM records r, json_each(r.data, '$.decisions') d
		WHERE r.status = 'rejected' AND coalesce(json_extract(d.value, '$.passed'), 0) = 0
		GROUP BY 1, 2`, func(rows *sql.Rows) error {
		var st, filter string
		var n int
		if err := rows.Scan(&st, &filter, &n); err != nil {
			return err
		}
		if fc := byFilter[fkey{st, filter}]; fc != nil {
			fc.Count = n
		}
		return nil
	})
	if err != nil {
		return err
	}
	for k, fc := range byFilter {
		p := idx[k.stage]
		if p == nil {
			continue
		}
		fc.Reasons = top(fc.Reasons)
		p.Rejections = append(p.Rejections, *fc)
	}
	return nil
}

// failures adds the error messages of failed records.
func failures(ctx context.Context, tx *sql.Tx, idx map[string]*StageStats) error {
	return eachRow(ctx, tx, "stats: failures", `SELECT stage, coalesce(json_extract(data, '$.error'), ''), count(*) FROM records
		WHERE status = 'failed' GROUP BY 1, 2`, func(rows *sql.Rows) error {
		var st, msg string
		var n int
		if err := rows.Scan(&st, &msg, &n); err != nil {
			return err
		}
		if p := idx[st]; p != nil {
			p.Failures = append(p.Failures, ReasonCount{msg, n})
		}
		return nil
	})
}

// top merges reasons that differ only in their numbers ("max ROUGE-L 0.83 >
// 0.7" and "... 0.91 > 0.7" are one reason measured twice), sorts them by
// count (then text, for stable output) and keeps TopReasons. A merged reason
// shows its most frequent wording.
func top(in []ReasonCount) []ReasonCount {
	type group struct {
		ReasonCount
		best int // count of the wording shown
	}
	var order []string
	groups := map[string]*group{}
	for _, r := range in {
		k := reasonKey(r.Reason)
		g := groups[k]
		if g == nil {
			g = &group{}
			groups[k] = g
			order = append(order, k)
		}
		g.Count += r.Count
		if r.Count > g.best || (r.Count == g.best && r.Reason < g.Reason) {
			g.Reason, g.best = r.Reason, r.Count
		}
	}
	rs := make([]ReasonCount, 0, len(order))
	for _, k := range order {
		rs = append(rs, groups[k].ReasonCount)
	}
	sort.Slice(rs, func(a, b int) bool {
		if rs[a].Count != rs[b].Count {
			return rs[a].Count > rs[b].Count
		}
		return rs[a].Reason < rs[b].Reason
	})
	if len(rs) > TopReasons {
		rs = rs[:TopReasons]
	}
	return rs
}

// reasonKey is a reason with every number replaced by '#'.
func reasonKey(s string) string {
	var b strings.Builder
	inNum := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		digit := c >= '0' && c <= '9'
		// A '.' between digits belongs to the number.
		if c == '.' && inNum && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9' {
			continue
		}
		if digit {
			if !inNum {
				b.WriteByte('#')
			}
			inNum = true
			continue
		}
		inNum = false
		b.WriteByte(c)
	}
	return b.String()
}
