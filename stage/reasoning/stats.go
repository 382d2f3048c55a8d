package reasoning

import (
	"context"
	"fmt"
	"math"
	"slices"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
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

// String renders the summary in two lines.
func (s Summary) String() string {
	return fmt.Sprintf("problems %d (failed %d, no agreed answer %d); samples %d, verified %d; mean pass rate %.2f; all correct %d, none %d, some %d\n"+
		"traces kept %d (%d cut from the reply text); trace length chars mean %.0f, median %.0f, p90 %.0f; est. tokens mean %.0f, median %.0f, p90 %.0f",
		s.Problems, s.Failed, s.NoVote, s.Samples, s.Passed, s.MeanPassRate, s.AllCorrect, s.NoneCorrect, s.Mixed,
		s.Traces, s.Inline, s.Chars.Mean, s.Chars.Median, s.Chars.P90, s.Tokens.Mean, s.Tokens.Median, s.Tokens.P90)
}

// Summarize reads a reasoning stage's records from the store.
func Summarize(ctx context.Context, st pipeline.Store, stage string) (Summary, error) {
	var sum Summary
	var rates, chars, toks []float64
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
	return sum, nil
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
