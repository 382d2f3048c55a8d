package llama

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

func tinyConfig(rope, tied bool) Config {
	return Config{Vocab: 11, Dim: 8, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 12, MaxSeq: 8,
		RoPE: rope, RopeTheta: 10000, NormEps: 1e-5, TiedEmbeddings: tied}
}

// gradFixture is a tiny model with weights large enough that every
// nonlinearity matters, and a batch with padding and masked positions.
type gradFixture struct {
	m        *Model
	ws       *Workspace
	tokens   []int32
	targets  []int32
	weights  []float32 // loss = −Σ weights[i]·LogProbs[i]
	rng      *rand.Rand
	lossEval func() float64
}

func newGradFixture(t *testing.T, cfg Config, seed uint64) *gradFixture {
	t.Helper()
	m, err := New(cfg, seed)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(seed, 1))
	for _, s := range m.Specs {
		v := m.Params[s.Offset : s.Offset+s.Size()]
		for i := range v {
			if len(s.Shape) == 1 {
				v[i] = float32(1 + 0.3*rng.NormFloat64())
			} else {
				v[i] = float32(0.4 * rng.NormFloat64())
			}
		}
	}
	ws, err := m.NewWorkspace(2, 5)
	if err != nil {
		t.Fatal(err)
	}
	f := &gradFixture{m: m, ws: ws, rng: rng, tokens: make([]int32, ws.N), targets: make([]int32, ws.N), weights: make([]float32, ws.N)}
	for i := range f.tokens {
		f.tokens[i] = int32(rng.IntN(cfg.Vocab))
		f.targets[i] = int32(rng.IntN(cfg.Vocab))
		f.weights[i] = float32(rng.Float64())
	}
	f.targets[3], f.weights[3] = -1, 0 // ignored position
	f.weights[7] = 0                   // masked position
	return f
}

func (f *gradFixture) loss(t *testing.T) float64 {
	if err := f.ws.Forward(f.tokens, f.targets); err != nil {
		t.Fatal(err)
	}
	var l float64
	for i, lp := range f.ws.LogProbs {
		l -= float64(f.weights[i]) * float64(lp)
	}
	return l
}

func (f *gradFixture) grads(t *testing.T) []float32 {
	f.m.ZeroGrads()
	f.loss(t)
	d := make([]float32, len(f.weights))
	for i, w := range f.weights {
		d[i] = -w
	}
	if err := f.ws.Backward(d); err != nil {
		t.Fatal(err)
	}
	return append([]float32(nil), f.m.Grads...)
}

// checkDirection compares the analytic derivative along u (restricted to
// params[lo:hi]) with a central finite difference. Checking directions
// rather than single weights sums thousands of float32 gradient entries, so
// the difference is far above float32 rounding noise.
func (f *gradFixture) checkDirection(t *testing.T, name string, g []float32, lo, hi int) {
	t.Helper()
	u := make([]float64, hi-lo)
	var norm float64
	for i := range u {
		u[i] = f.rng.NormFloat64()
		norm += u[i] * u[i]
	}
	norm = math.Sqrt(norm)
	var analytic float64
	for i := range u {
		u[i] /= norm
		analytic += u[i] * float64(g[lo+i])
	}
	orig := append([]float32(nil), f.m.Params[lo:hi]...)
	const eps = 1e-2
	shift := func(s float64) float64 {
		for i := range u {
			f.m.Params[lo+i] = orig[i] + float32(s*u[i])
		}
		return f.loss(t)
	}
	// Richardson extrapolation of two central differences cancels the
	// O(eps²) truncation term, leaving float32 rounding as the only error.
	d1 := (shift(eps) - shift(-eps)) / (2 * eps)
	d2 := (shift(eps/2) - shift(-eps/2)) / eps
	numeric := (4*d2 - d1) / 3
	copy(f.m.Params[lo:hi], orig)
	tol := 2e-3*math.Max(math.Abs(numeric), math.Abs(analytic)) + 2e-4
	if math.Abs(numeric-analytic) > tol {
		t.Errorf("%s: analytic %.6g, numeric %.6g (|diff| %.3g > tol %.3g)", name, analytic, numeric, math.Abs(numeric-analytic), tol)
	}
}

func TestGradientCheckModel(t *testing.T) {
	for _, tc := range []struct{ rope, tied bool }{{false, false}, {true, false}, {false, true}, {true, true}} {
		t.Run(fmt.Sprintf("rope=%v/tied=%v", tc.rope, tc.tied), func(t *testing.T) {
			f := newGradFixture(t, tinyConfig(tc.rope, tc.tied), 7)
			g := f.grads(t)
			for _, s := range f.m.Specs {
				f.checkDirection(t, s.Name, g, s.Offset, s.Offset+s.Size())
			}
			f.checkDirection(t, "all parameters", g, 0, len(g))
		})
	}
}

func TestGradientCheckMultiQueryAndFullHeads(t *testing.T) {
	for _, kv := range []int{1, 4} {
		cfg := tinyConfig(true, false)
		cfg.KVHeads = kv
		f := newGradFixture(t, cfg, 3)
		f.ws.attn.block = 2 // causal blocking inside the model, too
		g := f.grads(t)
		for _, s := range f.m.Specs {
			f.checkDirection(t, fmt.Sprintf("kv=%d %s", kv, s.Name), g, s.Offset, s.Offset+s.Size())
		}
	}
}

// TestGradientCheckSingleWeights checks individual weights of every tensor,
// which directional checks could in principle miss if errors cancelled.
func TestGradientCheckSingleWeights(t *testing.T) {
	f := newGradFixture(t, tinyConfig(true, false), 11)
	g := f.grads(t)
	for _, s := range f.m.Specs {
		for range 3 {
			i := s.Offset + f.rng.IntN(s.Size())
			f.checkDirection(t, fmt.Sprintf("%s[%d]", s.Name, i-s.Offset), g, i, i+1)
		}
	}
}

func TestBackwardNeedsForward(t *testing.T) {
	f := newGradFixture(t, tinyConfig(false, false), 1)
	f.grads(t)
	if err := f.ws.Backward(make([]float32, f.ws.N)); err == nil {
		t.Error("second Backward after one Forward succeeded")
	}
}

func TestForwardWorkspaceMatches(t *testing.T) {
	f := newGradFixture(t, tinyConfig(true, false), 4)
	f.loss(t)
	want := slices.Clone(f.ws.LogProbs)
	fw, err := f.m.NewForwardWorkspace(f.ws.B, f.ws.T)
	if err != nil {
		t.Fatal(err)
	}
	if err := fw.Forward(f.tokens, f.targets); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(fw.LogProbs, want) {
		t.Errorf("forward-only log-probs %v, want %v", fw.LogProbs, want)
	}
	if err := fw.Backward(make([]float32, fw.N)); err == nil {
		t.Error("Backward on a forward-only workspace succeeded")
	}
}

func TestClone(t *testing.T) {
	m, _ := New(tinyConfig(true, true), 1)
	c := m.Clone()
	if !slices.Equal(c.Params, m.Params) || c.Config != m.Config || c.Grads != nil {
		t.Fatal("clone differs from the original")
	}
	c.Params[0]++
	if c.Params[0] == m.Params[0] {
		t.Error("clone shares weights with the original")
	}
}

func TestValidate(t *testing.T) {
	good := tinyConfig(true, false)
	for _, tc := range []struct {
		name string
		edit func(*Config)
	}{
		{"zero vocab", func(c *Config) { c.Vocab = 0 }},
		{"heads not dividing dim", func(c *Config) { c.Heads = 3 }},
		{"kv heads not dividing heads", func(c *Config) { c.KVHeads = 3 }},
		{"odd head dim with rope", func(c *Config) { c.Dim, c.Heads, c.KVHeads = 12, 4, 4 }},
		{"rope without theta", func(c *Config) { c.RopeTheta = 0 }},
		{"no norm eps", func(c *Config) { c.NormEps = 0 }},
		{"huge rope tables", func(c *Config) { c.Dim, c.Heads, c.KVHeads, c.MaxSeq = 1<<16, 1, 1, 1<<20 }},
		{"huge dims", func(c *Config) { c.Hidden = 1 << 30 }},
	} {
		c := good
		tc.edit(&c)
		if err := c.Validate(); !errors.Is(err, ErrConfig) {
			t.Errorf("%s: Validate = %v, want ErrConfig", tc.name, err)
		}
	}
	if err := good.Validate(); err != nil {
		t.Errorf("valid config rejected: %v", err)
	}
}
