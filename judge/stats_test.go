package judge

import (
	"math"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestStatistics(t *testing.T) {
	for _, tc := range []struct {
		name          string
		x, y          []float64
		rho, tau, acc float64
		pairs         int
	}{
		// Perfect order agreement.
		{"agree", []float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1, 1, 1, 6},
		{"reverse", []float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1, -1, 0, 6},
		// By hand: ranks y = 1,3,2,4; d² = 0+1+1+0 = 2; ρ = 1 − 6·2/(4·15) = 0.8.
		// Pairs: 5 concordant, 1 discordant: τ = 4/6.
		{"one swap", []float64{1, 2, 3, 4}, []float64{1, 3, 2, 4}, 0.8, 4.0 / 6, 5.0 / 6, 6},
		// Ties. x = 1,2,2,3 (ranks 1, 2.5, 2.5, 4); y = 1,3,2,4.
		// Pearson of ranks: rx−mean = −1.5, 0, 0, 1.5; ry−mean = −1.5, .5, −.5, 1.5;
		// sxy = 4.5, sxx = 4.5, syy = 5 → ρ = 4.5/sqrt(22.5) = 0.9486832981.
		// Pairs: (1,2) C, (1,3) C, (1,4) C, (2,3) tie in x only, (2,4) C, (3,4) C:
		// C = 5, D = 0, tx = 1, ty = 0 → τb = 5/sqrt(6·5) = 0.9128709292.
		// Accuracy over the 5 pairs x orders strictly: all 5 agree.
		{"ties in x", []float64{1, 2, 2, 3}, []float64{1, 3, 2, 4}, 4.5 / math.Sqrt(22.5), 5 / math.Sqrt(30), 1, 5},
		// A judge tie counts half: x = 1,2,3; y = 1,1,2. Pairs (1,2) judge tie
		// → .5, (1,3) hit, (2,3) hit: 2.5/3.
		{"judge tie", []float64{1, 2, 3}, []float64{1, 1, 2}, math.Sqrt(3) / 2, 2 / math.Sqrt(6), 2.5 / 3, 3},
	} {
		if got := Spearman(tc.x, tc.y); !near(got, tc.rho) {
			t.Errorf("%s: Spearman = %v, want %v", tc.name, got, tc.rho)
		}
		if got := KendallTau(tc.x, tc.y); !near(got, tc.tau) {
			t.Errorf("%s: KendallTau = %v, want %v", tc.name, got, tc.tau)
		}
		if got, n := PairAccuracy(tc.x, tc.y); !near(got, tc.acc) || n != tc.pairs {
			t.Errorf("%s: PairAccuracy = %v over %d, want %v over %d", tc.name, got, n, tc.acc, tc.pairs)
		}
	}
	if !math.IsNaN(Spearman([]float64{1, 1}, []float64{1, 2})) || !math.IsNaN(KendallTau([]float64{1}, []float64{1})) {
		t.Error("undefined statistics must be NaN, not a number that looks like an answer")
	}
}
