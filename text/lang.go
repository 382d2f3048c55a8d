package text

import (
	"fmt"
	"strings"
	"unicode"
)

// Lang names the language of a text as far as tokenization cares: whether
// words are separated by spaces, and which analyser splits them when not.
type Lang string

// The languages the package tells apart. Everything written with spaces
// between words behaves like English here.
const (
	English  Lang = "en"
	Japanese Lang = "ja"
	Chinese  Lang = "zh"
	Korean   Lang = "ko"
)

// ParseLang accepts a language code such as "en", "ja", "ja-JP" or "zh_TW".
// An empty string or "auto" returns "", which WordCount and TokenizerFor read
// as "guess from the text".
func ParseLang(s string) (Lang, error) {
	code := strings.ToLower(strings.TrimSpace(s))
	if i := strings.IndexAny(code, "-_"); i >= 0 {
		code = code[:i]
	}
	switch code {
	case "", "auto":
		return "", nil
	case "en", "ja", "zh", "ko":
		return Lang(code), nil
	}
	// Other space-separated languages tokenize like English; accept any
	// two- or three-letter code rather than keep a list of them.
	if len(code) == 2 || len(code) == 3 {
		for _, r := range code {
			if r < 'a' || r > 'z' {
				return "", fmt.Errorf("text: bad language code %q", s)
			}
		}
		return Lang(code), nil
	}
	return "", fmt.Errorf("text: bad language code %q", s)
}

// IsCJK reports whether r is written without spaces between words: Han
// ideographs, hiragana, katakana (with the prolonged sound mark) and Hangul.
// Hangul is included so that Korean text survives tokenization at all, even
// though Korean does use spaces.
func IsCJK(r rune) bool {
	if r < 0x1100 {
		return false
	}
	// U+30FC is Common script, but inside Japanese words it is a letter.
	return r == 0x30FC || unicode.In(r, unicode.Han, unicode.Hiragana, unicode.Katakana, unicode.Hangul)
}

// CJKShare returns the fraction of the letters and digits of s that are CJK
// (see IsCJK), or 0 for a text with no letters or digits.
func CJKShare(s string) float64 {
	var letters, cjk int
	for _, r := range s {
		switch {
		case IsCJK(r):
			cjk++
			letters++
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			letters++
		}
	}
	if letters == 0 {
		return 0
	}
	return float64(cjk) / float64(letters)
}

// cjkMinShare is the share of CJK letters from which GuessLang calls a text
// CJK. It is low because Japanese instructions often quote English names
// ("Pythonで関数を書いて"), and high enough that an English instruction
// quoting one Japanese word stays English.
const cjkMinShare = 0.3

// GuessLang guesses the language of s from its script: Japanese when kana
// appear among enough CJK letters, Korean when Hangul dominates, Chinese for
// Han without kana, and English otherwise (which stands for every language
// written with spaces). It looks only at characters, so it is cheap and
// deterministic; it is not a language identifier.
func GuessLang(s string) Lang {
	var letters, cjk, kana, hangul int
	for _, r := range s {
		switch {
		case IsCJK(r):
			cjk++
			letters++
			if unicode.In(r, unicode.Hiragana, unicode.Katakana) || r == 0x30FC {
				kana++
			} else if unicode.Is(unicode.Hangul, r) {
				hangul++
			}
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			letters++
		}
	}
	if letters == 0 || float64(cjk) < cjkMinShare*float64(letters) {
		return English
	}
	switch {
	case kana > 0 && kana >= hangul:
		return Japanese
	case hangul*2 > cjk:
		return Korean
	default:
		return Chinese
	}
}
