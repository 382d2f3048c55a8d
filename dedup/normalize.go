// Package dedup finds exact and near duplicates, eval-set contamination and personal data in text.
package dedup

import (
	"hash/fnv"
	"strings"
	"unicode"

	"github.com/synthloop/synthloop/text"
)

// Normalize folds s so that texts differing only in case, spacing, width or
// punctuation compare equal. Exactly, in this order, rune by rune:
//   - full-width ASCII (U+FF01–U+FF5E) becomes ASCII and the ideographic
//     space U+3000 a space (the part of NFKC that matters for CJK text);
//   - letters are lowercased with unicode.ToLower;
//   - punctuation and symbols (unicode.IsPunct, unicode.IsSymbol) and
//     control and format characters are dropped;
//   - runs of white space (unicode.IsSpace) become one ASCII space, and
//     leading and trailing space is trimmed.
//
// It does not decompose or strip accents: "café" and "cafe" stay different,
// because the standard library has no Unicode decomposition tables.
func Normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		switch {
		case r >= 0xFF01 && r <= 0xFF5E:
			r -= 0xFF01 - 0x21
		case r == 0x3000:
			r = ' '
		}
		switch {
		case unicode.IsSpace(r):
			space = b.Len() > 0
			continue
		case unicode.IsPunct(r) || unicode.IsSymbol(r) || unicode.IsControl(r) || unicode.Is(unicode.Cf, r):
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(unicode.ToLower(r))
	}
	return b.String()
}

// Hash is the exact-duplicate key of s: 64-bit FNV-1a of Normalize(s).
// Sixty-four bits keep the chance of any false collision among a million
// texts near 3e-8, small enough not to store the texts themselves.
func Hash(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(Normalize(s)))
	return h.Sum64()
}

// Unit is what a shingle is made of.
type Unit string

// Shingle units.
const (
	Words Unit = "word" // tokens of text.CJKTokenizer: words, and each CJK character alone
	Chars Unit = "char" // characters of the normalised text, spaces included
)

// Shingles returns the hashes of the k-grams of s's units, deduplicated, in
// order of first appearance. Words come from text.CJKTokenizer, so Japanese
// and Chinese, written without spaces, shingle by characters instead of as
// one giant word. A text with fewer than k units yields one shingle of all of
// them, so short texts still compare; an empty text yields none.
func Shingles(s string, unit Unit, k int) []uint64 {
	if k < 1 {
		k = 1
	}
	var toks []string
	if unit == Chars {
		for _, r := range Normalize(s) {
			toks = append(toks, string(r))
		}
	} else {
		toks = text.CJKTokenizer{}.Tokens(s)
	}
	return gramHashes(toks, k, true)
}

// gramHashes hashes the k-grams of toks; short keeps a text shorter than k
// as one gram rather than none.
func gramHashes(toks []string, k int, short bool) []uint64 {
	if len(toks) == 0 || (len(toks) < k && !short) {
		return nil
	}
	n := len(toks) - k + 1
	if n < 1 {
		n, k = 1, len(toks)
	}
	out := make([]uint64, 0, n)
	seen := make(map[uint64]struct{}, n)
	for i := 0; i < n; i++ {
		h := uint64(14695981039346656037)
		for j, t := range toks[i : i+k] {
			if j > 0 {
				// A separator that tokens never contain keeps ("ab","c") and ("a","bc") apart.
				h ^= 0x1f
				h *= 1099511628211
			}
			for x := 0; x < len(t); x++ {
				h ^= uint64(t[x])
				h *= 1099511628211
			}
		}
		if _, ok := seen[h]; ok {
			continue
		}
		seen[h] = struct{}{}
		out = append(out, h)
	}
	return out
}
