package loopplug

import (
	"math"
	"testing"
)

func TestStandardError(t *testing.T) {
	for _, tc := range []struct {
		name string
		xs   []float64
		want float64
	}{
		{"one problem has no spread", []float64{0.5}, 0},
		{"all alike", []float64{0.25, 0.25, 0.25, 0.25}, 0},
		// Sample sd of {0, 1} is √0.5; over √2 problems that is 0.5.
		{"half right", []float64{0, 1}, 0.5},
		// {0, 0, 1, 1}: sd √(1/3), s.e. √(1/3)/2.
		{"four problems", []float64{0, 0, 1, 1}, math.Sqrt(1.0/3) / 2},
	} {
		var sum, sq float64
		for _, x := range tc.xs {
			sum, sq = sum+x, sq+x*x
		}
		n := float64(len(tc.xs))
		if got := standardError(sq/n, sum/n, n); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: standardError(%v) = %g, want %g", tc.name, tc.xs, got, tc.want)
		}
	}
}
