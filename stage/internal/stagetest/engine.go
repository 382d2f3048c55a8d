package stagetest

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/model"
	_ "github.com/synthloop/synthloop/model/local" // the provider Local opens
	"github.com/synthloop/synthloop/pipeline"
)

// TinyModel writes an untrained built-in model whose characters (newline
// and printable ASCII) spell the stages' English prompts and any ASCII
// JSON, with room for maxSeq tokens, and returns its directory. Left alone
// it writes noise: only the engine's constrained decoding makes it answer
// with a schema.
func TinyModel(t testing.TB, maxSeq int) string {
	t.Helper()
	var ascii strings.Builder
	ascii.WriteString("\n")
	for c := ' '; c <= '~'; c++ {
		ascii.WriteRune(c)
	}
	tok, err := tokenizer.NewChar(ascii.String(), tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 64, MaxSeq: maxSeq, NormEps: 1e-5}, 5)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := checkpoint.SaveModel(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.SaveTokenizer(dir, tok); err != nil {
		t.Fatal(err)
	}
	return dir
}

// Local opens every model name as the built-in model in dir, in-process.
func Local(dir string) func(string) (model.Backend, pipeline.ModelInfo, error) {
	return func(name string) (model.Backend, pipeline.ModelInfo, error) {
		b, _, err := model.Open(context.Background(), name, model.Config{Ref: "local/" + dir}, model.Options{})
		return b, pipeline.ModelInfo{Backend: "local", Model: "tiny"}, err
	}
}
