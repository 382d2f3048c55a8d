package grounding

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"
)

// FuzzFind: Find never panics, a span it returns lies inside the source and
// holds the quote, and a run of whole words copied from the source (joined
// by single spaces, as a model copies them) is always found.
func FuzzFind(f *testing.F) {
	f.Add("Refunds are issued within 5 business\n days.", "issued within 5", uint8(1), uint8(3))
	f.Add("返品は商品到着後\n30日以内です。", "30日", uint8(0), uint8(2))
	f.Add("“Quoted” text — with ﬁ ligature", "quoted", uint8(0), uint8(4))
	f.Fuzz(func(t *testing.T, source, quote string, from, n uint8) {
		if s, e, ok := Find(source, quote); ok {
			if s < 0 || e > len(source) || s >= e {
				t.Fatalf("Find(%q, %q) = [%d,%d)", source, quote, s, e)
			}
		}
		if !utf8.ValidString(source) {
			return
		}
		words := strings.Fields(source)
		if len(words) == 0 {
			return
		}
		i := int(from) % len(words)
		j := min(len(words), i+1+int(n)%4)
		q := strings.Join(words[i:j], " ")
		if strings.TrimFunc(Normalize(q), func(r rune) bool { return unicode.IsPunct(r) || unicode.IsSpace(r) }) == "" {
			return
		}
		if startsWithMark(q) {
			return // a combining mark joins whatever precedes it in the source
		}
		if _, _, ok := Find(source, q); !ok {
			t.Fatalf("Find(%q, %q): words copied from the source not found", source, q)
		}
	})
}

func startsWithMark(s string) bool {
	r, _ := utf8.DecodeRuneInString(s)
	return unicode.Is(unicode.M, r)
}
