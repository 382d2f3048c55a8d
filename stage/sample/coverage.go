package sample

import (
	"context"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// Coverage is how a sample stage's records cover each column's values.
type Coverage struct {
	Records int
	Columns []ColumnCoverage
}

// ColumnCoverage is one column's share of Coverage.
type ColumnCoverage struct {
	Name, Kind string
	// Counts are the records per value, for a column with a list of values.
	Counts map[string]int
	// Possible is the number of values the column can take (0: a number).
	Possible int
	// Min, Mean and Max summarise a number column over N records.
	Min, Mean, Max float64
	N              int
}

// Summarize reads the kept records of a sample stage and counts each
// column's values.
func Summarize(ctx context.Context, st pipeline.Store, stage string) (Coverage, error) {
	var cov Coverage
	idx := map[string]int{}
	var sums []float64
	for r, err := range st.Records(ctx, stage, record.Kept) {
		if err != nil {
			return cov, err
		}
		if cov.Records == 0 {
			cov.Columns, sums = columnsOf(r)
			for i, c := range cov.Columns {
				idx[c.Name] = i
			}
		}
		cov.Records++
		for i := range cov.Columns {
			c := &cov.Columns[i]
			v := fieldValue(r, c.Name)
			if c.Counts != nil {
				c.Counts[fmt.Sprint(v)]++
				continue
			}
			x, ok := number(v)
			if !ok {
				continue
			}
			if c.N == 0 || x < c.Min {
				c.Min = x
			}
			if c.N == 0 || x > c.Max {
				c.Max = x
			}
			c.N++
			sums[i] += x
		}
	}
	for i := range cov.Columns {
		if c := &cov.Columns[i]; c.N > 0 {
			c.Mean = sums[i] / float64(c.N)
		}
	}
	return cov, nil
}

// columnsOf reads the columns a sample record was drawn from, from its
// provenance (the values decode from the store as JSON does).
func columnsOf(r *record.Record) ([]ColumnCoverage, []float64) {
	names, _ := r.Prov.Params["columns"].([]any)
	if names == nil {
		if ss, ok := r.Prov.Params["columns"].([]string); ok {
			for _, s := range ss {
				names = append(names, s)
			}
		}
	}
	kinds := stringMap(r.Prov.Params["kinds"])
	possible := stringMap(r.Prov.Params["possible"])
	var out []ColumnCoverage
	for _, n := range names {
		name := fmt.Sprint(n)
		c := ColumnCoverage{Name: name, Kind: fmt.Sprint(kinds[name])}
		if c.Kind != kindInt && c.Kind != kindUniform && c.Kind != kindNormal {
			c.Counts = map[string]int{}
			if p, ok := number(possible[name]); ok {
				c.Possible = int(p)
			}
		}
		out = append(out, c)
	}
	return out, make([]float64, len(out))
}

func stringMap(v any) map[string]any {
	switch m := v.(type) {
	case map[string]any:
		return m
	case map[string]string:
		out := map[string]any{}
		for k, x := range m {
			out[k] = x
		}
		return out
	case map[string]int:
		out := map[string]any{}
		for k, x := range m {
			out[k] = x
		}
		return out
	}
	return nil
}

func fieldValue(r *record.Record, name string) any {
	switch name {
	case "instruction":
		return r.Instruction
	case "input":
		return r.Input
	case "output":
		return r.Output
	case "chosen":
		return r.Chosen
	case "rejected":
		return r.Rejected
	}
	return r.Meta[name]
}

// Evenness is the entropy of the column's counts over the entropy of every
// possible value drawn equally often: 1 when the records spread evenly over
// all values, lower as they bunch up or leave values out. It is not known
// for a number column, or one with fewer than two possible values.
func (col ColumnCoverage) Evenness() (float64, bool) {
	possible := max(col.Possible, len(col.Counts))
	if col.Counts == nil || possible < 2 {
		return 0, false
	}
	total := 0
	for _, n := range col.Counts {
		total += n
	}
	if total == 0 {
		return 0, false
	}
	h := 0.0
	for _, n := range col.Counts {
		p := float64(n) / float64(total)
		h -= p * math.Log(p)
	}
	return h / math.Log(float64(possible)), true
}

// maxListed is the most values a column's line lists one by one.
const maxListed = 8

// String is the coverage as status shows it: a line per column.
func (c Coverage) String() string {
	if c.Records == 0 {
		return "coverage: no records"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "coverage of %d records:\n", c.Records)
	width := 0
	for _, col := range c.Columns {
		width = max(width, len([]rune(col.Name)))
	}
	for _, col := range c.Columns {
		fmt.Fprintf(&b, "  %-*s  %s\n", width, col.Name, col.line(c.Records))
	}
	return b.String()
}

func (col ColumnCoverage) line(records int) string {
	if col.Counts == nil {
		if col.N == 0 {
			return col.Kind + ": no numbers"
		}
		return fmt.Sprintf("%s: min %s · mean %s · max %s", col.Kind, num(col.Min), num(col.Mean), num(col.Max))
	}
	type vc struct {
		v string
		n int
	}
	var vs []vc
	for v, n := range col.Counts {
		vs = append(vs, vc{v, n})
	}
	sort.Slice(vs, func(i, j int) bool {
		if vs[i].n != vs[j].n {
			return vs[i].n > vs[j].n
		}
		return vs[i].v < vs[j].v
	})
	head := fmt.Sprintf("%d values", len(vs))
	if col.Possible > 0 {
		head = fmt.Sprintf("%d/%d values", len(vs), col.Possible)
	}
	if e, ok := col.Evenness(); ok {
		head += fmt.Sprintf(", evenness %.0f%%", 100*e)
	}
	if len(vs) <= maxListed {
		parts := make([]string, len(vs))
		for i, x := range vs {
			parts[i] = fmt.Sprintf("%s %d (%.0f%%)", clip(x.v, 40), x.n, 100*float64(x.n)/float64(records))
		}
		return head + "  " + strings.Join(parts, " · ")
	}
	s := fmt.Sprintf("%s  %d–%d records each (most: %s %d; least: %s %d)", head, vs[len(vs)-1].n, vs[0].n,
		clip(vs[0].v, 40), vs[0].n, clip(vs[len(vs)-1].v, 40), vs[len(vs)-1].n)
	if col.Possible > len(vs) {
		s += fmt.Sprintf("; never drawn: %d", col.Possible-len(vs))
	}
	return s
}

func num(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e15 {
		return fmt.Sprintf("%d", int64(x))
	}
	return fmt.Sprintf("%.3g", x)
}

func clip(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
