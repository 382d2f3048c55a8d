package text

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Tokenizer splits a text into the tokens ROUGE-L compares. Implementations
// in this package are stateless (or load their state once) and safe for
// concurrent use; Tokens never returns nil for a text with tokens and may
// return nil for one without.
type Tokenizer interface {
	Tokens(s string) []string
}

// Tokenizer names accepted by NewTokenizer, for pipeline configuration.
const (
	TokenizerRouge  = "rouge"
	TokenizerCJK    = "cjk"
	TokenizerKagome = "kagome"
)

// NewTokenizer returns the tokenizer with the given name: "rouge" (the
// rouge_score default, ASCII only), "cjk" (keeps every script, CJK as
// characters) or "kagome" (Japanese morphemes). Loading "kagome" reads its
// dictionary (about a second and 28 MB, once per process).
func NewTokenizer(name string) (Tokenizer, error) {
	switch name {
	case TokenizerRouge:
		return RougeTokenizer{}, nil
	case TokenizerCJK:
		return CJKTokenizer{}, nil
	case TokenizerKagome, "ja", "japanese":
		return NewJapaneseTokenizer()
	}
	return nil, fmt.Errorf("text: unknown tokenizer %q (want %q, %q or %q)", name, TokenizerRouge, TokenizerCJK, TokenizerKagome)
}

// TokenizerFor returns the tokenizer that suits lang: rouge_score's for
// English (so English runs match the paper exactly), kagome morphemes for
// Japanese, and CJKTokenizer for every other language, because rouge_score's
// deletes every non-ASCII letter (a Russian instruction would have no tokens
// at all, a French one would lose its accented letters). An empty lang is an
// error: guessing per text would let two instructions of one run be compared
// under different tokenizations.
func TokenizerFor(lang Lang) (Tokenizer, error) {
	switch lang {
	case "":
		return nil, fmt.Errorf("text: tokenizer for an unspecified language")
	case English:
		return RougeTokenizer{}, nil
	case Japanese:
		return NewJapaneseTokenizer()
	}
	return CJKTokenizer{}, nil
}

// RougeTokenizer is rouge_score's default tokenizer without stemming, the one
// Self-Instruct uses: lowercase (Python's full lowercasing), turn every
// character outside [a-z0-9] into a space, split on whitespace. Any other
// script disappears, so Japanese text has no tokens at all; that is the
// original behaviour, kept on purpose for English runs.
type RougeTokenizer struct{}

// Tokens implements Tokenizer.
func (RougeTokenizer) Tokens(s string) []string {
	buf := make([]byte, 0, len(s))
	for _, r := range s {
		switch {
		case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
			buf = append(buf, byte(r))
		case 'A' <= r && r <= 'Z':
			buf = append(buf, byte(r+'a'-'A'))
		case r == 0x212A:
			// Python lowercases KELVIN SIGN to ASCII "k".
			buf = append(buf, 'k')
		case r == 0x0130:
			// Python lowercases "İ" to "i" plus U+0307 COMBINING DOT ABOVE,
			// and the dot, not being [a-z0-9], then splits the word.
			buf = append(buf, 'i', ' ')
		default:
			buf = append(buf, ' ')
		}
	}
	return fieldsASCII(buf)
}

// fieldsASCII splits a buffer of [a-z0-9] and spaces into tokens that share
// one backing string, which keeps tokenizing to one allocation per text plus
// the slice.
func fieldsASCII(buf []byte) []string {
	s := string(buf)
	var out []string
	start := -1
	for i := 0; i < len(s); i++ {
		if s[i] == ' ' {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out
}

// CJKTokenizer keeps every script. Letters and digits outside CJK form words
// as in RougeTokenizer (lowercased; full-width ASCII folded to ASCII), and
// each CJK character (see IsCJK) is one token. On pure ASCII text it returns
// exactly what RougeTokenizer returns, so English instructions score the same
// under either. Unlike RougeTokenizer it keeps accented and other non-ASCII
// letters inside words ("café" stays one token).
type CJKTokenizer struct{}

// Tokens implements Tokenizer.
func (CJKTokenizer) Tokens(s string) []string {
	var out []string
	forEachSegment(s, func(seg string, cjk bool) {
		if !cjk {
			out = append(out, seg)
			return
		}
		for i, r := range seg {
			out = append(out, seg[i:i+utf8.RuneLen(r)])
		}
	})
	return out
}

// forEachSegment normalises s (lowercase, full-width ASCII to ASCII) and
// calls fn for each maximal run of word characters, with cjk telling whether
// the run is CJK. Punctuation, symbols and spaces separate runs and vanish.
func forEachSegment(s string, fn func(seg string, cjk bool)) {
	var b strings.Builder
	b.Grow(len(s))
	// kinds marks where each normalised rune starts and what it is, so the
	// runs can be cut out of one string without re-decoding.
	const (
		sep = iota
		word
		cjkChar
	)
	type mark struct {
		at   int
		kind uint8
	}
	marks := make([]mark, 0, len(s))
	for _, r := range s {
		r = foldWidth(r)
		kind := uint8(sep)
		switch {
		case r < utf8.RuneSelf:
			switch {
			case 'a' <= r && r <= 'z', '0' <= r && r <= '9':
				kind = word
			case 'A' <= r && r <= 'Z':
				r += 'a' - 'A'
				kind = word
			}
		case IsCJK(r):
			kind = cjkChar
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			r = unicode.ToLower(r)
			kind = word
		case unicode.Is(unicode.Mn, r):
			// A combining mark continues the word it decorates (decomposed
			// accents); alone it separates like punctuation.
			if n := len(marks); n > 0 && marks[n-1].kind == word {
				kind = word
			}
		}
		marks = append(marks, mark{b.Len(), kind})
		b.WriteRune(r)
	}
	norm := b.String()
	marks = append(marks, mark{len(norm), sep})
	start := -1
	for i := 0; i < len(marks)-1; i++ {
		k := marks[i].kind
		if start >= 0 && marks[start].kind != k {
			fn(norm[marks[start].at:marks[i].at], marks[start].kind == cjkChar)
			start = -1
		}
		if start < 0 && k != sep {
			start = i
		}
	}
	if start >= 0 {
		fn(norm[marks[start].at:marks[len(marks)-1].at], marks[start].kind == cjkChar)
	}
}

// foldWidth maps full-width ASCII letters and digits (common in Japanese
// text) to ASCII, the part of NFKC that matters for word matching.
func foldWidth(r rune) rune {
	switch {
	case 0xFF10 <= r && r <= 0xFF19, 0xFF21 <= r && r <= 0xFF3A, 0xFF41 <= r && r <= 0xFF5A:
		return r - 0xFF00 + 0x20
	}
	return r
}

// WordCount counts the words of an instruction for the length filter
// (Self-Instruct drops instructions of ≤ 3 or > 150 words):
//   - English and every space-separated language (and Korean, which is
//     written with spaces): whitespace-separated fields, exactly Python's
//     len(s.split()) as in the paper, punctuation included;
//   - Japanese: kagome morphemes plus non-CJK words, punctuation excluded,
//     so 「日本語の文章を要約してください。」 counts 8 (日本語/の/文章/を/要約/
//     し/て/ください) rather than 1 field or 15 characters;
//   - Chinese: CJK characters plus non-CJK words (one character is roughly
//     one English word's worth of meaning more often than a space-field is);
//   - "": the language is guessed per text with GuessLang.
//
// The first Japanese call loads kagome's dictionary (about a second, once).
func WordCount(s string, lang Lang) int {
	if lang == "" {
		lang = GuessLang(s)
	}
	switch lang {
	case Japanese:
		return len(mustJapanese().Tokens(s))
	case Chinese:
		return len(CJKTokenizer{}.Tokens(s))
	}
	return countPythonFields(s)
}

// countPythonFields is len(s.split()) in Python 3: Go's unicode.IsSpace
// plus U+001C..U+001F, which Python also treats as whitespace.
func countPythonFields(s string) int {
	n := 0
	in := false
	for _, r := range s {
		space := unicode.IsSpace(r) || (0x1C <= r && r <= 0x1F)
		if !space && !in {
			n++
		}
		in = !space
	}
	return n
}
