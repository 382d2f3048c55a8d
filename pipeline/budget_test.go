package pipeline

import (
	"math"
	"testing"
)

func TestRoundUp(t *testing.T) {
	for _, tt := range []struct{ in, want float64 }{
		{2, 2}, {2.112, 2.2}, {0.5, 0.5}, {0.0123, 0.013}, {150, 150}, {151, 160}, {0, 0},
	} {
		if got := roundUp(tt.in); math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("roundUp(%g) = %g, want %g", tt.in, got, tt.want)
		}
	}
}
