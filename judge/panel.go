package judge

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"

	"golang.org/x/sync/errgroup"
)

// Aggregations of a panel.
const (
	Mean     = "mean"     // the mean of the members' scores
	Majority = "majority" // the most common rounded score; ties go to the lower score
)

// Panel is several judges, usually on different backends, whose verdicts
// are aggregated so that no single model's bias decides.
type Panel struct {
	judges    []Judge
	comparers []Comparer
	agg       string
}

// NewPanel returns a panel of pointwise judges (and, for Compare, of
// comparers; either list may be empty if that use is not needed).
func NewPanel(agg string, judges []Judge, comparers []Comparer) (*Panel, error) {
	if agg == "" {
		agg = Mean
	}
	if agg != Mean && agg != Majority {
		return nil, fmt.Errorf("judge: aggregate %q (want mean or majority)", agg)
	}
	if len(judges) == 0 && len(comparers) == 0 {
		return nil, errors.New("judge: a panel needs members")
	}
	return &Panel{judges: judges, comparers: comparers, agg: agg}, nil
}

// Score implements Judge. Members are asked in order; a member without a
// score is left out of the aggregate, and with no member scoring the result
// has Err set. Agreement is the share of scoring members whose rounded score
// is the modal one.
func (p *Panel) Score(ctx context.Context, it Item) (Result, error) {
	res := Result{Judge: "panel"}
	// Members run at once: they are usually different backends, so the panel
	// takes as long as its slowest member rather than the sum.
	members := make([]Result, len(p.judges))
	g, gctx := errgroup.WithContext(ctx)
	for i, j := range p.judges {
		g.Go(func() error {
			var err error
			members[i], err = j.Score(gctx, it)
			return err
		})
	}
	err := g.Wait()
	var scores []float64
	for _, r := range members {
		res.Usage.Add(r.Usage)
		res.RequestKeys = append(res.RequestKeys, r.RequestKeys...)
		res.Members = append(res.Members, r)
		if res.Template == "" {
			res.Template = r.Template
		}
		if r.OK() && err == nil {
			scores = append(scores, r.Score)
		}
	}
	if err != nil {
		return res, err
	}
	if len(scores) == 0 {
		res.Err = "judge: no panel member gave a score"
		for _, m := range res.Members {
			res.Err += "; " + m.Judge + ": " + m.Err
		}
		return res, nil
	}
	mode, agree := modal(scores)
	res.Agreement = agree
	res.Spread = slices.Max(scores) - slices.Min(scores)
	if p.agg == Majority {
		res.Score = mode
	} else {
		var sum float64
		for _, s := range scores {
			sum += s
		}
		res.Score = sum / float64(len(scores))
	}
	return res, nil
}

// modal returns the most common rounded value (the lowest among equals, so a
// split panel errs on the strict side) and the share of values equal to it.
func modal(xs []float64) (mode, share float64) {
	count := map[float64]int{}
	for _, x := range xs {
		count[math.Round(x)]++
	}
	keys := slices.Sorted(maps.Keys(count))
	best := keys[0]
	for _, k := range keys {
		if count[k] > count[best] {
			best = k
		}
	}
	return best, float64(count[best]) / float64(len(xs))
}

// Compare implements Comparer: each member compares in both orders, and the
// panel's winner is the verdict most members gave (a tie when two verdicts
// are equally common). Reasons are every member's reasons, in member order.
func (p *Panel) Compare(ctx context.Context, prompt, a, b string) (Preference, error) {
	var out Preference
	members := make([]Preference, len(p.comparers))
	g, gctx := errgroup.WithContext(ctx)
	for i, c := range p.comparers {
		g.Go(func() error {
			var err error
			members[i], err = c.Compare(gctx, prompt, a, b)
			return err
		})
	}
	err := g.Wait()
	count := map[Winner]int{}
	n := 0
	var errs []string
	for _, r := range members {
		out.Usage.Add(r.Usage)
		out.RequestKeys = append(out.RequestKeys, r.RequestKeys...)
		if err != nil {
			continue
		}
		out.Reasons = append(out.Reasons, r.Reasons...)
		if out.Template == "" {
			out.Template = r.Template
		}
		if !r.OK() {
			errs = append(errs, r.Err)
			continue
		}
		count[r.Winner]++
		n++
	}
	if err != nil {
		return out, err
	}
	if n == 0 {
		out.Err = fmt.Sprintf("judge: no panel member gave a verdict: %v", errs)
		return out, nil
	}
	best, bestN, split := WinnerTie, 0, false
	for _, w := range []Winner{WinnerA, WinnerB, WinnerTie} {
		switch {
		case count[w] > bestN:
			best, bestN, split = w, count[w], false
		case count[w] == bestN && bestN > 0:
			split = true
		}
	}
	if split {
		best = WinnerTie
	}
	out.Winner, out.Forward, out.Backward = best, best, best
	out.Agreement = float64(count[best]) / float64(n)
	return out, nil
}
