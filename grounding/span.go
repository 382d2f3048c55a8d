package grounding

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/synthloop/synthloop/text"
)

// Normalize returns s in the form quotes are compared in: NFKC (full-width
// letters and digits become ASCII, ligatures split), lower case, curly quotes
// straight, every dash a hyphen, invisible characters (zero-width spaces,
// soft hyphens, byte order marks) gone, whitespace runs one space and no
// space at all next to a CJK character, since Japanese has none and PDF text
// layers and line wraps put them in anyway.
func Normalize(s string) string {
	n, _, _ := normalize(s)
	return n
}

// Find reports where quote occurs in source, both compared in Normalize's
// form, with the quote's leading and trailing punctuation and spaces ignored
// (models add quotation marks and drop or add a final period). start and end
// are byte offsets into source, covering whole characters.
func Find(source, quote string) (start, end int, ok bool) {
	ns, from, to := normalize(source)
	// First with the quote's own final punctuation, so the span found ends
	// where the quote does; then without any.
	nq := Normalize(quote)
	for _, q := range []string{
		strings.Trim(nq, ` "'`),
		strings.TrimFunc(nq, func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) }),
	} {
		if q == "" || strings.TrimFunc(q, unicode.IsPunct) == "" {
			continue
		}
		if i := strings.Index(ns, q); i >= 0 {
			return from[i], to[i+len(q)-1], true
		}
	}
	return 0, 0, false
}

// normalize returns Normalize(s) and, for each of its bytes, the offsets in s
// of the start and end of the stretch of s it came from.
func normalize(s string) (string, []int, []int) {
	var b strings.Builder
	b.Grow(len(s))
	from := make([]int, 0, len(s))
	to := make([]int, 0, len(s))
	emit := func(r rune, a, z int) {
		n := b.Len()
		b.WriteRune(r)
		for range b.Len() - n {
			from = append(from, a)
			to = append(to, z)
		}
	}
	var last rune = -1 // the last rune written
	space := -1        // start offset of a pending space, -1 for none
	spaceEnd := 0      // its end
	for i := 0; i < len(s); {
		j := i + norm.NFKC.NextBoundaryInString(s[i:], true)
		if j <= i { // cannot happen at EOF; guards the loop
			j = len(s)
		}
		for _, r := range norm.NFKC.String(s[i:j]) {
			r = fold(r)
			switch {
			case r < 0:
				continue
			case unicode.IsSpace(r):
				if space < 0 {
					space = i
				}
				spaceEnd = j
				continue
			}
			if space >= 0 && last >= 0 && !cjkLike(last) && !cjkLike(r) {
				emit(' ', space, spaceEnd)
			}
			space = -1
			emit(r, i, j)
			last = r
		}
		i = j
	}
	return b.String(), from, to
}

// fold maps one rune to its compared form; -1 drops it.
func fold(r rune) rune {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u00ad':
		return -1
	case '‘', '’', '‚', '‛', '′', '`', '´':
		return '\''
	case '“', '”', '„', '‟', '″', '«', '»', '「', '」', '『', '』':
		return '"'
	case '‐', '‑', '‒', '–', '—', '―', '−':
		return '-'
	}
	if r == utf8.RuneError {
		return r
	}
	return unicode.ToLower(r)
}

// cjkLike reports whether r is written without spaces around it: CJK
// letters and the CJK punctuation and full-width forms blocks.
func cjkLike(r rune) bool {
	return text.IsCJK(r) || (r >= 0x3000 && r <= 0x303F) || (r >= 0xFF00 && r <= 0xFFEF)
}

// Nonce returns a marker suffix derived from the texts a prompt delimits
// (8 hex digits of their SHA-256). A text cannot contain the closing marker
// of a block that holds it, since that would need its own hash inside it,
// so a document cannot end its block early and speak outside it.
func Nonce(texts ...string) string {
	h := sha256.New()
	for _, t := range texts {
		h.Write([]byte(t))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil)[:4])
}

// Block returns the content of the block in prompt that opens with a line
// "<name-NONCE>" and closes with a line "</name-NONCE>", whatever its nonce:
// what a test server reads back from a prompt.
func Block(prompt, name string) (string, bool) {
	open := "<" + name + "-"
	for i := 0; ; {
		k := strings.Index(prompt[i:], open)
		if k < 0 {
			return "", false
		}
		start := i + k
		i = start + len(open)
		if start > 0 && prompt[start-1] != '\n' {
			continue
		}
		end := strings.Index(prompt[i:], ">\n")
		if end != 8 || strings.Trim(prompt[i:i+end], "0123456789abcdef") != "" {
			continue
		}
		nonce := prompt[i : i+end]
		body := prompt[i+end+2:]
		if e := strings.Index(body, "\n</"+name+"-"+nonce+">"); e >= 0 {
			return body[:e], true
		}
		if strings.HasPrefix(body, "</"+name+"-"+nonce+">") {
			return "", true // an empty block
		}
	}
}
