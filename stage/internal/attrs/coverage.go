package attrs

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// Coverage is how a stage's records cover each attribute column's values.
type Coverage struct {
	Records int
	Columns []ColumnCoverage
}

// ColumnCoverage is one column's share of Coverage.
type ColumnCoverage struct {
	Name, Kind string
	// Counts are the records per value, for a column with a list of values.
	Counts map[string]int
	// Possible is the number of values the column can take (0: a number,
	// or not known).
	Possible int
	// Min, Mean and Max summarise a number column over N records.
	Min, Mean, Max float64
	N              int
	sum            float64
}

// Summarize counts the attribute values of a stage's kept records that
// keep accepts (nil: all of them). The columns are those the records
// declare (see Of), in the order they are first met; a record without
// attributes is not counted.
func Summarize(ctx context.Context, st pipeline.Store, stage string, keep func(*record.Record) bool) (Coverage, error) {
	var t Tally
	for r, err := range st.Records(ctx, stage, record.Kept) {
		if err != nil {
			return t.Coverage(), err
		}
		if keep != nil && !keep(r) {
			continue
		}
		if spec, ok := Of(r); ok {
			t.Add(r, spec)
		}
	}
	return t.Coverage(), nil
}

// Tally counts attribute values a record at a time, so that a stage that
// makes the records can count them as it goes instead of reading them back.
// The zero Tally is empty; a Tally is not safe for concurrent use.
type Tally struct {
	cov Coverage
	idx map[string]int // column name → index in cov.Columns
}

// Add counts r's values of the columns of s.
func (t *Tally) Add(r *record.Record, s Spec) {
	t.cov.Records++
	for _, name := range s.Columns {
		t.column(name, s.Kinds[name], s.Possible[name]).add(Value(r, name))
	}
}

// Merge adds what o counted to t. The sums behind the means are added in
// the order of the calls (floating-point addition is not associative):
// parts merged in a fixed order give the same means however and whenever
// each part was counted.
func (t *Tally) Merge(o *Tally) {
	t.cov.Records += o.cov.Records
	for i := range o.cov.Columns {
		oc := &o.cov.Columns[i]
		c := t.column(oc.Name, oc.Kind, oc.Possible)
		for v, n := range oc.Counts {
			c.Counts[v] += n
		}
		if oc.N == 0 || c.Counts != nil {
			continue
		}
		if c.N == 0 || oc.Min < c.Min {
			c.Min = oc.Min
		}
		if c.N == 0 || oc.Max > c.Max {
			c.Max = oc.Max
		}
		c.N += oc.N
		c.sum += oc.sum
	}
}

// column is the column name, added with the kind and the number of
// possible values given when it is new.
func (t *Tally) column(name, kind string, possible int) *ColumnCoverage {
	i, seen := t.idx[name]
	if !seen {
		if t.idx == nil {
			t.idx = map[string]int{}
		}
		i = len(t.cov.Columns)
		t.idx[name] = i
		c := ColumnCoverage{Name: name, Kind: kind}
		if !Numeric(kind) {
			c.Counts = map[string]int{}
			c.Possible = possible
		}
		t.cov.Columns = append(t.cov.Columns, c)
	}
	return &t.cov.Columns[i]
}

// Coverage is what t has counted, means computed. It shares the counts
// with t: later Adds show in it.
func (t *Tally) Coverage() Coverage {
	cov := Coverage{Records: t.cov.Records, Columns: slices.Clone(t.cov.Columns)}
	for i := range cov.Columns {
		if c := &cov.Columns[i]; c.N > 0 {
			c.Mean = c.sum / float64(c.N)
		}
	}
	return cov
}

func (c *ColumnCoverage) add(v any) {
	if c.Counts != nil {
		if v != nil {
			c.Counts[fmt.Sprint(v)]++
		}
		return
	}
	x, ok := Number(v)
	if !ok {
		return
	}
	if c.N == 0 || x < c.Min {
		c.Min = x
	}
	if c.N == 0 || x > c.Max {
		c.Max = x
	}
	c.N++
	c.sum += x
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
