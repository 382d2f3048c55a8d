// Package llama is a LLaMA-style decoder-only transformer with explicit
// forward and backward passes for every layer, in the spirit of llama2.c.
package llama

import (
	"errors"
	"fmt"
)

// Config is the architecture of a model. Its JSON form is the config file
// saved beside a checkpoint.
type Config struct {
	Vocab   int `json:"vocab_size"`
	Dim     int `json:"dim"`
	Layers  int `json:"n_layers"`
	Heads   int `json:"n_heads"`
	KVHeads int `json:"n_kv_heads"` // grouped-query attention: Heads must be a multiple of KVHeads
	Hidden  int `json:"hidden_dim"` // SwiGLU inner width
	MaxSeq  int `json:"max_seq_len"`
	// RoPE selects rotary position embeddings on queries and keys (interleaved
	// pairs, the layout of Meta's checkpoints and llama.cpp); false is NoPE,
	// where causal masking alone tells positions apart.
	RoPE           bool    `json:"rope"`
	RopeTheta      float64 `json:"rope_theta,omitempty"`
	NormEps        float64 `json:"norm_eps"`
	TiedEmbeddings bool    `json:"tied_embeddings"` // output head shares the token embedding
}

// ErrConfig classifies invalid configurations.
var ErrConfig = errors.New("llama: invalid config")

// maxDim bounds every size so that products of sizes cannot overflow int and
// a hostile config cannot ask for an absurd allocation.
const maxDim = 1 << 20

// Validate reports whether c describes a buildable model.
func (c Config) Validate() error {
	for _, f := range []struct {
		name string
		v    int
	}{{"vocab_size", c.Vocab}, {"dim", c.Dim}, {"n_layers", c.Layers}, {"n_heads", c.Heads},
		{"n_kv_heads", c.KVHeads}, {"hidden_dim", c.Hidden}, {"max_seq_len", c.MaxSeq}} {
		if f.v <= 0 || f.v > maxDim {
			return fmt.Errorf("%w: %s=%d out of range [1, %d]", ErrConfig, f.name, f.v, maxDim)
		}
	}
	if c.Dim%c.Heads != 0 {
		return fmt.Errorf("%w: dim %d not divisible by n_heads %d", ErrConfig, c.Dim, c.Heads)
	}
	if c.Heads%c.KVHeads != 0 {
		return fmt.Errorf("%w: n_heads %d not a multiple of n_kv_heads %d", ErrConfig, c.Heads, c.KVHeads)
	}
	if c.RoPE && (c.HeadDim()%2 != 0 || !(c.RopeTheta > 0)) {
		return fmt.Errorf("%w: RoPE needs an even head dim (got %d) and rope_theta > 0 (got %g)", ErrConfig, c.HeadDim(), c.RopeTheta)
	}
	if !(c.NormEps > 0) {
		return fmt.Errorf("%w: norm_eps must be > 0, got %g", ErrConfig, c.NormEps)
	}
	// The RoPE tables hold MaxSeq·HeadDim floats whatever the file size, so a
	// hostile config could otherwise ask for terabytes.
	if c.RoPE && c.MaxSeq*c.HeadDim() > 1<<26 {
		return fmt.Errorf("%w: max_seq_len %d × head dim %d is too large for RoPE tables", ErrConfig, c.MaxSeq, c.HeadDim())
	}
	if n := c.NumParams(); n > 1<<34 {
		return fmt.Errorf("%w: %d parameters is too many", ErrConfig, n)
	}
	return nil
}

// HeadDim is the width of one attention head.
func (c Config) HeadDim() int { return c.Dim / c.Heads }

// TensorSpec names one weight tensor and its place in the flat parameter
// vector. Names follow Meta's llama checkpoints so exporters map them 1:1.
type TensorSpec struct {
	Name   string
	Shape  []int
	Offset int // in float32s from the start of Model.Params
	// Decay reports whether AdamW should apply weight decay: true for the
	// projection matrices, false for norms and the token embedding.
	Decay bool
}

// Size is the number of elements.
func (t TensorSpec) Size() int {
	n := 1
	for _, d := range t.Shape {
		n *= d
	}
	return n
}

// Tensors lists the model's tensors in storage order.
func (c Config) Tensors() []TensorSpec {
	kv := c.KVHeads * c.HeadDim()
	var specs []TensorSpec
	off := 0
	add := func(name string, decay bool, shape ...int) {
		t := TensorSpec{Name: name, Shape: shape, Offset: off, Decay: decay}
		off += t.Size()
		specs = append(specs, t)
	}
	add("tok_embeddings.weight", false, c.Vocab, c.Dim)
	for l := range c.Layers {
		p := fmt.Sprintf("layers.%d.", l)
		add(p+"attention_norm.weight", false, c.Dim)
		add(p+"attention.wq.weight", true, c.Dim, c.Dim)
		add(p+"attention.wk.weight", true, kv, c.Dim)
		add(p+"attention.wv.weight", true, kv, c.Dim)
		add(p+"attention.wo.weight", true, c.Dim, c.Dim)
		add(p+"ffn_norm.weight", false, c.Dim)
		add(p+"feed_forward.w1.weight", true, c.Hidden, c.Dim)
		add(p+"feed_forward.w2.weight", true, c.Dim, c.Hidden)
		add(p+"feed_forward.w3.weight", true, c.Hidden, c.Dim)
	}
	add("norm.weight", false, c.Dim)
	if !c.TiedEmbeddings {
		add("output.weight", true, c.Vocab, c.Dim)
	}
	return specs
}

// NumParams is the total number of weights.
func (c Config) NumParams() int {
	kv := c.KVHeads * (c.Dim / max(c.Heads, 1))
	per := 2*c.Dim + 2*c.Dim*c.Dim + 2*kv*c.Dim + 3*c.Hidden*c.Dim
	n := c.Vocab*c.Dim + c.Layers*per + c.Dim
	if !c.TiedEmbeddings {
		n += c.Vocab * c.Dim
	}
	return n
}
