package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/go-pdf/fpdf"
)

var fixedTime = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

func TestPDFText(t *testing.T) {
	long := "Customers may return unused items within 30 days of delivery for a full refund. " +
		"Opened software cannot be returned. The refund goes back to the original payment method " +
		"and usually arrives within five business days."
	got, err := PDFText(testPDF(t, long, "Warranty: two years on all hardware."))
	if err != nil {
		t.Fatal(err)
	}
	// The PDF wraps the paragraph into lines; the words and their order survive.
	if w := strings.Fields(long + " Warranty: two years on all hardware."); strings.Join(strings.Fields(got), " ") != strings.Join(w, " ") {
		t.Errorf("PDFText = %q", got)
	}
	if !strings.Contains(got, "business days.\n\nWarranty") {
		t.Errorf("pages are not separated by a blank line: %q", got)
	}
}

func TestPDFTextJapanese(t *testing.T) {
	want := "返品は30日以内です。"
	got, err := PDFText(cidPDF(want))
	if err != nil || got != want {
		t.Errorf("PDFText(Identity-H font with a ToUnicode map) = %q, %v; want %q", got, err, want)
	}
}

func TestPDFTextErrors(t *testing.T) {
	f := fpdf.New("P", "mm", "A4", "")
	f.SetCreationDate(fixedTime)
	f.AddPage()
	f.Rect(10, 10, 50, 50, "F") // a page with an image-like drawing and no text: a scan
	var scan bytes.Buffer
	if err := f.Output(&scan); err != nil {
		t.Fatal(err)
	}
	if _, err := PDFText(scan.Bytes()); !errors.Is(err, ErrNoText) {
		t.Errorf("PDF without text: %v, want ErrNoText", err)
	}
	good := testPDF(t, "Some text that is long enough to matter.")
	for _, bad := range [][]byte{nil, []byte("not a pdf"), good[:len(good)/2], corrupt(good)} {
		if _, err := PDFText(bad); err == nil {
			t.Errorf("PDFText(%d bytes of a broken file) gave no error", len(bad))
		}
	}
}

// corrupt flips bytes in the middle of a PDF, where its objects are.
func corrupt(b []byte) []byte {
	c := bytes.Clone(b)
	for i := len(c) / 3; i < len(c)*2/3; i += 5 {
		c[i] ^= 0x5a
	}
	return c
}

func TestPDFTextCommand(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.pdf")
	if err := os.WriteFile(path, testPDF(t, "Refunds take five days."), 0o644); err != nil {
		t.Fatal(err)
	}
	requirePdftotext(t)
	d, err := Read(context.Background(), path, Options{PDF: PDFPdftotext})
	if err != nil || d.Text != "Refunds take five days." || len(d.Parts) != 1 || d.Parts[0].Name != "page 1" {
		t.Errorf("pdftotext: %q %+v, %v", d.Text, d.Parts, err)
	}
	t.Setenv("PATH", dir) // no pdftotext here
	_, err = Read(context.Background(), path, Options{PDF: PDFPdftotext})
	if err == nil || !strings.Contains(err.Error(), "apt-get install poppler-utils") {
		t.Errorf("missing pdftotext: %v, want an error naming poppler-utils", err)
	}
}

// cidPDF builds a one-page PDF that shows s in a composite (Type0,
// Identity-H) font with a ToUnicode map, the way most Japanese PDFs are
// made now. No glyphs are embedded: text extraction needs only the map.
func cidPDF(s string) []byte {
	codes := map[rune]int{}
	var shown strings.Builder
	for _, r := range s {
		c, ok := codes[r]
		if !ok {
			c = len(codes) + 1
			codes[r] = c
		}
		fmt.Fprintf(&shown, "%04X", c)
	}
	font := "<< /Type /Font /Subtype /Type0 /BaseFont /TestJP /Encoding /Identity-H /DescendantFonts [4 0 R] /ToUnicode 5 0 R >>"
	return rawPDF(font, []string{
		"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /TestJP /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
		toUnicode(codes, 4),
	}, "<"+shown.String()+">")
}

// jisPDF builds a PDF whose pages show each of pages in the non-embedded
// HeiseiMin-W3 with the predefined CMap UniJIS-UCS2-H and no ToUnicode map,
// as Japanese PDFs from older tools (and FPDF's CJK add-on) are: the codes
// are UCS-2, and only a reader that knows Adobe-Japan1's CMaps maps them.
func jisPDF(pages ...string) []byte {
	var shown []string
	for _, p := range pages {
		var b strings.Builder
		for _, u := range utf16.Encode([]rune(p)) {
			fmt.Fprintf(&b, "%04X", u)
		}
		shown = append(shown, "<"+b.String()+">")
	}
	font := "<< /Type /Font /Subtype /Type0 /BaseFont /HeiseiMin-W3 /Encoding /UniJIS-UCS2-H /DescendantFonts [4 0 R] >>"
	return rawPDF(font, []string{
		"<< /Type /Font /Subtype /CIDFontType0 /BaseFont /HeiseiMin-W3 /CIDSystemInfo << /Registry (Adobe) /Ordering (Japan1) /Supplement 2 >> /FontDescriptor 5 0 R >>",
		"<< /Type /FontDescriptor /FontName /HeiseiMin-W3 /Flags 6 /FontBBox [-123 -257 1001 910] /ItalicAngle 0 /Ascent 859 /Descent -141 /CapHeight 709 /StemV 69 >>",
	}, shown...)
}

// customPDF builds a one-page PDF that shows s in a simple font whose
// encoding names its own glyphs (Differences from code 128 on) with a
// ToUnicode map: how Greek and Cyrillic text is often set.
func customPDF(s string) []byte {
	codes := map[rune]int{}
	diffs := "[128"
	var shown strings.Builder
	for _, r := range s {
		c, ok := codes[r]
		if !ok {
			c = 128 + len(codes)
			codes[r] = c
			diffs += fmt.Sprintf(" /g%d", c)
		}
		fmt.Fprintf(&shown, "%02X", c)
	}
	// Widths, or the glyphs would stack at one spot and pdftotext would
	// drop the repeats.
	widths := strings.TrimSpace(strings.Repeat("600 ", len(codes)))
	font := fmt.Sprintf("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /FirstChar 128 /LastChar %d /Widths [%s] "+
		"/Encoding << /Type /Encoding /BaseEncoding /WinAnsiEncoding /Differences %s] >> /ToUnicode 4 0 R >>", 127+len(codes), widths, diffs)
	return rawPDF(font, []string{toUnicode(codes, 2)}, "<"+shown.String()+">")
}

// toUnicode is a ToUnicode CMap stream mapping codes of width bytes to runes.
func toUnicode(codes map[rune]int, width int) string {
	var bf strings.Builder
	for r, c := range codes {
		fmt.Fprintf(&bf, "<%0*X> <%04X>\n", width, c, r)
	}
	space := fmt.Sprintf("<%s> <%s>", strings.Repeat("00", width/2), strings.Repeat("FF", width/2))
	cmap := "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /Test-UCS def\n/CMapType 2 def\n" +
		"1 begincodespacerange\n" + space + "\nendcodespacerange\n" +
		fmt.Sprintf("%d beginbfchar\n%sendbfchar\n", len(codes), bf.String()) +
		"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
	return fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(cmap), cmap)
}

// rawPDF writes a PDF byte by byte: object 3 is font (the font F1 of every
// page), objects 4.. are extra, then one page per shown string, which is
// the operand of that page's Tj.
func rawPDF(font string, extra []string, shown ...string) []byte {
	first := 4 + len(extra) // the first page's object
	var kids []string
	for i := range shown {
		kids = append(kids, fmt.Sprintf("%d 0 R", first+2*i))
	}
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		fmt.Sprintf("<< /Type /Pages /Kids [%s] /Count %d >>", strings.Join(kids, " "), len(shown)),
		font,
	}
	objs = append(objs, extra...)
	for i, sh := range shown {
		content := "BT /F1 12 Tf 72 720 Td " + sh + " Tj ET"
		objs = append(objs,
			fmt.Sprintf("<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 3 0 R >> >> /Contents %d 0 R >>", first+2*i+1),
			fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content))
	}
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, xref)
	return b.Bytes()
}

// requirePdftotext fails the test on a machine without pdftotext:
// scripts/test.sh installs poppler-utils and poppler-data, so that no test
// skips.
func requirePdftotext(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("pdftotext"); err != nil {
		t.Fatal("pdftotext is not installed: run scripts/test.sh, or apt-get install poppler-utils poppler-data")
	}
}

// TestPDFJapaneseCIDFallback: Japanese text in a CID font with a predefined
// CMap and no ToUnicode map comes out as raw codes from the in-process
// reader, so the default extractor hands the file to pdftotext, keeping the
// pages located.
func TestPDFJapaneseCIDFallback(t *testing.T) {
	requirePdftotext(t)
	pages := []string{"返品は30日以内です。", "保証期間は二年間です。"}
	data := jisPDF(pages...)
	if _, decodable, _ := pdfPages(data); decodable {
		t.Error("HeiseiMin-W3 in UniJIS-UCS2-H without ToUnicode counted as decodable in process")
	}
	if got, err := PDFText(data); err == nil && strings.Contains(got, pages[0]) {
		t.Errorf("the in-process reader now reads UniJIS-UCS2-H (%q): the fallback test tests nothing", got)
	}
	path := filepath.Join(t.TempDir(), "規程.pdf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, mode := range []string{"", PDFAuto, PDFPdftotext} {
		d, err := Read(context.Background(), path, Options{PDF: mode})
		if err != nil {
			t.Fatalf("pdf %q: %v", mode, err)
		}
		want := pages[0] + "\n\n" + pages[1]
		if d.Text != want || len(d.Parts) != 2 || d.Parts[1].Name != "page 2" || d.Text[d.Parts[1].Start:d.Parts[1].End] != pages[1] {
			t.Errorf("pdf %q: %q %+v, want %q on pages 1 and 2", mode, d.Text, d.Parts, want)
		}
	}
	// Identity-H with a ToUnicode map is read in process: no fallback needed.
	if _, decodable, _ := pdfPages(cidPDF("返品")); !decodable {
		t.Error("Identity-H with ToUnicode counted as not decodable in process")
	}
}

// TestPDFCustomEncodingFallback: Cyrillic in a font with its own glyph
// names and a ToUnicode map, which the in-process reader ignores beside
// Differences, is read by pdftotext.
func TestPDFCustomEncodingFallback(t *testing.T) {
	requirePdftotext(t)
	want := "Возврат товара"
	data := customPDF(want)
	if got, _ := PDFText(data); got == want {
		t.Errorf("the in-process reader now reads custom encodings: the fallback test tests nothing")
	}
	path := filepath.Join(t.TempDir(), "ru.pdf")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	d, err := Read(context.Background(), path, Options{})
	if err != nil || d.Text != want {
		t.Errorf("Read = %q, %v; want %q", d.Text, err, want)
	}
}

// TestPDFAutoWithoutPdftotext: without pdftotext, a PDF the in-process
// reader reads well is read as before, and one it would garble is an error
// that says what to install, not garbage text.
func TestPDFAutoWithoutPdftotext(t *testing.T) {
	dir := t.TempDir()
	good, jp := filepath.Join(dir, "good.pdf"), filepath.Join(dir, "jp.pdf")
	if err := os.WriteFile(good, testPDF(t, "Refunds take five days."), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(jp, jisPDF("返品は30日以内です。"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	if d, err := Read(context.Background(), good, Options{}); err != nil || d.Text != "Refunds take five days." {
		t.Errorf("good PDF without pdftotext: %q, %v", d.Text, err)
	}
	_, err := Read(context.Background(), jp, Options{})
	if err == nil || !strings.Contains(err.Error(), "poppler-utils") || !strings.Contains(err.Error(), "pdf: go") {
		t.Errorf("garbling PDF without pdftotext: %v, want an error naming poppler-utils and pdf: go", err)
	}
	if _, err := Read(context.Background(), jp, Options{PDF: PDFGo}); err != nil {
		t.Errorf("pdf: go takes the text as it is: %v", err)
	}
}

func TestGarbled(t *testing.T) {
	for _, tt := range []struct {
		text string
		want bool
	}{
		{"Returns within 30 days.\nWarranty: two years.", false},
		{"返品は30日以内です。", false},
		{"Возврат товара", false},
		{"\x00\x01\x02 text \ufffd\ufffd", true},
		{"\ue000\ue001\ue002\ue003 abc", true},
		{"", false},
	} {
		if got := garbled([]section{{text: tt.text}}); got != tt.want {
			t.Errorf("garbled(%q) = %v, want %v", tt.text, got, tt.want)
		}
	}
}
