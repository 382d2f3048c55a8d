package gguf_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/gguf"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

func Example() {
	tok, err := tokenizer.NewChar("abc ", tokenizer.DefaultSpecials)
	if err != nil {
		panic(err)
	}
	cfg := llama.Config{Vocab: tok.VocabSize(), Dim: 8, Layers: 1, Heads: 2, KVHeads: 1, Hidden: 16,
		MaxSeq: 32, RoPE: true, RopeTheta: 10000, NormEps: 1e-5, TiedEmbeddings: true}
	m, err := llama.New(cfg, 1)
	if err != nil {
		panic(err)
	}
	tmp, err := os.MkdirTemp("", "gguf-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "tiny")
	if err := checkpoint.SaveModel(dir, m); err != nil {
		panic(err)
	}
	if err := checkpoint.SaveTokenizer(dir, tok); err != nil {
		panic(err)
	}

	if err := gguf.Export(dir, filepath.Join(tmp, "tiny.gguf")); err != nil {
		panic(err)
	}
	ts, _ := gguf.Tensors(m)
	for _, t := range ts[:4] {
		fmt.Println(t.Name, t.Dims)
	}
	// Output:
	// token_embd.weight [8 11]
	// blk.0.attn_norm.weight [8]
	// blk.0.attn_q.weight [8 8]
	// blk.0.attn_k.weight [8 4]
}
