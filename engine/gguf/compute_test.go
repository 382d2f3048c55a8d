package gguf

import (
	"bytes"
	"fmt"
	"math"
	"testing"

	"github.com/synthloop/synthloop/engine/tokenizer"
)

// ggmlModel is an exported file as llama.cpp's llama graph sees it: tensors
// by name with ggml's dims, and the hyperparameters from the metadata.
type ggmlModel struct {
	t                           map[string][]float32
	dims                        map[string][]uint64
	nEmbd, nHead, nHeadKV, nRot int
	nLayer, nVocab              int
	eps, freqBase               float64
}

func loadGGML(t *testing.T, p *parsed) *ggmlModel {
	t.Helper()
	g := &ggmlModel{t: map[string][]float32{}, dims: map[string][]uint64{}}
	kv := map[string]any{}
	for _, x := range p.kvs {
		kv[x.Key] = x.Value
	}
	u := func(k string) int { return int(kv[k].(uint32)) }
	g.nEmbd, g.nHead, g.nHeadKV = u("llama.embedding_length"), u("llama.attention.head_count"), u("llama.attention.head_count_kv")
	g.nRot, g.nLayer = u("llama.rope.dimension_count"), u("llama.block_count")
	g.nVocab = len(kv["tokenizer.ggml.tokens"].([]string))
	g.eps = float64(kv["llama.attention.layer_norm_rms_epsilon"].(float32))
	g.freqBase = float64(kv["llama.rope.freq_base"].(float32))
	for i, ti := range p.tensors {
		g.t[ti.name], g.dims[ti.name] = p.tensorData(i), ti.dims
	}
	return g
}

// mulMat is ggml_mul_mat(w, x) for one column x: w has ne = [in, out], so
// row o is the ne[0] floats starting at o·in.
func (g *ggmlModel) mulMat(name string, x []float64) []float64 {
	w, d := g.t[name], g.dims[name]
	in, out := int(d[0]), int(d[1])
	y := make([]float64, out)
	for o := range out {
		for i := range in {
			y[o] += float64(w[o*in+i]) * x[i]
		}
	}
	return y
}

func (g *ggmlModel) rmsNorm(name string, x []float64) []float64 {
	ss := 0.0
	for _, v := range x {
		ss += v * v
	}
	r := 1 / math.Sqrt(ss/float64(len(x))+g.eps)
	w := g.t[name]
	y := make([]float64, len(x))
	for i, v := range x {
		y[i] = v * r * float64(w[i])
	}
	return y
}

// rope is ggml_rope_ext in mode 0 (LLAMA_ROPE_TYPE_NORM, the llama
// architecture's): within each head, pairs (i0, i0+1) turn by
// pos·base^(-i0/n_rot).
func (g *ggmlModel) rope(x []float64, heads, pos int) {
	hd := g.nEmbd / g.nHead
	for h := range heads {
		v := x[h*hd : (h+1)*hd]
		for i0 := 0; i0 < g.nRot; i0 += 2 {
			theta := float64(pos) * math.Pow(g.freqBase, -float64(i0)/float64(g.nRot))
			s, c := math.Sincos(theta)
			x0, x1 := v[i0], v[i0+1]
			v[i0], v[i0+1] = x0*c-x1*s, x0*s+x1*c
		}
	}
}

// forward runs llama.cpp's llama graph (llm_build_llama) on tokens and
// returns the logits of every position.
func (g *ggmlModel) forward(tokens []int) [][]float64 {
	hd := g.nEmbd / g.nHead
	group := g.nHead / g.nHeadKV
	xs := make([][]float64, len(tokens))
	for p, tok := range tokens {
		xs[p] = make([]float64, g.nEmbd)
		for i := range g.nEmbd {
			xs[p][i] = float64(g.t["token_embd.weight"][tok*g.nEmbd+i])
		}
	}
	for l := range g.nLayer {
		b := fmt.Sprintf("blk.%d.", l)
		ks, vs := make([][]float64, len(tokens)), make([][]float64, len(tokens))
		qs := make([][]float64, len(tokens))
		for p := range tokens {
			xn := g.rmsNorm(b+"attn_norm.weight", xs[p])
			qs[p], ks[p], vs[p] = g.mulMat(b+"attn_q.weight", xn), g.mulMat(b+"attn_k.weight", xn), g.mulMat(b+"attn_v.weight", xn)
			g.rope(qs[p], g.nHead, p)
			g.rope(ks[p], g.nHeadKV, p)
		}
		for p := range tokens {
			att := make([]float64, g.nEmbd)
			for h := range g.nHead {
				kh := h / group // ggml broadcasts K/V heads over consecutive Q heads
				q := qs[p][h*hd : (h+1)*hd]
				sc := make([]float64, p+1)
				mx := math.Inf(-1)
				for j := range p + 1 {
					for i := range hd {
						sc[j] += q[i] * ks[j][kh*hd+i]
					}
					sc[j] /= math.Sqrt(float64(hd))
					mx = max(mx, sc[j])
				}
				sum := 0.0
				for j := range sc {
					sc[j] = math.Exp(sc[j] - mx)
					sum += sc[j]
				}
				for j := range sc {
					for i := range hd {
						att[h*hd+i] += sc[j] / sum * vs[j][kh*hd+i]
					}
				}
			}
			o := g.mulMat(b+"attn_output.weight", att)
			for i := range o {
				xs[p][i] += o[i]
			}
			xn := g.rmsNorm(b+"ffn_norm.weight", xs[p])
			gate, up := g.mulMat(b+"ffn_gate.weight", xn), g.mulMat(b+"ffn_up.weight", xn)
			for i := range gate {
				gate[i] = gate[i] / (1 + math.Exp(-gate[i])) * up[i]
			}
			down := g.mulMat(b+"ffn_down.weight", gate)
			for i := range down {
				xs[p][i] += down[i]
			}
		}
	}
	head := "output.weight"
	if _, ok := g.t[head]; !ok {
		head = "token_embd.weight" // llama.cpp's fallback for tied embeddings
	}
	out := make([][]float64, len(tokens))
	for p := range tokens {
		out[p] = g.mulMat(head, g.rmsNorm("output_norm.weight", xs[p]))
	}
	return out
}

// TestFileComputesOurLogits reads an exported file back, runs it the way
// llama.cpp's llama architecture would (names, ggml dims, interleaved RoPE,
// GQA head grouping, SwiGLU, tied head fallback, all from the file alone),
// and checks the logits against our engine's. This is what "no Q/K
// permutation" and the dim order rest on.
func TestFileComputesOurLogits(t *testing.T) {
	for _, tied := range []bool{false, true} {
		t.Run(fmt.Sprintf("tied=%v", tied), func(t *testing.T) {
			tok := bpeTok(t)
			cfg := config(tok.VocabSize(), tied)
			cfg.RopeTheta = 100 // a small base makes every pair turn visibly over a few positions
			m := newModel(t, cfg)
			// At init scale (std 0.02) attention is nearly uniform and a wrong
			// RoPE or head grouping would barely move the logits; larger
			// weights make every position and head matter.
			for i := range m.Params {
				m.Params[i] *= 15
			}
			var buf bytes.Buffer
			if err := WriteModel(&buf, m, tok, "x"); err != nil {
				t.Fatal(err)
			}
			p, err := parse(buf.Bytes())
			if err != nil {
				t.Fatal(err)
			}
			ids, _, err := tokenizer.EncodeChat(tok, []tokenizer.Message{{Role: "user", Content: "hello world"}}, true)
			if err != nil {
				t.Fatal(err)
			}
			want := loadGGML(t, p).forward(ids)

			c, err := m.NewCache(1, len(ids), len(ids))
			if err != nil {
				t.Fatal(err)
			}
			toks := make([]int32, len(ids))
			seq := make([]int, len(ids))
			for i, id := range ids {
				toks[i] = int32(id)
			}
			got, err := c.Forward(seq, toks)
			if err != nil {
				t.Fatal(err)
			}
			worst, scale := 0.0, 0.0
			for pos := range ids {
				for v := range cfg.Vocab {
					worst = max(worst, math.Abs(float64(got[pos*cfg.Vocab+v])-want[pos][v]))
					scale = max(scale, math.Abs(want[pos][v]))
				}
			}
			// float32 against a float64 reference: relative error ~1e-6.
			if worst > 1e-4*scale {
				t.Errorf("engine and GGUF reference logits differ by up to %g (logits up to %g)", worst, scale)
			}
			t.Logf("max |logit| %.3g, max difference %.3g", scale, worst)
		})
	}
}
