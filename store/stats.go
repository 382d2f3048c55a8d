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
	// CachedPromptTokens is the part of PromptTokens the providers' prompt
	// caches served (0 for runs written before schema version 2).
	CachedPromptTokens int
	CostUSD            float64
	Errors             int // failed model calls, as the units reported them

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

// ReasonCount is one kind of reason or error and how often it occurred.
// Kind is the text with its record-specific parts written "…" (see
// ReasonKind), so that 26,584 rejections "near-duplicate of <some id> (est.
// Jaccard <x>)" count as one kind rather than read as that many of one id;
// Examples are up to ReasonExamples of the actual texts, most frequent first.
type ReasonCount struct {
	Kind     string
	Count    int
	Examples []string
}

// TopReasons bounds the reasons kept per filter and the failure messages kept
// per stage in Stats: status output is for a glance, the records hold the rest.
const TopReasons = 3

// ReasonExamples bounds the example texts kept per kind of reason.
const ReasonExamples = 2

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
	units := func(ctx context.Context, tx *sql.Tx, idx map[string]*StageStats) error {
		return unitStats(ctx, tx, idx, s.version >= 2)
	}
	for _, add := range []func(context.Context, *sql.Tx, map[string]*StageStats) error{units, recordCounts, rejections, failures} {
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
// commit times. cached says the units table has cached_prompt_tokens.
func unitStats(ctx context.Context, tx *sql.Tx, idx map[string]*StageStats, cached bool) error {
	cachedCol := "0"
	if cached {
		cachedCol = "sum(cached_prompt_tokens)"
	}
	return eachRow(ctx, tx, "stats", `SELECT stage, count(*), sum(requests), sum(cached_requests), sum(prompt_tokens),
		sum(completion_tokens), sum(cost_usd), sum(errors), min(committed_at), max(committed_at), `+cachedCol+` FROM units GROUP BY stage`, func(rows *sql.Rows) error {
		var st string
		var v StageStats
		var first, last int64
		if err := rows.Scan(&st, &v.Units, &v.Requests, &v.CachedRequests, &v.PromptTokens, &v.CompletionTokens, &v.CostUSD, &v.Errors, &first, &last, &v.CachedPromptTokens); err != nil {
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
	// Grouped by stage only, the first column of the records index, so
	// the counts come from one pass over the index with no sort.
	return eachRow(ctx, tx, "stats", `SELECT stage, count(*), sum(status = 'kept'), sum(status = 'rejected'), sum(status = 'failed')
		FROM records GROUP BY stage`, func(rows *sql.Rows) error {
		var st string
		var n, kept, rejected, failed int
		if err := rows.Scan(&st, &n, &kept, &rejected, &failed); err != nil {
			return err
		}
		if p := idx[st]; p != nil {
			p.Records += n
			p.Kept += kept
			p.Rejected += rejected
			p.Failed += failed
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
		fc.Reasons = append(fc.Reasons, ReasonCount{Kind: reason, Count: n})
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
			p.Failures = append(p.Failures, ReasonCount{Kind: msg, Count: n})
		}
		return nil
	})
}

// top groups texts (each in Kind, with its count) by ReasonKind, sorts the
// kinds by count (then kind, for stable output) and keeps TopReasons, each
// with its ReasonExamples most frequent texts.
func top(in []ReasonCount) []ReasonCount {
	groups := map[string]*ReasonCount{}
	texts := map[string][]ReasonCount{}
	for _, r := range in {
		k := ReasonKind(r.Kind)
		g := groups[k]
		if g == nil {
			g = &ReasonCount{Kind: k}
			groups[k] = g
		}
		g.Count += r.Count
		texts[k] = append(texts[k], r)
	}
	rs := make([]ReasonCount, 0, len(groups))
	for _, g := range groups {
		rs = append(rs, *g)
	}
	byCount := func(rs []ReasonCount) {
		sort.Slice(rs, func(a, b int) bool {
			if rs[a].Count != rs[b].Count {
				return rs[a].Count > rs[b].Count
			}
			return rs[a].Kind < rs[b].Kind
		})
	}
	byCount(rs)
	if len(rs) > TopReasons {
		rs = rs[:TopReasons]
	}
	for i := range rs {
		ts := texts[rs[i].Kind]
		byCount(ts)
		for _, t := range ts[:min(len(ts), ReasonExamples)] {
			rs[i].Examples = append(rs[i].Examples, t.Kind)
		}
	}
	return rs
}

// ReasonKind is the kind of a reason or error text: the text with every
// record-specific word written "…". Reasons are free text (no stage gives a
// structured kind), so a word counts as record-specific when it holds a
// digit (a measured value, a threshold, a line number) or a ':' or '/'
// inside it (a record id such as clean:prompts:prompts.jsonl:106384, a model
// ref, a URL); brackets, quotes and trailing punctuation around it stay.
func ReasonKind(s string) string {
	words := strings.Split(s, " ")
	for i, w := range words {
		start := strings.IndexFunc(w, func(r rune) bool { return !strings.ContainsRune("([{\"'", r) })
		if start < 0 {
			continue
		}
		end := strings.LastIndexFunc(w, func(r rune) bool { return !strings.ContainsRune(")]}\"',;:.", r) }) + 1
		if end <= start {
			continue // punctuation only
		}
		if strings.ContainsAny(w[start:end], "0123456789:/") {
			words[i] = w[:start] + "…" + w[end:]
		}
	}
	return strings.Join(words, " ")
}
