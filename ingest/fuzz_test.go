package ingest

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"
)

func FuzzHTMLText(f *testing.F) {
	for _, s := range []string{
		"<p>a</p>", "<html><head><title>t</title></head><body><ul><li>x<li>y</ul></body>",
		`<div style="display:none">h</div><table><tr><td>1<td>2</table>`, "<pre>\n a\n</pre>", "<p>返品</p>",
		"<meta charset=shift_jis><p>\x95\xd4</p>", "<<<>>>&&&;", "<script>", "<p hidden>x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		got, err := HTMLText(strings.NewReader(in))
		if err != nil {
			return
		}
		if !utf8.ValidString(got) {
			t.Fatalf("HTMLText(%q) = %q: invalid UTF-8", in, got)
		}
		if got != strings.TrimSpace(got) && !strings.Contains(in, "<pre") && !strings.Contains(in, "<PRE") {
			t.Fatalf("HTMLText(%q) = %q: untrimmed", in, got)
		}
		if strings.Contains(got, "\n\n\n") && !strings.Contains(strings.ToLower(in), "<pre") {
			t.Fatalf("HTMLText(%q) = %q: more than one blank line outside <pre>", in, got)
		}
		again, _ := HTMLText(strings.NewReader(in))
		if again != got {
			t.Fatalf("HTMLText(%q) is not deterministic", in)
		}
	})
}

func FuzzSplit(f *testing.F) {
	for _, s := range []string{
		"Refunds take 5 days. Shipping takes 3.\n\nNew paragraph here.", "返品は30日以内です。開封済みは不可。",
		"a-b-c-d-e-f", "   ", "x\u0301y z", strings.Repeat("word ", 50), "mixed日本語text。And more.",
	} {
		f.Add(s, uint8(8), uint8(2))
	}
	f.Fuzz(func(t *testing.T, in string, size, overlap uint8) {
		sz := int(size%64) + 1
		ov := int(overlap) % sz
		c := mustChunker(t, sz, ov, "")
		doc := Document{Source: "f", Text: in}
		checkChunks(t, c, doc, c.Split(doc))
	})
}

// FuzzPDFText checks that no file, however broken, panics or hangs the
// extractor (the parser underneath panics on malformed input; PDFText must
// turn that into an error).
func FuzzPDFText(f *testing.F) {
	f.Add(testPDF(f, "Refunds take five days."))
	f.Add(cidPDF("返品は30日以内です。"))
	f.Add(jisPDF("返品は30日以内です。", "二ページ目"))
	f.Add(customPDF("Возврат")) // the font check reads these fonts' dictionaries
	f.Add([]byte("%PDF-1.4\n%%EOF"))
	f.Fuzz(func(t *testing.T, data []byte) {
		if got, err := PDFText(data); err == nil && strings.TrimSpace(got) == "" {
			t.Fatalf("PDFText returned no text and no error")
		}
	})
}

// checkParts checks what every Office reader promises: valid UTF-8, and
// parts in order, inside the text, not overlapping.
func checkParts(t *testing.T, name string, text string, parts []Part) {
	t.Helper()
	if !utf8.ValidString(text) {
		t.Fatalf("%s: invalid UTF-8 %q", name, text)
	}
	end := 0
	for _, p := range parts {
		if p.Start < end || p.End < p.Start || p.End > len(text) || p.Name == "" {
			t.Fatalf("%s: part %+v out of place in %d bytes of text (previous ended at %d)", name, p, len(text), end)
		}
		end = p.End
	}
}

// mutations seeds a fuzzer with a document and broken copies of it.
func mutations(f *testing.F, doc []byte) {
	f.Add(doc)
	f.Add(doc[:len(doc)/2])
	f.Add(bytes.Replace(doc, []byte("PK\x03\x04"), []byte("PK\x03\x05"), 1))
	f.Add([]byte{})
}

func FuzzDocxText(f *testing.F) {
	mutations(f, testDocx())
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DocxText(data)
		if err == nil {
			checkParts(t, "DocxText", got, nil)
		}
	})
}

func FuzzPptxText(f *testing.F) {
	mutations(f, testPptx())
	f.Fuzz(func(t *testing.T, data []byte) {
		got, parts, err := PptxText(data)
		if err == nil {
			checkParts(t, "PptxText", got, parts)
		}
	})
}

func FuzzXlsxText(f *testing.F) {
	mutations(f, testXlsx())
	f.Fuzz(func(t *testing.T, data []byte) {
		got, parts, err := XlsxText(data)
		if err == nil {
			checkParts(t, "XlsxText", got, parts)
		}
	})
}
