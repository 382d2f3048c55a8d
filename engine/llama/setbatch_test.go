package llama

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestSetBatch: a workspace cut to b of its rows gives each row the
// log-probabilities of the full batch, exactly, and the gradient of those
// rows that the full batch gives when its other rows get none; it grows
// back, refuses sizes outside its allocation, and refuses a backward pass
// across a change of size.
func TestSetBatch(t *testing.T) {
	for _, rope := range []bool{false, true} {
		m, err := New(tinyConfig(rope, false), 5)
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.Params {
			m.Params[i] *= 4
		}
		const rows, seq = 4, 6
		ws, err := m.NewWorkspace(rows, seq)
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(1, 2))
		tokens, targets := make([]int32, rows*seq), make([]int32, rows*seq)
		for i := range tokens {
			tokens[i], targets[i] = int32(rng.IntN(11)), int32(rng.IntN(11))
		}
		grad := func(b int) ([]float32, []float32) {
			if err := ws.SetBatch(b); err != nil {
				t.Fatal(err)
			}
			m.ZeroGrads()
			if err := ws.Forward(tokens[:b*seq], targets[:b*seq]); err != nil {
				t.Fatal(err)
			}
			lp := slices.Clone(ws.LogProbs)
			d := make([]float32, b*seq)
			for i := range min(2, b) * seq { // the first two rows carry the loss
				d[i] = -1
			}
			if err := ws.Backward(d); err != nil {
				t.Fatal(err)
			}
			return lp, slices.Clone(m.Grads)
		}
		fullLP, fullG := grad(rows)
		lp, g := grad(2)
		if !slices.Equal(lp, fullLP[:2*seq]) {
			t.Errorf("rope %v: log-probs of 2 rows %v, of the full batch %v", rope, lp, fullLP[:2*seq])
		}
		for i := range g {
			if d := math.Abs(float64(g[i] - fullG[i])); d > 1e-5*max(1, math.Abs(float64(fullG[i]))) {
				t.Fatalf("rope %v: gradient %d is %g on 2 rows, %g on the full batch", rope, i, g[i], fullG[i])
			}
		}
		if again, _ := grad(rows); !slices.Equal(again, fullLP) {
			t.Errorf("rope %v: the workspace grown back gives other log-probs", rope)
		}
		if ws.SetBatch(0) == nil || ws.SetBatch(rows+1) == nil {
			t.Error("SetBatch took a size outside [1, rows]")
		}
		if err := ws.Forward(tokens, targets); err != nil {
			t.Fatal(err)
		}
		if err := ws.SetBatch(1); err != nil {
			t.Fatal(err)
		}
		if ws.Backward(make([]float32, seq)) == nil {
			t.Error("a backward pass ran on the activations of a forward pass of another size")
		}
	}
}
