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
	if _, err := exec.LookPath("pdftotext"); err == nil {
		d, err := Read(context.Background(), path, Options{PDF: PDFPdftotext})
		if err != nil || d.Text != "Refunds take five days." {
			t.Errorf("pdftotext: %q, %v", d.Text, err)
		}
	}
	t.Setenv("PATH", dir) // no pdftotext here
	_, err := Read(context.Background(), path, Options{PDF: PDFPdftotext})
	if err == nil || !strings.Contains(err.Error(), "apt-get install poppler-utils") {
		t.Errorf("missing pdftotext: %v, want an error naming poppler-utils", err)
	}
}

// cidPDF builds, byte by byte, a one-page PDF that shows s in a composite
// (Type0, Identity-H) font with a ToUnicode map, the way Japanese PDFs are
// made. No glyphs are embedded: text extraction needs only the map.
func cidPDF(s string) []byte {
	codes := map[rune]int{}
	var shown, bfchar strings.Builder
	for _, r := range s {
		c, ok := codes[r]
		if !ok {
			c = len(codes) + 1
			codes[r] = c
			fmt.Fprintf(&bfchar, "<%04X> <%04X>\n", c, r)
		}
		fmt.Fprintf(&shown, "%04X", c)
	}
	content := "BT /F1 12 Tf 72 720 Td <" + shown.String() + "> Tj ET"
	cmap := "/CIDInit /ProcSet findresource begin\n12 dict begin\nbegincmap\n/CMapName /Test-UCS def\n/CMapType 2 def\n" +
		"1 begincodespacerange\n<0000> <FFFF>\nendcodespacerange\n" +
		fmt.Sprintf("%d beginbfchar\n%sendbfchar\n", len(codes), bfchar.String()) +
		"endcmap\nCMapName currentdict /CMap defineresource pop\nend\nend"
	objs := []string{
		"<< /Type /Catalog /Pages 2 0 R >>",
		"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
		"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Resources << /Font << /F1 4 0 R >> >> /Contents 5 0 R >>",
		"<< /Type /Font /Subtype /Type0 /BaseFont /TestJP /Encoding /Identity-H /DescendantFonts [6 0 R] /ToUnicode 7 0 R >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(content), content),
		"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /TestJP /CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> >>",
		fmt.Sprintf("<< /Length %d >>\nstream\n%s\nendstream", len(cmap), cmap),
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
