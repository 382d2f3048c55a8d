package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ledongthuc/pdf"
)

// ErrNoText marks a PDF without a text layer: a scan, which needs OCR first.
var ErrNoText = errors.New("the PDF has no text layer (a scanned document? run OCR first, e.g. ocrmypdf)")

// maxPDFPages bounds the pages read, so a file that claims a billion pages
// cannot keep a run busy.
const maxPDFPages = 100000

// errNoPdftotext marks a machine without poppler's pdftotext.
var errNoPdftotext = errors.New("pdftotext is not installed (Debian/Ubuntu: apt-get install poppler-utils)")

// readPDF reads the pages of the PDF at path with the extractor named by
// mode: PDFPdftotext, or PDFAuto: in process first, and pdftotext when the
// in-process reader finds no text, fails, or shows text in a font it cannot
// map to Unicode (see fontDecodable) or that comes out garbled.
func readPDF(ctx context.Context, path, mode string) ([]section, error) {
	if mode == PDFPdftotext {
		pages, err := pdftotextPages(ctx, path)
		if errors.Is(err, errNoPdftotext) {
			return nil, fmt.Errorf("ingest: %s: pdf: %w, or use pdf: auto or go", path, err)
		}
		return pages, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	pages, decodable, goErr := pdfPages(data)
	why := ""
	switch {
	case goErr != nil:
		why = goErr.Error()
	case !decodable:
		why = "its fonts have no Unicode map the in-process reader uses (a CID font with a predefined CMap such as UniJIS-UCS2-H, or a custom encoding)"
	case garbled(pages):
		why = "the in-process reader's text is garbled"
	default:
		return pages, nil
	}
	alt, err := pdftotextPages(ctx, path)
	switch {
	case err == nil:
		return alt, nil
	case errors.Is(err, errNoPdftotext) && goErr == nil:
		return nil, fmt.Errorf("ingest: %s: %s, and %w; or set pdf: go to take that text as it is", path, why, err)
	case errors.Is(err, errNoPdftotext):
		return nil, fmt.Errorf("ingest: %s: %w (pdftotext may read it: apt-get install poppler-utils)", path, goErr)
	case goErr != nil:
		// The in-process reader's error says what is wrong with the file.
		return nil, fmt.Errorf("ingest: %s: %w", path, goErr)
	}
	return nil, err
}

// garbled reports whether more than 2% of the text's characters are ones
// a document's words are not made of: the replacement character, control
// characters other than line breaks and tabs, private-use and unassigned
// code points. A font decoded with the wrong map yields them.
func garbled(pages []section) bool {
	bad, all := 0, 0
	for _, p := range pages {
		for _, r := range p.text {
			all++
			switch {
			case r == '\n' || r == '\t' || r == '\r':
			case r == utf8.RuneError, unicode.IsControl(r), unicode.Is(unicode.Co, r), !unicode.IsPrint(r) && !unicode.IsSpace(r):
				bad++
			}
		}
	}
	return all > 0 && bad*50 > all
}

// fontDecodable reports whether the in-process reader maps the codes of
// font f to Unicode: a simple font in WinAnsi, MacRoman, PDFDoc or a
// Differences encoding without a ToUnicode map (the reader does not read
// one beside Differences), or a composite font with a ToUnicode map or in
// UniGB-UCS2-H. Other fonts' text comes out as raw codes, which no
// character check can tell from Latin text.
func fontDecodable(f pdf.Value) bool {
	hasMap := f.Key("ToUnicode").Kind() == pdf.Stream
	enc := f.Key("Encoding")
	composite := f.Key("Subtype").Name() == "Type0"
	switch enc.Kind() {
	case pdf.Name:
		switch enc.Name() {
		case "WinAnsiEncoding", "MacRomanEncoding", "UniGB-UCS2-H":
			return true
		case "Identity-H":
			return hasMap
		}
		return false
	case pdf.Dict:
		return !hasMap && !composite
	case pdf.Null:
		return hasMap || !composite
	}
	return false
}

// PDFText extracts the text layer of a PDF in process, page by page (pages
// separated by a blank line), with github.com/ledongthuc/pdf: pure Go, no
// network, standard and embedded fonts with WinAnsi, MacRoman or Identity-H
// encodings and ToUnicode maps. Encrypted PDFs with a password, and scans,
// are errors. The parser panics on some malformed files; that is turned
// into an error here, so one bad file cannot crash a run.
func PDFText(data []byte) (string, error) {
	pages, _, err := pdfPages(data)
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

// pdfPages returns the text of each page that has some, named "page N",
// and whether every font on the pages is one the reader decodes
// (fontDecodable).
func pdfPages(data []byte) (pages []section, decodable bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			pages, decodable, err = nil, false, fmt.Errorf("read pdf: malformed file (%v)", r)
		}
	}()
	decodable = true
	r, err := pdf.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, false, fmt.Errorf("read pdf: %w", err)
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
			decodable = decodable && fontDecodable(f.V)
		}
		t, err := p.GetPlainText(fonts)
		if err != nil {
			return nil, false, fmt.Errorf("read pdf: page %d: %w", i, err)
		}
		if t = strings.TrimSpace(t); t != "" && clean(t) != "" {
			pages = append(pages, section{name: fmt.Sprintf("page %d", i), text: t})
		}
	}
	if len(pages) == 0 {
		return nil, decodable, ErrNoText
	}
	return pages, decodable, nil
}

// PDFTextCommand extracts the text of the PDF at path with poppler's
// pdftotext, which reads more PDFs than the in-process extractor (broken
// cross-reference tables, CID fonts with predefined CMaps, custom font
// encodings) at the cost of a system package: Debian and Ubuntu `apt-get
// install poppler-utils` (with poppler-data for CJK CMaps). Pages are
// separated by a blank line, as PDFText separates them.
func PDFTextCommand(ctx context.Context, path string) (string, error) {
	pages, err := pdftotextPages(ctx, path)
	if errors.Is(err, errNoPdftotext) {
		return "", fmt.Errorf("ingest: %s: %w", path, err)
	}
	if err != nil {
		return "", err
	}
	t, _ := joinSections(pages)
	return t, nil
}

// pdftotextPages runs pdftotext on path and splits its output into pages at
// its form feeds, named "page N" as pdfPages names them.
func pdftotextPages(ctx context.Context, path string) ([]section, error) {
	bin, err := exec.LookPath("pdftotext")
	if err != nil {
		return nil, errNoPdftotext
	}
	var out, stderr bytes.Buffer
	if strings.HasPrefix(path, "-") {
		path = "./" + path // not an option
	}
	cmd := exec.CommandContext(ctx, bin, "-enc", "UTF-8", path, "-")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("ingest: %s: pdftotext: %w: %s", path, err, strings.TrimSpace(stderr.String()))
	}
	var pages []section
	// pdftotext ends every page with a form feed, the last one too.
	for i, t := range strings.Split(strings.TrimSuffix(out.String(), "\f"), "\f") {
		if t = strings.TrimSpace(t); t != "" && clean(t) != "" {
			pages = append(pages, section{name: fmt.Sprintf("page %d", i+1), text: t})
		}
	}
	if len(pages) == 0 {
		return nil, fmt.Errorf("ingest: %s: %w", path, ErrNoText)
	}
	return pages, nil
}
