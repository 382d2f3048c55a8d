package ingest

import (
	"strings"
	"testing"
)

// benchText is about 1 MB of English prose with paragraphs.
func benchText() string {
	para := "Customers may return unused items within 30 days of delivery for a full refund. " +
		"Opened software cannot be returned, but it can be exchanged for the same title. " +
		"Refunds go back to the original payment method within five business days.\n\n"
	return strings.Repeat(para, 1<<20/len(para))
}

func BenchmarkSplit(b *testing.B) {
	for _, tc := range []struct{ name, tok, text string }{
		{"en-cjk", "cjk", benchText()},
		{"ja-cjk", "cjk", strings.Repeat("返品は商品到着後30日以内にお願いします。開封済みのソフトウェアは返品できません。\n", 1<<20/120)},
		{"ja-kagome", "kagome", strings.Repeat("返品は商品到着後30日以内にお願いします。開封済みのソフトウェアは返品できません。\n", 1<<20/120)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			c := mustChunker(b, 400, 50, tc.tok)
			doc := Document{Source: "bench", Text: tc.text}
			b.SetBytes(int64(len(doc.Text)))
			b.ReportAllocs()
			for b.Loop() {
				c.Split(doc)
			}
		})
	}
}

func BenchmarkHTMLText(b *testing.B) {
	page := "<html><head><title>Help</title></head><body>" +
		strings.Repeat("<h2>Refunds</h2><p>Customers may return <b>unused</b> items within 30 days.</p><ul><li>One</li><li>Two</li></ul>", 5000) +
		"</body></html>"
	b.SetBytes(int64(len(page)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := HTMLText(strings.NewReader(page)); err != nil {
			b.Fatal(err)
		}
	}
}
