// Package train fits engine/llama models: AdamW, learning-rate schedules,
// SFT, DPO and GRPO steps, dataset mixing and exactly resumable checkpoints.
package train

import (
	"math"

	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tensor"
)

// AdamWConfig holds the optimizer's hyperparameters; the learning rate comes
// from a Schedule at each step.
type AdamWConfig struct {
	Beta1       float64 `json:"beta1"`
	Beta2       float64 `json:"beta2"`
	Eps         float64 `json:"eps"`
	WeightDecay float64 `json:"weight_decay"`
}

// DefaultAdamW is the usual small-transformer setting.
var DefaultAdamW = AdamWConfig{Beta1: 0.9, Beta2: 0.95, Eps: 1e-8, WeightDecay: 0.1}

// AdamW is Adam with decoupled weight decay (Loshchilov & Hutter): the decay
// p ← p − lr·λ·p is applied to the weight directly, not folded into the
// gradient, so it is not rescaled by Adam's per-weight step size.
//
// Decay applies only to tensors whose llama.TensorSpec.Decay is set: the
// attention and MLP projections and an untied output head. Norm gains are
// not decayed because pulling them toward zero rather than one fights the
// normalisation; the token embedding is not decayed because rare tokens get
// few gradient updates and would be shrunk toward zero between them (the
// GPT-2/nanoGPT convention), and a tied head inherits that choice.
type AdamW struct {
	Config AdamWConfig
	M, V   []float32 // first and second moment estimates
	Steps  int       // updates applied so far
	decay  []bool    // per parameter; a mask keeps Update a single flat loop

	cur      adamStep
	updateFn func(lo, hi int) // bound once so Update allocates nothing
}

// NewAdamW returns zero-state AdamW for m's parameters.
func NewAdamW(m *llama.Model, cfg AdamWConfig) *AdamW {
	n := len(m.Params)
	o := &AdamW{Config: cfg, M: make([]float32, n), V: make([]float32, n), decay: make([]bool, n)}
	for _, s := range m.Specs {
		if s.Decay {
			for i := s.Offset; i < s.Offset+s.Size(); i++ {
				o.decay[i] = true
			}
		}
	}
	return o
}

// Update applies one step with learning rate lr. The elementwise update
// runs on the tensor worker pool; each weight's arithmetic is the same
// whatever the split, so the update does not depend on the thread count.
func (o *AdamW) Update(params, grads []float32, lr float64) {
	o.Steps++
	c := o.Config
	// Bias corrections folded into the step size, computed in float64 once
	// per step.
	bc1 := 1 - math.Pow(c.Beta1, float64(o.Steps))
	bc2 := 1 - math.Pow(c.Beta2, float64(o.Steps))
	o.cur = adamStep{
		params: params, grads: grads[:len(params)],
		b1: float32(c.Beta1), b2: float32(c.Beta2), eps: float32(c.Eps),
		stepSize: float32(lr / bc1), rbc2: float32(1 / math.Sqrt(bc2)),
		shrink: float32(1 - lr*c.WeightDecay),
	}
	if o.updateFn == nil {
		o.updateFn = o.updateRange
	}
	tensor.Parallel(len(params), o.updateFn)
	o.cur = adamStep{}
}

// adamStep carries one Update's operands to the pool's range calls.
type adamStep struct {
	params, grads                       []float32
	b1, b2, eps, stepSize, rbc2, shrink float32
}

func (o *AdamW) updateRange(lo, hi int) {
	st := &o.cur
	b1, b2, eps, stepSize, rbc2, shrink := st.b1, st.b2, st.eps, st.stepSize, st.rbc2, st.shrink
	params, grads := st.params[lo:hi], st.grads[lo:hi]
	m, v, decay := o.M[lo:hi], o.V[lo:hi], o.decay[lo:hi]
	for i, g := range grads {
		mi := b1*m[i] + (1-b1)*g
		vi := b2*v[i] + (1-b2)*g*g
		m[i], v[i] = mi, vi
		p := params[i]
		if decay[i] {
			p *= shrink
		}
		params[i] = p - stepSize*mi/(float32(math.Sqrt(float64(vi)))*rbc2+eps)
	}
}

// ClipGradNorm scales grads so their global L2 norm is at most maxNorm
// (no-op if maxNorm ≤ 0) and returns the norm before clipping.
func ClipGradNorm(grads []float32, maxNorm float64) float64 {
	var ss float64
	for _, g := range grads {
		ss += float64(g) * float64(g)
	}
	norm := math.Sqrt(ss)
	if maxNorm > 0 && norm > maxNorm {
		s := float32(maxNorm / (norm + 1e-12))
		for i := range grads {
			grads[i] *= s
		}
	}
	return norm
}
