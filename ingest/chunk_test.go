package ingest

import (
	"fmt"
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/synthloop/synthloop/text"
)

// checkChunks verifies what every chunking must satisfy: each chunk is the
// document's text at its offsets, trimmed, with the tokens it claims; chunks
// advance; every non-space byte is in some chunk; consecutive chunks share
// at most overlap tokens; ids are Source#Index; no chunk exceeds the size
// unless it is one piece that cannot be cut.
func checkChunks(t testing.TB, c *Chunker, doc Document, chunks []Chunk) {
	t.Helper()
	tok := c.Tokenizer
	covered := 0 // every byte before this is covered or whitespace
	prevStart, prevEnd := -1, 0
	for i, ch := range chunks {
		if ch.ID != fmt.Sprintf("%s#%d", doc.Source, i) || ch.Index != i || ch.Source != doc.Source {
			t.Fatalf("chunk %d: id %q index %d source %q", i, ch.ID, ch.Index, ch.Source)
		}
		if ch.Start < 0 || ch.End > len(doc.Text) || ch.Start >= ch.End || doc.Text[ch.Start:ch.End] != ch.Text {
			t.Fatalf("chunk %d: [%d,%d) is not its text %q", i, ch.Start, ch.End, ch.Text)
		}
		if strings.TrimSpace(ch.Text) != ch.Text || !utf8.ValidString(ch.Text) && utf8.ValidString(doc.Text) {
			t.Fatalf("chunk %d: %q is untrimmed or cut inside a character", i, ch.Text)
		}
		if n := len(tok.Tokens(ch.Text)); n != ch.Tokens && !usesKagome(c) {
			t.Fatalf("chunk %d: claims %d tokens, has %d: %q", i, ch.Tokens, n, ch.Text)
		}
		if ch.Start <= prevStart || ch.End <= prevEnd {
			t.Fatalf("chunk %d [%d,%d) does not advance past [%d,%d)", i, ch.Start, ch.End, prevStart, prevEnd)
		}
		if ch.Start > covered && strings.TrimSpace(doc.Text[covered:ch.Start]) != "" {
			t.Fatalf("text %q between chunks is in no chunk", doc.Text[covered:ch.Start])
		}
		if i > 0 && ch.Start < prevEnd {
			shared := doc.Text[ch.Start:prevEnd]
			if n := len(tok.Tokens(shared)); n > c.Overlap && !usesKagome(c) {
				t.Fatalf("chunks %d and %d share %d tokens > overlap %d: %q", i-1, i, n, c.Overlap, shared)
			}
		}
		if ch.Tokens > c.Size && strings.ContainsFunc(ch.Text, unicode.IsSpace) {
			t.Fatalf("chunk %d: %d tokens > size %d, and it could have been cut: %q", i, ch.Tokens, c.Size, ch.Text)
		}
		covered = max(covered, ch.End)
		prevStart, prevEnd = ch.Start, ch.End
	}
	if strings.TrimSpace(doc.Text[covered:]) != "" {
		t.Fatalf("the tail %q is in no chunk", doc.Text[covered:])
	}
}

func usesKagome(c *Chunker) bool {
	_, ok := c.Tokenizer.(*text.JapaneseTokenizer)
	return ok
}

func mustChunker(t testing.TB, size, overlap int, tok string) *Chunker {
	t.Helper()
	c, err := NewChunker(size, overlap, tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestSplit(t *testing.T) {
	doc := Document{Source: "docs/policy.md", Text: "Refunds are issued within 5 business days. They go back to the original card.\n\n" +
		"Shipping takes 3 days. Express shipping takes 1 day and costs extra."}
	for _, tc := range []struct {
		size, overlap int
		want          []string
	}{
		// Large enough: one chunk, the whole text.
		{100, 10, []string{doc.Text}},
		// Cut at the paragraph break (it keeps the chunk half full), no overlap.
		{20, 0, []string{
			"Refunds are issued within 5 business days. They go back to the original card.",
			"Shipping takes 3 days. Express shipping takes 1 day and costs extra.",
		}},
		// Overlap starts at a sentence start when one lies inside it.
		{16, 8, []string{
			"Refunds are issued within 5 business days. They go back to the original card.",
			"They go back to the original card.\n\nShipping takes 3 days.",
			"Shipping takes 3 days. Express shipping takes 1 day and costs extra.",
		}},
		// Tiny chunks: cut at words.
		{3, 1, []string{"Refunds are issued", "issued within 5", "5 business days.", "days. They go", "go back to", "to the original", "original card.", "card.\n\nShipping takes", "takes 3 days.", "days. Express shipping", "shipping takes 1", "1 day and", "and costs extra."}},
	} {
		c := mustChunker(t, tc.size, tc.overlap, "")
		got := c.Split(doc)
		checkChunks(t, c, doc, got)
		var texts []string
		for _, ch := range got {
			texts = append(texts, ch.Text)
		}
		if strings.Join(texts, "\n|\n") != strings.Join(tc.want, "\n|\n") {
			t.Errorf("size %d overlap %d:\n got %q\nwant %q", tc.size, tc.overlap, texts, tc.want)
		}
	}
}

func TestSplitJapanese(t *testing.T) {
	doc := Document{Source: "ja.txt", Text: "返品は商品到着後30日以内にお願いします。開封済みのソフトウェアは返品できません。返金は5営業日以内に行います。"}
	c := mustChunker(t, 25, 5, "cjk")
	got := c.Split(doc)
	checkChunks(t, c, doc, got)
	// Every chunk ends at a 。; each overlap is the 5 characters before it.
	want := []string{"返品は商品到着後30日以内にお願いします。", "願いします。開封済みのソフトウェアは返品できません。", "できません。返金は5営業日以内に行います。"}
	if strings.Join(texts(got), "|") != strings.Join(want, "|") {
		t.Errorf("cjk chunks %q, want %q", texts(got), want)
	}
	k := mustChunker(t, 12, 3, "kagome")
	got = k.Split(doc)
	checkChunks(t, k, doc, got)
	// Morphemes are whole: no chunk starts inside ソフトウェア.
	for _, ch := range got {
		if strings.HasPrefix(ch.Text, "フト") || strings.HasPrefix(ch.Text, "トウェア") {
			t.Errorf("a kagome chunk starts inside a morpheme: %q", texts(got))
		}
	}
}

func texts(cs []Chunk) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Text)
	}
	return out
}

func TestSplitEdges(t *testing.T) {
	c := mustChunker(t, 4, 1, "")
	for _, in := range []string{
		"", "   \n\n ", "word",
		strings.Repeat("x", 10000),                  // one long word: one chunk
		"a-b-c-d-e-f-g-h-i-j-k",                     // one field of many tokens: cut inside
		"!!! ??? ... ---",                           // no tokens at all
		"  leading and trailing spaces  ",           // trimmed
		"Ünïcödé wörds and e\u0301 combining marks", // non-ASCII letters
		"日本語とEnglishのmixed文章です。",
	} {
		doc := Document{Source: "e", Text: in}
		checkChunks(t, c, doc, c.Split(doc))
	}
	if got := c.Split(Document{Text: strings.Repeat("x", 10000)}); len(got) != 1 {
		t.Errorf("a single long word gave %d chunks", len(got))
	}
	for _, tc := range []struct{ size, overlap int }{{0, 0}, {10, 10}, {10, -1}} {
		if _, err := NewChunker(tc.size, tc.overlap, ""); err == nil {
			t.Errorf("NewChunker(%d, %d) accepted", tc.size, tc.overlap)
		}
	}
	if _, err := NewChunker(10, 1, "bpe"); err == nil {
		t.Error("unknown tokenizer accepted")
	}
}

func TestSplitDeterministic(t *testing.T) {
	doc := Document{Source: "d", Text: strings.Repeat("The quick brown fox jumps over the lazy dog. ", 500)}
	c := mustChunker(t, 64, 16, "")
	a, b := c.Split(doc), c.Split(doc)
	if fmt.Sprint(a) != fmt.Sprint(b) || len(a) < 10 {
		t.Errorf("two splits differ or are too few (%d)", len(a))
	}
	checkChunks(t, c, doc, a)
}

// TestASCIITokens keeps the chunker's fast count equal to the tokenizers'.
func TestASCIITokens(t *testing.T) {
	for _, name := range []string{"cjk", "rouge"} {
		tok, _ := text.NewTokenizer(name)
		for _, w := range []string{"", "word", "a-b-c", "3.5%", "--x--y", "ABC123def", "don't", "e.g.", "!!!", "x_y"} {
			n, ok := asciiTokens(w, tok)
			if !ok || n != len(tok.Tokens(w)) {
				t.Errorf("%s: asciiTokens(%q) = %d, %v; Tokens has %d", name, w, n, ok, len(tok.Tokens(w)))
			}
		}
	}
	if _, ok := asciiTokens("café", text.CJKTokenizer{}); ok {
		t.Error("a non-ASCII word was counted by the fast path")
	}
}
