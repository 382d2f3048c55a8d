package checkpoint_test

import (
	"slices"
	"testing"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/sample"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

// TestModelDirectoryServes saves a model and its tokenizer and checks that
// the loaded pair generates exactly what the original did.
func TestModelDirectoryServes(t *testing.T) {
	tok, err := tokenizer.TrainBPE([]string{"hello world, hello there"}, 256+10+len(tokenizer.DefaultSpecials), tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 16, Layers: 1, Heads: 2, KVHeads: 1, Hidden: 32,
		MaxSeq: 32, RoPE: true, RopeTheta: 10000, NormEps: 1e-5, TiedEmbeddings: true}, 4)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := checkpoint.SaveModel(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.SaveTokenizer(dir, tok); err != nil {
		t.Fatal(err)
	}
	m2, err := checkpoint.LoadModel(dir)
	if err != nil {
		t.Fatal(err)
	}
	tok2, err := checkpoint.LoadTokenizer(dir)
	if err != nil {
		t.Fatal(err)
	}
	gen := func(m *llama.Model, tok tokenizer.Tokenizer) []int32 {
		ids, _, err := tokenizer.EncodeChat(tok, []tokenizer.Message{{Role: "user", Content: "hello"}}, true)
		if err != nil {
			t.Fatal(err)
		}
		prompt := make([]int32, len(ids))
		for i, id := range ids {
			prompt[i] = int32(id)
		}
		cs, err := sample.Generate(m, [][]int32{prompt}, sample.Options{MaxTokens: 10, Temperature: 0.8, Seed: 1})
		if err != nil {
			t.Fatal(err)
		}
		return cs[0].Tokens
	}
	if a, b := gen(m, tok), gen(m2, tok2); !slices.Equal(a, b) {
		t.Errorf("loaded model generates %v, original %v", b, a)
	}
}
