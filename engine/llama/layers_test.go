package llama

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/synthloop/synthloop/engine/tensor"
)

// layerCase is one layer as a function of its inputs: forward fills out,
// backward fills the inputs' gradients from dout (zeroed before each call).
type layerCase struct {
	name     string
	inputs   [][]float32
	out      []float32
	forward  func()
	backward func(dout []float32, grads [][]float32)
}

// checkLayer compares the gradient of Σ r⊙out with respect to each input,
// along random directions, against central differences.
func checkLayer(t *testing.T, c layerCase, rng *rand.Rand) {
	t.Helper()
	r := make([]float32, len(c.out))
	for i := range r {
		r[i] = float32(rng.NormFloat64())
	}
	loss := func() float64 {
		c.forward()
		var s float64
		for i, v := range c.out {
			s += float64(v) * float64(r[i])
		}
		return s
	}
	loss()
	grads := make([][]float32, len(c.inputs))
	for i, in := range c.inputs {
		grads[i] = make([]float32, len(in))
	}
	c.backward(r, grads)
	for k, in := range c.inputs {
		u := make([]float64, len(in))
		var norm, analytic float64
		for i := range u {
			u[i] = rng.NormFloat64()
			norm += u[i] * u[i]
		}
		for i := range u {
			u[i] /= math.Sqrt(norm)
			analytic += u[i] * float64(grads[k][i])
		}
		orig := slices.Clone(in)
		shift := func(s float64) float64 {
			for i := range u {
				in[i] = orig[i] + float32(s*u[i])
			}
			return loss()
		}
		const eps = 1e-2
		d1 := (shift(eps) - shift(-eps)) / (2 * eps)
		d2 := (shift(eps/2) - shift(-eps/2)) / eps
		numeric := (4*d2 - d1) / 3
		copy(in, orig)
		if diff := math.Abs(numeric - analytic); diff > 1e-3*math.Max(math.Abs(numeric), math.Abs(analytic))+1e-4 {
			t.Errorf("%s input %d: analytic %.6g, numeric %.6g", c.name, k, analytic, numeric)
		}
	}
}

func randVec(rng *rand.Rand, n int, mean, std float64) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(mean + std*rng.NormFloat64())
	}
	return v
}

// TestGradientCheckLayers checks each layer's input and weight gradients in
// isolation, so a failure names the layer rather than the whole model.
func TestGradientCheckLayers(t *testing.T) {
	rng := rand.New(rand.NewPCG(2, 3))
	const n, d, f = 6, 8, 10

	{
		x, w, y, rstd := randVec(rng, n*d, 0, 1), randVec(rng, d, 1, 0.3), make([]float32, n*d), make([]float32, n)
		checkLayer(t, layerCase{name: "rmsnorm", inputs: [][]float32{x, w}, out: y,
			forward: func() { rmsnorm(y, rstd, x, w, n, d, 1e-5) },
			backward: func(dy []float32, g [][]float32) {
				rmsnormBackward(g[0], g[1], dy, x, rstd, w, n, d)
			}}, rng)
	}
	{
		x, w, y := randVec(rng, n*d, 0, 1), randVec(rng, f*d, 0, 0.5), make([]float32, n*f)
		checkLayer(t, layerCase{name: "linear", inputs: [][]float32{x, w}, out: y,
			forward: func() { linear(y, x, w, n, d, f) },
			backward: func(dy []float32, g [][]float32) {
				linearBackward(g[0], g[1], dy, x, w, n, d, f, 0)
			}}, rng)
	}
	{
		h1, h3, a := randVec(rng, n*f, 0, 2), randVec(rng, n*f, 0, 1), make([]float32, n*f)
		checkLayer(t, layerCase{name: "swiglu", inputs: [][]float32{h1, h3}, out: a,
			forward: func() { tensor.SwiGLU(a, h1, h3) },
			backward: func(da []float32, g [][]float32) {
				tensor.SwiGLUBackward(g[0], g[1], da, h1, h3)
			}}, rng)
	}
	{
		cfg := tinyConfig(true, false)
		cfg.Heads, cfg.KVHeads = 2, 2
		m, _ := New(cfg, 1)
		const heads, hd = 2, 4
		x, y := randVec(rng, n*heads*hd, 0, 1), make([]float32, n*heads*hd)
		pos := []int{0, 1, 2, 5, 6, 7}
		checkLayer(t, layerCase{name: "rope", inputs: [][]float32{x}, out: y,
			forward: func() { copy(y, x); rope(y, m.ropeCos, m.ropeSin, pos, heads, hd, 1) },
			backward: func(dy []float32, g [][]float32) {
				copy(g[0], dy)
				rope(g[0], m.ropeCos, m.ropeSin, pos, heads, hd, -1)
			}}, rng)
	}
	for _, kv := range []int{1, 2, 4} {
		const b, tt, heads, hd = 2, 5, 4, 3
		// Blocks of 2 queries exercise the causal blocking, and a short last block.
		s := attnShape{t: tt, heads: heads, kvHeads: kv, hd: hd, block: 2}
		q := randVec(rng, b*tt*heads*hd, 0, 1)
		k, v := randVec(rng, b*tt*kv*hd, 0, 1), randVec(rng, b*tt*kv*hd, 0, 1)
		p, att := make([]float32, b*heads*tt*tt), make([]float32, b*tt*heads*hd)
		dp := make([]float32, tt*tt)
		checkLayer(t, layerCase{name: "attention", inputs: [][]float32{q, k, v}, out: att,
			forward: func() {
				for bi := range b {
					for h := range kv {
						attentionGroup(s, bi, h, q, k, v, p, att)
					}
				}
			},
			backward: func(datt []float32, g [][]float32) {
				for bi := range b {
					for h := range kv {
						attentionGroupBackward(s, bi, h, q, k, v, p, datt, g[0], g[1], g[2], dp)
					}
				}
			}}, rng)
	}
}
