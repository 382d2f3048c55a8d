package methods

import (
	"math"
	"testing"
)

func TestPassAtK(t *testing.T) {
	for _, tc := range []struct {
		n, c, k int
		want    float64
	}{
		{n: 1, c: 0, k: 1, want: 0},
		{n: 1, c: 1, k: 1, want: 1},
		{n: 10, c: 3, k: 1, want: 0.3},             // pass@1 is the share of correct samples
		{n: 10, c: 0, k: 5, want: 0},               // nothing correct, nothing to draw
		{n: 10, c: 10, k: 5, want: 1},              // everything correct
		{n: 10, c: 6, k: 5, want: 1},               // fewer than k wrong samples: every draw has a correct one
		{n: 4, c: 1, k: 2, want: 0.5},              // 1 − C(3,2)/C(4,2) = 1 − 3/6
		{n: 5, c: 2, k: 3, want: 0.9},              // 1 − C(3,3)/C(5,3) = 1 − 1/10
		{n: 8, c: 1, k: 8, want: 1},                // k = n: any correct sample counts
		{n: 8, c: 0, k: 8, want: 0},                //
		{n: 20, c: 2, k: 4, want: 1 - 3060.0/4845}, // 1 − C(18,4)/C(20,4)
		{n: 200, c: 1, k: 100, want: 0.5},
	} {
		if got := PassAtK(tc.n, tc.c, tc.k); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("PassAtK(%d, %d, %d) = %.15g, want %.15g", tc.n, tc.c, tc.k, got, tc.want)
		}
	}
	for _, bad := range [][3]int{{0, 0, 1}, {4, 5, 1}, {4, -1, 1}, {4, 1, 0}, {4, 1, 5}} {
		if got := PassAtK(bad[0], bad[1], bad[2]); !math.IsNaN(got) {
			t.Errorf("PassAtK(%d, %d, %d) = %g, want NaN", bad[0], bad[1], bad[2], got)
		}
	}
}

// The estimator must agree with the closed form on every small case.
func TestPassAtKMatchesBinomials(t *testing.T) {
	binom := func(n, k int) float64 {
		if k < 0 || k > n {
			return 0
		}
		r := 1.0
		for i := 1; i <= k; i++ {
			r = r * float64(n-k+i) / float64(i)
		}
		return r
	}
	for n := 1; n <= 12; n++ {
		for c := 0; c <= n; c++ {
			for k := 1; k <= n; k++ {
				want := 1 - binom(n-c, k)/binom(n, k)
				if got := PassAtK(n, c, k); math.Abs(got-want) > 1e-12 {
					t.Errorf("PassAtK(%d, %d, %d) = %g, want %g", n, c, k, got, want)
				}
			}
		}
	}
}
