// Command llamacpp writes small exported models and our engine's answers for
// them, for check.mjs to compare with llama.cpp (see run.sh).
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/gguf"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

// expect is what our engine says, written beside each GGUF file.
type expect struct {
	Texts   []textIDs   `json:"texts"`    // plain text and our ids for it
	Chat    string      `json:"chat"`     // a rendered chat prompt, specials as text
	ChatIDs []int       `json:"chat_ids"` // EncodeChat's ids for it
	Logits  [][]float32 `json:"logits"`   // next-token logits at every position of ChatIDs
	// Dropped is text with a character outside the alphabet (Char only)
	// and our ids for it without that character, which is what llama.cpp
	// should produce (docs/GGUF.md).
	Dropped *textIDs `json:"dropped,omitempty"`
	End     int      `json:"end"` // id of <|end|>
	EOS     int      `json:"eos"`
}

type textIDs struct {
	Text string `json:"text"`
	IDs  []int  `json:"ids"`
}

var corpus = []string{
	"the quick brown fox jumps over the lazy dog. the dog sleeps!",
	"hello world, hello there; hello again... numbers 12 345 6789",
	"Once upon a time, there was a little cat who liked milk.",
	"  indented code:\n\tif x == 1 {\n\t\treturn y\n\t}\n",
	"café naïve résumé — “quotes” and emoji 🙂 too",
}

var texts = []string{
	"the quick brown fox", "hello world", " hello", "Once upon a time, there was a little cat.",
	"numbers 12 345 6789", "a  b", "line1\n\nline2", "  indented\n\tcode", "café naïve", "“quotes” — 🙂",
	"it's the dog's", "x=1;y=2",
}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: llamacpp OUTDIR")
		os.Exit(2)
	}
	for _, kind := range []string{"bpe", "char"} {
		if err := write(os.Args[1], kind); err != nil {
			fmt.Fprintln(os.Stderr, "llamacpp:", err)
			os.Exit(1)
		}
	}
}

func write(dir, kind string) error {
	var tok tokenizer.Tokenizer
	var err error
	if kind == "bpe" {
		tok, err = tokenizer.TrainBPE(corpus, 256+len(tokenizer.DefaultSpecials)+150, tokenizer.DefaultSpecials)
	} else {
		tok, err = tokenizer.NewCharFromCorpus(corpus, tokenizer.DefaultSpecials)
	}
	if err != nil {
		return err
	}
	// Untied with BPE, tied with Char, so both output heads are exercised.
	cfg := llama.Config{Vocab: tok.VocabSize(), Dim: 64, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 160, MaxSeq: 128,
		RoPE: true, RopeTheta: 10000, NormEps: 1e-5, TiedEmbeddings: kind == "char"}
	m, err := llama.New(cfg, 42)
	if err != nil {
		return err
	}
	// Initial weights give near-uniform attention, which would hide a wrong
	// RoPE or head mapping; larger ones make every position count.
	for i := range m.Params {
		m.Params[i] *= 10
	}
	mdir := filepath.Join(dir, "model-"+kind)
	if err := checkpoint.SaveModel(mdir, m); err != nil {
		return err
	}
	if err := checkpoint.SaveTokenizer(mdir, tok); err != nil {
		return err
	}
	if err := gguf.Export(mdir, filepath.Join(dir, kind+".gguf")); err != nil {
		return err
	}

	var e expect
	for _, t := range texts {
		if ids, err := tok.Encode(t); err == nil { // Char: skip text outside the alphabet
			e.Texts = append(e.Texts, textIDs{t, ids})
		}
	}
	if kind == "char" {
		ids, err := tok.Encode("hello  world")
		if err != nil {
			return err
		}
		e.Dropped = &textIDs{"hello ☃ world", ids}
	}
	// check.mjs renders this same conversation through the file's template.
	msgs := []tokenizer.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hello there"}}
	if e.ChatIDs, _, err = tokenizer.EncodeChat(tok, msgs, true); err != nil {
		return err
	}
	if e.Chat, err = tok.Decode(e.ChatIDs); err != nil {
		return err
	}
	e.End, _ = tok.SpecialID(tokenizer.End)
	e.EOS, _ = tok.SpecialID(tokenizer.EOS)
	c, err := m.NewCache(1, len(e.ChatIDs), len(e.ChatIDs))
	if err != nil {
		return err
	}
	toks := make([]int32, len(e.ChatIDs))
	for i, id := range e.ChatIDs {
		toks[i] = int32(id)
	}
	logits, err := c.Forward(make([]int, len(toks)), toks)
	if err != nil {
		return err
	}
	for p := range toks {
		e.Logits = append(e.Logits, logits[p*cfg.Vocab:(p+1)*cfg.Vocab])
	}
	b, err := json.Marshal(e)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, kind+".json"), b, 0o644)
}
