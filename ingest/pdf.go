package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/ledongthuc/pdf"
)

// ErrNoText marks a PDF without a text layer: a scan, which needs OCR first.
var ErrNoText = errors.New("the PDF has no text layer (a scanned document? run OCR first, e.g. ocrmypdf)")

// maxPDFPages bounds the pages read, so a file that claims a billion pages
// cannot keep a run busy.
const maxPDFPages = 100000

// PDFText extracts the text layer of a PDF in process, page by page (pages
// separated by a blank line), with github.com/ledongthuc/pdf: pure Go, no
// network, standard and embedded fonts with WinAnsi, MacRoman or Identity-H
// encodings and ToUnicode maps. Encrypted PDFs with a password, and scans,
// are errors. The parser panics on some malformed files; that is turned
// into an error here, so one bad file cannot crash a run.
func PDFText(data []byte) (string, error) {
	pages, err := pdfPages(data)
	if err != nil {
		return "", err
	}
	var b strings.Builder
	for _, p := range pages {
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		b.WriteString(p.text)
	}
	return b.String(), nil
}

// pdfPages returns the text of each page that has some, named "page N".
func pdfPages(data []byte) (pages []section, err error) {
	defer func() {
		if r := recover(); r != nil {
			pages, err = nil, fmt.Errorf("read pdf: malformed file (%v)", r)
		}
	}()
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("read pdf: %w", err)
	}
	n := min(r.NumPage(), maxPDFPages)
	for i := 1; i <= n; i++ {
		p := r.Page(i)
		if p.V.IsNull() {
			break
		}
		// Font names are per page: F1 on one page may be another font on
		// the next, so the decoders are not shared across pages.
		fonts := map[string]*pdf.Font{}
		for _, name := range p.Fonts() {
			f := p.Font(name)
			fonts[name] = &f
		}
		t, err := p.GetPlainText(fonts)
		if err != nil {
			return nil, fmt.Errorf("read pdf: page %d: %w", i, err)
		}
		if t = strings.TrimSpace(t); t != "" && clean(t) != "" {
			pages = append(pages, section{name: fmt.Sprintf("page %d", i), text: t})
		}
	}
	if len(pages) == 0 {
		return nil, ErrNoText
	}
	return pages, nil
}

// PDFTextCommand extracts the text of the PDF at path with poppler's
// pdftotext, which reads more PDFs than the in-process extractor (broken
// cross-reference tables, unusual font encodings) at the cost of a system
// package: Debian and Ubuntu `apt-get install poppler-utils`.
func PDFTextCommand(ctx context.Context, path string) (string, error) {
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		return "", fmt.Errorf("ingest: %s: pdf: pdftotext is not installed (Debian/Ubuntu: apt-get install poppler-utils), or use pdf: go", path)
	}
	var out, stderr bytes.Buffer
	if strings.HasPrefix(path, "-") {
		path = "./" + path // not an option
	}
	cmd := exec.CommandContext(ctx, bin, "-enc", "UTF-8", "-nopgbrk", path, "-")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("ingest: %s: pdftotext: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	if strings.TrimSpace(out.String()) == "" {
		return "", fmt.Errorf("ingest: %s: %w", path, ErrNoText)
	}
	return out.String(), nil
}
