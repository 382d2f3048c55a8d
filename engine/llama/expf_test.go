package llama

import (
	"math"
	"testing"
)

func TestExpf(t *testing.T) {
	for x := float32(-87); x <= 88; x += 0.01 {
		want := math.Exp(float64(x))
		if got := float64(expf(x)); math.Abs(got-want) > 3e-7*want {
			t.Fatalf("expf(%g) = %g, want %g (rel err %.2g)", x, got, want, math.Abs(got-want)/want)
		}
	}
	if expf(-100) != 0 || !math.IsInf(float64(expf(100)), 1) {
		t.Error("expf does not saturate")
	}
}
