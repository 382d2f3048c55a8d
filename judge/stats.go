package judge

import (
	"math"
	"sort"
)

// ranks returns the 1-based ranks of xs, ties sharing their average rank,
// as Spearman's coefficient with ties requires.
func ranks(xs []float64) []float64 {
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	r := make([]float64, len(xs))
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && xs[idx[j+1]] == xs[idx[i]] {
			j++
		}
		avg := float64(i+j)/2 + 1
		for k := i; k <= j; k++ {
			r[idx[k]] = avg
		}
		i = j + 1
	}
	return r
}

// pearson is the sample correlation; NaN when either side is constant.
func pearson(x, y []float64) float64 {
	n := float64(len(x))
	if len(x) < 2 || len(x) != len(y) {
		return math.NaN()
	}
	var mx, my float64
	for i := range x {
		mx += x[i]
		my += y[i]
	}
	mx /= n
	my /= n
	var sxy, sxx, syy float64
	for i := range x {
		dx, dy := x[i]-mx, y[i]-my
		sxy += dx * dy
		sxx += dx * dx
		syy += dy * dy
	}
	if sxx == 0 || syy == 0 {
		return math.NaN()
	}
	return sxy / math.Sqrt(sxx*syy)
}

// Spearman returns Spearman's rank correlation of x and y: the Pearson
// correlation of their ranks, ties at average rank. NaN when undefined
// (fewer than 2 pairs, or a constant side).
func Spearman(x, y []float64) float64 { return pearson(ranks(x), ranks(y)) }

// KendallTau returns Kendall's τ-b of x and y, which corrects for ties (human
// scores on a 5-point scale tie a lot): (C − D) / sqrt((n0 − n1)(n0 − n2)).
// NaN when undefined. O(n²), fine for calibration sets of thousands.
func KendallTau(x, y []float64) float64 {
	if len(x) < 2 || len(x) != len(y) {
		return math.NaN()
	}
	var conc, disc, tx, ty float64
	for i := range x {
		for j := i + 1; j < len(x); j++ {
			dx, dy := sign(x[i]-x[j]), sign(y[i]-y[j])
			switch {
			case dx == 0 && dy == 0:
			case dx == 0:
				tx++
			case dy == 0:
				ty++
			case dx == dy:
				conc++
			default:
				disc++
			}
		}
	}
	den := math.Sqrt((conc + disc + tx) * (conc + disc + ty))
	if den == 0 {
		return math.NaN()
	}
	return (conc - disc) / den
}

// PairAccuracy is the share of pairs that the labels order strictly (human
// scores differ) which the judge orders the same way; a judge tie on such a
// pair counts half, as a coin flip would. It returns the accuracy and the
// number of pairs; NaN with no such pair.
func PairAccuracy(human, judge []float64) (acc float64, pairs int) {
	var hits float64
	for i := range human {
		for j := i + 1; j < len(human); j++ {
			h := sign(human[i] - human[j])
			if h == 0 {
				continue
			}
			pairs++
			switch sign(judge[i] - judge[j]) {
			case h:
				hits++
			case 0:
				hits += 0.5
			}
		}
	}
	if pairs == 0 {
		return math.NaN(), 0
	}
	return hits / float64(pairs), pairs
}

func sign(f float64) int {
	switch {
	case f > 0:
		return 1
	case f < 0:
		return -1
	}
	return 0
}
