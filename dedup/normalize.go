// Package dedup finds exact and near duplicates, eval-set contamination and personal data in text.
package dedup

import (
	"hash/fnv"
	"math/bits"
	"slices"
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
func Hash(s string) uint64 { return HashNormalized(Normalize(s)) }

// HashNormalized is Hash of a text already normalised: Hash(s) is
// HashNormalized(Normalize(s)).
func HashNormalized(norm string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(norm))
	return h.Sum64()
}

// Unit is what a shingle is made of.
type Unit string

// Shingle units.
const (
	Words Unit = "word" // tokens of text.CJKTokenizer: words, and each CJK character alone
	Chars Unit = "char" // characters of the normalised text, spaces included
)

// Shingles returns the hashes of the k-grams of s's units, deduplicated and
// sorted. Words are text.CJKTokenizer's tokens, so Japanese and Chinese,
// written without spaces, shingle by characters instead of as one giant
// word. A text with fewer than k units yields one shingle of all of them, so
// short texts still compare; an empty text yields none.
func Shingles(s string, unit Unit, k int) []uint64 {
	if k < 1 {
		k = 1
	}
	var toks []uint64
	if unit == Chars {
		for _, r := range Normalize(s) {
			toks = append(toks, mix(uint64(r)))
		}
	} else {
		toks = wordHashes(s)
	}
	return gramHashes(toks, k, true)
}

// wordHashes hashes text.CJKTokenizer's tokens of s. Pure ASCII text, most
// of what a dedup stage sees, is tokenized here without building strings:
// on ASCII that tokenizer's words are the runs of letters and digits,
// lowercased (TestWordHashesASCII holds the two paths equal).
func wordHashes(s string) []uint64 {
	ascii := true
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			ascii = false
			break
		}
	}
	if !ascii {
		toks := text.CJKTokenizer{}.Tokens(s)
		out := make([]uint64, len(toks))
		for i, t := range toks {
			out[i] = hashToken(t)
		}
		return out
	}
	out := make([]uint64, 0, len(s)/5+1)
	h, in := uint64(fnvOffset), false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		if 'a' <= c && c <= 'z' || '0' <= c && c <= '9' {
			h = (h ^ uint64(c)) * fnvPrime
			in = true
			continue
		}
		if in {
			out = append(out, mix(h))
			h, in = fnvOffset, false
		}
	}
	if in {
		out = append(out, mix(h))
	}
	return out
}

const (
	fnvOffset = 14695981039346656037
	fnvPrime  = 1099511628211
)

func hashToken(t string) uint64 {
	h := uint64(fnvOffset)
	for i := 0; i < len(t); i++ {
		h = (h ^ uint64(t[i])) * fnvPrime
	}
	return mix(h)
}

// mix spreads a token hash over all 64 bits so that gram hashes combining
// several of them do not collide on FNV's weak high bits.
func mix(x uint64) uint64 { return splitmix64(x) }

// gramHashes hashes the k-grams of the token hashes toks, deduplicated and
// sorted; short keeps a text shorter than k as one gram rather than none.
func gramHashes(toks []uint64, k int, short bool) []uint64 {
	if len(toks) == 0 || (len(toks) < k && !short) {
		return nil
	}
	n := len(toks) - k + 1
	if n < 1 {
		n, k = 1, len(toks)
	}
	out := make([]uint64, n)
	for i := range out {
		// Position-dependent rotation keeps "a b" and "b a" apart.
		var h uint64
		for j, t := range toks[i : i+k] {
			h ^= bits.RotateLeft64(t, 7*j)
		}
		out[i] = splitmix64(h + uint64(k))
	}
	slices.Sort(out)
	return slices.Compact(out)
}
