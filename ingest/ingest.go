// Package ingest reads documents (.txt, .md, .html, .pdf, .docx, .pptx, .xlsx) from files and folders as plain text and splits them into overlapping, token-counted chunks.
package ingest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"unicode/utf8"
)

// Formats of the documents Read understands, by file extension.
const (
	FormatText     = "text"     // .txt
	FormatMarkdown = "markdown" // .md, .markdown
	FormatHTML     = "html"     // .html, .htm, .xhtml
	FormatPDF      = "pdf"      // .pdf
	FormatDocx     = "docx"     // .docx (Word)
	FormatPptx     = "pptx"     // .pptx (PowerPoint)
	FormatXlsx     = "xlsx"     // .xlsx (Excel)
)

// wantFormats names the formats Read understands, for errors.
const wantFormats = ".txt, .md, .html, .pdf, .docx, .pptx or .xlsx"

// PDF extractors.
const (
	PDFAuto      = "auto"      // in process, and pdftotext when that reads nothing or garbles the text (default)
	PDFGo        = "go"        // github.com/ledongthuc/pdf, in process only
	PDFPdftotext = "pdftotext" // poppler's pdftotext command (Debian: poppler-utils)
)

// Document is the plain text of one file.
type Document struct {
	// Source is the file's path as found (relative paths stay relative),
	// with forward slashes, so chunk ids are the same on every OS.
	Source string
	Format string
	Text   string
	// Parts locates the pages of a PDF, the slides of a presentation and
	// the sheets of a workbook in Text, in order; nil for formats without
	// such structure (a Word file's pages depend on its layout).
	Parts []Part
}

// Part is a located piece of a document's text: Text[Start:End] is the
// page, slide or sheet Name ("page 2", "slide 3", "sheet Budget").
type Part struct {
	Name  string `json:"name"`
	Start int    `json:"start"`
	End   int    `json:"end"`
}

// Locate names the parts that the span [start, end) of the text overlaps:
// one part by its name ("slide 3"), several by the first and the last
// ("slide 3 to slide 5"); "" when none does.
func Locate(parts []Part, start, end int) string {
	in := overlapping(parts, start, end)
	switch len(in) {
	case 0:
		return ""
	case 1:
		return in[0].Name
	}
	return in[0].Name + " to " + in[len(in)-1].Name
}

// Options tune how documents are read. The zero value is ready to use.
type Options struct {
	// PDF picks the PDF text extractor: PDFAuto ("" too), PDFGo or
	// PDFPdftotext.
	PDF string
}

// Validate checks the options.
func (o Options) Validate() error {
	switch o.PDF {
	case "", PDFAuto, PDFGo, PDFPdftotext:
		return nil
	}
	return fmt.Errorf("ingest: pdf extractor %q (want %q, %q or %q)", o.PDF, PDFAuto, PDFGo, PDFPdftotext)
}

// FormatOf returns the format of path by its extension, or "" when Read
// does not read it.
func FormatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".txt", ".text":
		return FormatText
	case ".md", ".markdown":
		return FormatMarkdown
	case ".html", ".htm", ".xhtml":
		return FormatHTML
	case ".pdf":
		return FormatPDF
	case ".docx":
		return FormatDocx
	case ".pptx":
		return FormatPptx
	case ".xlsx":
		return FormatXlsx
	}
	return ""
}

// Files expands paths into the documents to read, in a deterministic order,
// as Expand does for the documents Read understands. Paths are cleaned.
func Files(paths []string) ([]string, error) {
	files, err := Expand(paths, Kind{Match: func(p string) bool { return FormatOf(p) != "" }, Want: wantFormats})
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	for i, f := range files {
		files[i] = filepath.Clean(f)
	}
	return files, nil
}

// Kind says which files Expand lists.
type Kind struct {
	// Match reports whether a file is of the kind.
	Match func(path string) bool
	// Want names the kind in errors: ".jsonl or .csv".
	Want string
	// AnyNamed lists a file named explicitly or matched by a pattern
	// whatever Match says (the load stage reads any file as text); Match
	// then only picks the files of folders.
	AnyNamed bool
}

// Expand expands paths (files, folders, glob patterns) into the files of a
// kind, in a deterministic order: each argument in turn; a folder
// contributes every file of the kind below it (recursively, sorted by path,
// hidden files and folders skipped); a glob pattern its matches, sorted. A
// file is listed once even when named twice, under its first spelling, so
// that ids derived from paths stay as they were written. A file named
// explicitly must be of the kind; a folder or pattern that yields no file
// is an error, since it is almost always a typo. The errors have no prefix:
// callers add theirs.
func Expand(paths []string, kind Kind) ([]string, error) {
	if len(paths) == 0 {
		return nil, errors.New("no path given")
	}
	var out []string
	seen := map[string]bool{}
	add := func(p string) {
		if c := filepath.Clean(p); !seen[c] {
			seen[c] = true
			out = append(out, p)
		}
	}
	for _, p := range paths {
		if strings.ContainsAny(p, "*?[") {
			m, err := filepath.Glob(p)
			if err != nil {
				return nil, fmt.Errorf("pattern %q: %w", p, err)
			}
			n := 0
			sort.Strings(m)
			for _, f := range m {
				if fi, err := os.Stat(f); err == nil && !fi.IsDir() && (kind.AnyNamed || kind.Match(f)) {
					add(f)
					n++
				}
			}
			if n == 0 && kind.AnyNamed {
				return nil, fmt.Errorf("pattern %q matches no file", p)
			}
			if n == 0 {
				return nil, fmt.Errorf("pattern %q matches no %s file", p, kind.Want)
			}
			continue
		}
		fi, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		if !fi.IsDir() {
			if !kind.AnyNamed && !kind.Match(p) {
				return nil, fmt.Errorf("%s: unsupported file type %q (want %s)", p, filepath.Ext(p), kind.Want)
			}
			add(p)
			continue
		}
		var found []string
		err = filepath.WalkDir(p, func(path string, d os.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if path != p && strings.HasPrefix(d.Name(), ".") {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
			if !d.IsDir() && kind.Match(path) {
				found = append(found, path)
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("folder %s holds no %s file", p, kind.Want)
		}
		sort.Strings(found)
		for _, f := range found {
			add(f)
		}
	}
	return out, nil
}

// Read returns the plain text of one file: text and markdown as written
// (markdown's HTML comments removed, since a reader never sees them), HTML's
// visible text, PDF's text layer (pages located), the text of Word,
// PowerPoint (slides located) and Excel (sheets located) files with their
// headings, lists and tables as lines (see DocxText, PptxText, XlsxText).
// Line endings become "\n".
func Read(ctx context.Context, path string, opt Options) (Document, error) {
	doc := Document{Source: filepath.ToSlash(filepath.Clean(path)), Format: FormatOf(path)}
	if err := opt.Validate(); err != nil {
		return doc, err
	}
	if doc.Format == FormatPDF && opt.PDF != PDFGo {
		pages, err := readPDF(ctx, path, opt.PDF)
		if err != nil {
			return doc, err
		}
		doc.Text, doc.Parts = joinSections(pages)
		return doc, nil
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return doc, fmt.Errorf("ingest: %w", err)
	}
	t, parts, err := ExtractParts(doc.Format, data)
	if err != nil {
		return doc, fmt.Errorf("ingest: %s: %w", doc.Source, err)
	}
	doc.Text, doc.Parts = t, parts
	return doc, nil
}

// Extract returns the plain text of data in the given format (see Read),
// with the in-process PDF extractor.
func Extract(format string, data []byte) (string, error) {
	t, _, err := ExtractParts(format, data)
	return t, err
}

// ExtractParts is Extract that also locates the pages, slides or sheets of
// the text (see Document.Parts).
func ExtractParts(format string, data []byte) (string, []Part, error) {
	switch format {
	case FormatPDF:
		pages, _, err := pdfPages(data)
		if err != nil {
			return "", nil, err
		}
		t, parts := joinSections(pages)
		return t, parts, nil
	case FormatDocx:
		t, err := DocxText(data)
		return t, nil, err
	case FormatPptx:
		return PptxText(data)
	case FormatXlsx:
		return XlsxText(data)
	}
	t, err := extractText(format, data)
	return t, nil, err
}

func extractText(format string, data []byte) (string, error) {
	switch format {
	case FormatText, FormatMarkdown:
		data = bytes.TrimPrefix(data, []byte("\ufeff"))
		if !utf8.Valid(data) {
			return "", errors.New("not UTF-8 text; convert it first (e.g. iconv -f SHIFT_JIS -t UTF-8)")
		}
		t := string(data)
		if format == FormatMarkdown {
			t = mdComment.ReplaceAllString(t, "")
		}
		return clean(t), nil
	case FormatHTML:
		t, err := HTMLText(bytes.NewReader(data))
		if err != nil {
			return "", err
		}
		return clean(t), nil
	}
	return "", fmt.Errorf("unsupported format %q", format)
}

// Load reads every document that Files finds in paths. It stops at the first
// file that cannot be read; a pipeline stage that must go on past a bad file
// calls Files and Read itself.
func Load(ctx context.Context, paths []string, opt Options) ([]Document, error) {
	files, err := Files(paths)
	if err != nil {
		return nil, err
	}
	docs := make([]Document, 0, len(files))
	for _, f := range files {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		d, err := Read(ctx, f, opt)
		if err != nil {
			return nil, err
		}
		docs = append(docs, d)
	}
	return docs, nil
}

// mdComment matches an HTML comment in markdown. Rendered markdown hides it,
// which makes it a place to hide instructions from the humans who review a
// document.
var mdComment = regexp.MustCompile(`(?s)<!--.*?-->`)

// blankLines is a run of empty lines, kept as one paragraph break.
var blankLines = regexp.MustCompile(`\n{3,}`)

// clean normalises line endings, drops NUL and other C0 controls except tab
// and newline (PDF text layers carry them), and trims trailing spaces.
func clean(s string) string {
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if r < 0x20 && r != '\n' && r != '\t' || r == 0x7f {
			if r == '\f' {
				return '\n' // a page break
			}
			return -1
		}
		return r
	}, s)
	lines := strings.Split(s, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	s = blankLines.ReplaceAllString(strings.Join(lines, "\n"), "\n\n")
	return strings.Trim(s, "\n")
}
