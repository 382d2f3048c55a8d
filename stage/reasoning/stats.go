package reasoning

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// Summary is what `synthloop status` shows of a reasoning stage.
type Summary struct {
	Problems int // problems solved (failed ones excluded)
	Failed   int // problems whose unit failed (no reply, no problem, no reference)
	NoVote   int // problems without an agreed answer (reference: vote)
	Samples  int // samples drawn
	Passed   int // samples verified
	// By pass rate: problems every sample solved, none solved, some solved.
	AllCorrect, NoneCorrect, Mixed int
	MeanPassRate                   float64 // over problems; NaN with none
	Traces                         int     // kept traces
	Inline                         int     // kept traces cut from the reply text rather than given apart by the provider
	Chars, Tokens                  Lengths // of the kept traces
	// ByAttribute is the pass rate per value of each attribute the problems
	// carry (a sample stage's columns with a list of values): the
	// difficulty asked for against the difficulty measured.
	ByAttribute []AttributeRates
	// Coverage is how evenly the kept traces cover each attribute: the
	// filters (pass rate, verification) skew what was drawn evenly.
	Coverage attrs.Coverage
}

// AttributeRates are the pass rates of one attribute's values, the
// highest mean first.
type AttributeRates struct {
	Name   string
	Values []ValueRate
}

// ValueRate is the mean pass rate of the problems with one attribute value.
type ValueRate struct {
	Value        string
	Problems     int
	MeanPassRate float64
}

// rateTally accumulates pass rates per attribute value.
type rateTally struct {
	order []string                      // attribute names, as first met
	sums  map[string]map[string]float64 // name → value → sum of pass rates
	ns    map[string]map[string]int
}

func (t *rateTally) add(r *record.Record, rate float64) {
	spec, ok := attrs.Of(r)
	if !ok {
		return
	}
	if t.sums == nil {
		t.sums, t.ns = map[string]map[string]float64{}, map[string]map[string]int{}
	}
	for _, c := range spec.Columns {
		v := attrs.Value(r, c)
		if attrs.Numeric(spec.Kinds[c]) || v == nil {
			continue
		}
		if t.sums[c] == nil {
			t.order = append(t.order, c)
			t.sums[c], t.ns[c] = map[string]float64{}, map[string]int{}
		}
		key := fmt.Sprint(v)
		t.sums[c][key] += rate
		t.ns[c][key]++
	}
}

func (t *rateTally) rates() []AttributeRates {
	var out []AttributeRates
	for _, c := range t.order {
		a := AttributeRates{Name: c}
		for v, n := range t.ns[c] {
			a.Values = append(a.Values, ValueRate{Value: v, Problems: n, MeanPassRate: t.sums[c][v] / float64(n)})
		}
		slices.SortFunc(a.Values, func(x, y ValueRate) int {
			return cmp.Or(cmp.Compare(y.MeanPassRate, x.MeanPassRate), cmp.Compare(x.Value, y.Value))
		})
		out = append(out, a)
	}
	return out
}

// maxRateValues is the most values a pass-rate line lists.
const maxRateValues = 8

// attributeLines are the pass rates by attribute and the coverage of the
// kept traces, "" when the problems carry no attributes.
func (s Summary) attributeLines() string {
	var b strings.Builder
	for _, a := range s.ByAttribute {
		fmt.Fprintf(&b, "pass rate by %s:", a.Name)
		for i, v := range a.Values {
			if i == maxRateValues {
				fmt.Fprintf(&b, " … (%d more)", len(a.Values)-i)
				break
			}
			sep := " ·"
			if i == 0 {
				sep = ""
			}
			fmt.Fprintf(&b, "%s %s %.2f (%d)", sep, genkit.Clip(v.Value, 40), v.MeanPassRate, v.Problems)
		}
		b.WriteString("\n")
	}
	if s.Coverage.Records > 0 {
		b.WriteString("kept traces' " + s.Coverage.String())
	}
	return strings.TrimRight(b.String(), "\n")
}

// Lengths are the mean, median and 90th percentile of trace lengths.
type Lengths struct {
	Mean, Median, P90 float64
}

func lengths(xs []float64) Lengths {
	if len(xs) == 0 {
		return Lengths{math.NaN(), math.NaN(), math.NaN()}
	}
	slices.Sort(xs)
	sum := 0.0
	for _, x := range xs {
		sum += x
	}
	return Lengths{Mean: sum / float64(len(xs)), Median: quantile(xs, 0.5), P90: quantile(xs, 0.9)}
}

// quantile interpolates linearly between the closest ranks of sorted xs.
func quantile(xs []float64, q float64) float64 {
	pos := q * float64(len(xs)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(xs)-1)
	return xs[lo] + (pos-float64(lo))*(xs[hi]-xs[lo])
}

// String renders the summary in two lines, then the pass rates by
// attribute and the coverage when the problems carry attributes.
func (s Summary) String() string {
	out := fmt.Sprintf("problems %d (failed %d, no agreed answer %d); samples %d, verified %d; mean pass rate %.2f; all correct %d, none %d, some %d\n"+
		"traces kept %d (%d cut from the reply text); trace length chars mean %.0f, median %.0f, p90 %.0f; est. tokens mean %.0f, median %.0f, p90 %.0f",
		s.Problems, s.Failed, s.NoVote, s.Samples, s.Passed, s.MeanPassRate, s.AllCorrect, s.NoneCorrect, s.Mixed,
		s.Traces, s.Inline, s.Chars.Mean, s.Chars.Median, s.Chars.P90, s.Tokens.Mean, s.Tokens.Median, s.Tokens.P90)
	if a := s.attributeLines(); a != "" {
		out += "\n" + a
	}
	return out
}

// Summarize reads a reasoning stage's records from the store.
func Summarize(ctx context.Context, st pipeline.Store, stage string) (Summary, error) {
	var sum Summary
	var rates, chars, toks []float64
	var byAttr rateTally
	for r, err := range st.Records(ctx, stage, "") {
		if err != nil {
			return sum, err
		}
		switch r.Meta["kind"] {
		case KindProblem:
			if r.Status == record.Failed {
				sum.Failed++
				continue
			}
			rate, ok := num(r.Meta["pass_rate"])
			if !ok {
				sum.NoVote++
				sum.Samples += len(r.Candidates)
				continue
			}
			sum.Problems++
			sum.Samples += len(r.Candidates)
			p, _ := num(r.Meta["passed"])
			sum.Passed += int(p)
			rates = append(rates, rate)
			byAttr.add(r, rate)
			switch {
			case rate == 1:
				sum.AllCorrect++
			case rate == 0:
				sum.NoneCorrect++
			default:
				sum.Mixed++
			}
		case KindTrace:
			if r.Status != record.Kept {
				continue
			}
			sum.Traces++
			if in, _ := r.Meta["inline_trace"].(bool); in {
				sum.Inline++
			}
			c, _ := num(r.Meta["trace_chars"])
			t, _ := num(r.Meta["trace_tokens"])
			chars, toks = append(chars, c), append(toks, t)
		}
	}
	sum.MeanPassRate = math.NaN()
	if len(rates) > 0 {
		total := 0.0
		for _, x := range rates {
			total += x
		}
		sum.MeanPassRate = total / float64(len(rates))
	}
	sum.Chars, sum.Tokens = lengths(chars), lengths(toks)
	sum.ByAttribute = byAttr.rates()
	cov, err := attrs.Summarize(ctx, st, stage, func(r *record.Record) bool { return r.Meta["kind"] == KindTrace })
	sum.Coverage = cov
	return sum, err
}

// num reads a number from Meta, which holds ints when a record is made and
// float64s when it is read back from the store's JSON.
func num(v any) (float64, bool) {
	switch x := v.(type) {
	case float64:
		return x, true
	case int:
		return float64(x), true
	}
	return 0, false
}
