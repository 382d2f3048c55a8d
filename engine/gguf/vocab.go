package gguf

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/engine/tokenizer"
)

// How our tokenizers map onto llama.cpp's.
//
// llama.cpp tokenizes with one of a fixed set of algorithms named by
// tokenizer.ggml.model ("llama" SentencePiece, "gpt2" byte-level BPE,
// "bert" WordPiece, "t5" Unigram, "rwkv", "plamo2") and, for "gpt2", one of a
// fixed set of pre-tokenizer regexes named by tokenizer.ggml.pre; an
// unknown name is a load error. Both of our tokenizers are exported as
// "gpt2":
//
//   - BPE is a byte-level BPE already: ids 0..255 are bytes and each merge
//     makes one id, so the vocabulary and merges carry over one to one, in
//     GPT-2's byte-to-unicode spelling that llama.cpp expects. The merge
//     loop is the same (lowest rank first, leftmost on ties). What cannot
//     carry over is our pre-tokenizer (tokenizer.splitChunks): llama.cpp has
//     no regex equal to it, and "gpt-2" is the closest. They agree on words
//     with an optional leading space, on punctuation runs and on digits
//     (no merge of ours involves a digit, so llama.cpp's digit runs still
//     come out one digit per token), but differ on runs of whitespace
//     (ours keeps "  " or "\n\n" whole and gives the next word no leading
//     space; GPT-2 splits the last space off onto the word) and on non-ASCII
//     text (ours treats every non-ASCII byte as a letter, GPT-2 uses Unicode
//     classes). There llama.cpp's token ids can differ from ours for the same
//     text; the text they decode to is always the same.
//
//   - Char is exported as "gpt2" too, with one token per character spelled in
//     its UTF-8 bytes, plus synthetic merges that join the bytes of each
//     multi-byte character (a character's merges never apply across
//     characters, since UTF-8 is prefix-free). For text inside the alphabet,
//     llama.cpp then produces exactly our ids, whatever the pre-tokenizer.
//     SentencePiece ("llama") was the other candidate, but it rewrites
//     spaces as U+2581 and aborts on a character it cannot encode, where
//     llama.cpp's BPE only drops it. That is the limit: a character outside
//     the alphabet, which our encoder rejects with an error, llama.cpp
//     silently leaves out.
//
// In both, special tokens are CONTROL tokens under their own names, which
// llama.cpp matches in prompts before any BPE, as our chat template does.

// Token types (llama_token_type).
const (
	tokenNormal  int32 = 1
	tokenControl int32 = 3
)

// preTokenizer is the tokenizer.ggml.pre value; see above.
const preTokenizer = "gpt-2"

// vocab is a tokenizer in GGUF form.
type vocab struct {
	tokens []string
	types  []int32
	merges []string
}

// byteRunes is GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for
// themselves and the rest are shifted to U+0100 and up, so every byte has a
// visible character and no token contains a space (merges are stored as
// "left right").
var byteRunes = func() [256]rune {
	var m [256]rune
	n := rune(0)
	for b := range 256 {
		if b >= '!' && b <= '~' || b >= 0xA1 && b <= 0xAC || b >= 0xAE {
			m[b] = rune(b)
		} else {
			m[b] = 256 + n
			n++
		}
	}
	return m
}()

func byteString(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		sb.WriteRune(byteRunes[c])
	}
	return sb.String()
}

// saved mirrors the fields of tokenizer.Save's JSON that the tokenizer
// does not otherwise expose: the special-token names and the BPE merges.
type saved struct {
	Type     string   `json:"type"`
	Specials []string `json:"specials"`
	Merges   [][2]int `json:"merges"`
}

// buildVocab converts tok to GGUF's tokens, token types and merges.
func buildVocab(tok tokenizer.Tokenizer) (*vocab, error) {
	var buf bytes.Buffer
	if err := tokenizer.Save(&buf, tok); err != nil {
		return nil, fmt.Errorf("gguf: %w", err)
	}
	var s saved
	if err := json.Unmarshal(buf.Bytes(), &s); err != nil {
		return nil, fmt.Errorf("gguf: tokenizer: %w", err)
	}
	n := tok.VocabSize()
	special := map[int]string{}
	for _, name := range s.Specials {
		id, ok := tok.SpecialID(name)
		if !ok || id < 0 || id >= n {
			return nil, fmt.Errorf("gguf: tokenizer: special token %q has no id in a vocabulary of %d", name, n)
		}
		special[id] = name
	}
	// The names and merges come from Save's JSON; check them against what
	// the tokenizer answers directly, so a change of that format fails here
	// instead of exporting a vocabulary without its specials or merges.
	for _, name := range tokenizer.DefaultSpecials {
		if id, ok := tok.SpecialID(name); ok && special[id] != name {
			return nil, fmt.Errorf("gguf: tokenizer: saved form does not list special token %q", name)
		}
	}
	if b, ok := tok.(*tokenizer.BPE); ok && 256+len(s.Merges)+len(s.Specials) != b.VocabSize() {
		return nil, fmt.Errorf("gguf: tokenizer: %d merges and %d specials do not make a vocabulary of %d", len(s.Merges), len(s.Specials), b.VocabSize())
	}
	v := &vocab{tokens: make([]string, n), types: make([]int32, n)}
	bpe, isBPE := tok.(*tokenizer.BPE)
	for id := range n {
		if name, ok := special[id]; ok {
			v.tokens[id], v.types[id] = name, tokenControl
			continue
		}
		var b []byte
		if isBPE {
			tb, ok := bpe.TokenBytes(id)
			if !ok {
				return nil, fmt.Errorf("gguf: tokenizer: id %d has no bytes", id)
			}
			b = tb
		} else {
			text, err := tok.Decode([]int{id})
			if err != nil {
				return nil, fmt.Errorf("gguf: tokenizer: %w", err)
			}
			b = []byte(text)
		}
		if len(b) == 0 {
			return nil, fmt.Errorf("%w: token %d is empty", ErrUnsupported, id)
		}
		v.tokens[id], v.types[id] = byteString(b), tokenNormal
	}
	// llama.cpp maps token strings back to ids and refuses a vocabulary in
	// which two ids share one (an assertion in older versions, "duplicate
	// token in vocabulary" in newer ones), so such a file would not load.
	// BPE training can in principle reach the same bytes through two
	// different merges.
	first := make(map[string]int, n)
	for id, t := range v.tokens {
		if prev, dup := first[t]; dup {
			return nil, fmt.Errorf("%w: tokens %d and %d are both %q; llama.cpp needs distinct token strings", ErrUnsupported, prev, id, t)
		}
		first[t] = id
	}
	switch {
	case isBPE:
		for _, p := range s.Merges {
			l, okl := bpe.TokenBytes(p[0])
			r, okr := bpe.TokenBytes(p[1])
			if !okl || !okr {
				return nil, fmt.Errorf("gguf: tokenizer: merge %v refers to an unknown id", p)
			}
			v.merges = append(v.merges, byteString(l)+" "+byteString(r))
		}
	default:
		v.merges = charMerges(v.tokens, v.types)
	}
	return v, nil
}

// charMerges returns merges that rebuild every multi-byte token of a
// character vocabulary from its bytes, left to right: for "€" (E2 82 AC),
// "â Ĥ" then "âĤ ¬". Each left side is an incomplete UTF-8 prefix, which
// never ends a character, so these merges only ever join bytes of one
// character, and their relative ranks do not matter.
func charMerges(tokens []string, types []int32) []string {
	merges := []string{} // empty, not nil: llama.cpp requires the key for "gpt2"
	seen := map[string]bool{}
	for i, t := range tokens {
		if types[i] != tokenNormal {
			continue
		}
		r := []rune(t) // one rune per byte
		for k := 1; k < len(r); k++ {
			m := string(r[:k]) + " " + string(r[k])
			if !seen[m] {
				seen[m] = true
				merges = append(merges, m)
			}
		}
	}
	return merges
}
