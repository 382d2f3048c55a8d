package llama

import (
	"fmt"
	"math"
	"math/rand/v2"
)

// Model holds the weights and their gradients as two flat vectors with the
// layout of Config.Tensors, so optimizers and checkpoints treat them as one
// array while the layers see named views.
type Model struct {
	Config Config
	Specs  []TensorSpec
	Params []float32
	// Grads is nil until InitGrads (or the first Backward) allocates it, so
	// models that only run forward (serving, DPO references) do not pay
	// for it.
	Grads   []float32
	w, g    weights
	ropeCos []float32 // [MaxSeq, HeadDim/2]
	ropeSin []float32
}

// weights are views into a flat vector: one set over Params, one over Grads.
type weights struct {
	emb    []float32 // [Vocab, Dim]
	layers []layerWeights
	norm   []float32 // [Dim]
	out    []float32 // [Vocab, Dim]; aliases emb when tied
}

type layerWeights struct {
	attnNorm, wq, wk, wv, wo []float32
	ffnNorm, w1, w2, w3      []float32
}

// New returns a model with weights drawn from N(0, 0.02²), the residual
// output projections scaled down by 1/√(2·layers) as in GPT-2 so the residual
// stream's variance does not grow with depth, and norms set to one.
func New(cfg Config, seed uint64) (*Model, error) {
	m, err := NewZero(cfg)
	if err != nil {
		return nil, err
	}
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	resid := 0.02 / math.Sqrt(2*float64(cfg.Layers))
	for _, t := range m.Specs {
		v := m.Params[t.Offset : t.Offset+t.Size()]
		switch {
		case len(t.Shape) == 1:
			for i := range v {
				v[i] = 1
			}
		default:
			std := 0.02
			if hasSuffix(t.Name, "wo.weight") || hasSuffix(t.Name, "w2.weight") {
				std = resid
			}
			for i := range v {
				v[i] = float32(rng.NormFloat64() * std)
			}
		}
	}
	return m, nil
}

func hasSuffix(s, suf string) bool { return len(s) >= len(suf) && s[len(s)-len(suf):] == suf }

// NewZero returns a model with all weights zero, for loaders to fill.
func NewZero(cfg Config) (*Model, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	n := cfg.NumParams()
	m := &Model{Config: cfg, Specs: cfg.Tensors(), Params: make([]float32, n)}
	if last := m.Specs[len(m.Specs)-1]; last.Offset+last.Size() != n {
		return nil, fmt.Errorf("llama: internal error: tensor layout %d != %d params", last.Offset+last.Size(), n)
	}
	m.w = m.bind(m.Params)
	if cfg.RoPE {
		half := cfg.HeadDim() / 2
		m.ropeCos = make([]float32, cfg.MaxSeq*half)
		m.ropeSin = make([]float32, cfg.MaxSeq*half)
		for p := range cfg.MaxSeq {
			for i := range half {
				freq := math.Pow(cfg.RopeTheta, -float64(2*i)/float64(cfg.HeadDim()))
				s, c := math.Sincos(float64(p) * freq)
				m.ropeCos[p*half+i] = float32(c)
				m.ropeSin[p*half+i] = float32(s)
			}
		}
	}
	return m, nil
}

// Tensor returns the named weight tensor as a view into Params.
func (m *Model) Tensor(name string) (TensorSpec, []float32, bool) {
	for _, t := range m.Specs {
		if t.Name == name {
			return t, m.Params[t.Offset : t.Offset+t.Size()], true
		}
	}
	return TensorSpec{}, nil, false
}

// InitGrads allocates Grads if it is not there yet.
func (m *Model) InitGrads() {
	if m.Grads == nil {
		m.Grads = make([]float32, len(m.Params))
		m.g = m.bind(m.Grads)
	}
}

// ZeroGrads clears the gradient accumulators before a step.
func (m *Model) ZeroGrads() { clear(m.Grads) }

func (m *Model) bind(flat []float32) weights {
	i := 0
	next := func() []float32 {
		t := m.Specs[i]
		i++
		return flat[t.Offset : t.Offset+t.Size() : t.Offset+t.Size()]
	}
	var w weights
	w.emb = next()
	w.layers = make([]layerWeights, m.Config.Layers)
	for l := range w.layers {
		lw := &w.layers[l]
		lw.attnNorm, lw.wq, lw.wk, lw.wv, lw.wo = next(), next(), next(), next(), next()
		lw.ffnNorm, lw.w1, lw.w2, lw.w3 = next(), next(), next(), next()
	}
	w.norm = next()
	if m.Config.TiedEmbeddings {
		w.out = w.emb
	} else {
		w.out = next()
	}
	return w
}

// Clone returns a copy of the weights without gradients: the frozen
// reference for DPO, or a snapshot before a risky training round.
func (m *Model) Clone() *Model {
	c, err := NewZero(m.Config)
	if err != nil {
		panic("llama: clone of an invalid model: " + err.Error()) // m was built from a validated config
	}
	copy(c.Params, m.Params)
	return c
}
