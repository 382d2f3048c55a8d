package ingest

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// maxColumnGap bounds the empty cells written for a gap between two filled
// cells of a row, so one cell in column XFD cannot turn a few bytes of XML
// into 16,000 separators; maxSheetText bounds a workbook's text.
const (
	maxColumnGap = 16
	maxSheetText = maxUnzipped
)

// XlsxText extracts the text of an Excel workbook (.xlsx): its sheets in
// the workbook's order, each headed "# <sheet name>" and located as
// "sheet <name>"; each row a line with its cells joined by " | " (empty
// cells kept so columns line up, trailing ones dropped, empty rows
// skipped). Cells are shown as stored: shared and inline strings (rich
// text runs joined, Japanese phonetic guides left out), numbers as written
// (dates stay serial numbers), booleans as TRUE or FALSE, errors such as
// #DIV/0!; formulas give their cached value.
func XlsxText(data []byte) (string, []Part, error) {
	secs, err := xlsxSheets(data)
	if err != nil {
		return "", nil, fmt.Errorf("xlsx: %w", err)
	}
	t, parts := joinSections(secs)
	return t, parts, nil
}

func xlsxSheets(data []byte) ([]section, error) {
	z, err := openOOXML(data)
	if err != nil {
		return nil, err
	}
	rels, err := z.rels("xl/_rels/workbook.xml.rels", "xl")
	if err != nil {
		return nil, err
	}
	var shared []string
	if z.has("xl/sharedStrings.xml") {
		if shared, err = xlsxSharedStrings(z); err != nil {
			return nil, err
		}
	}
	type sheet struct{ name, rel string }
	var sheets []sheet
	err = z.walk("xl/workbook.xml", func(e xml.StartElement) {
		if e.Name.Local == "sheet" {
			sheets = append(sheets, sheet{attr(e, "name", false), attr(e, "id", true)})
		}
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	var secs []section
	left := maxSheetText
	for _, s := range sheets {
		target, ok := rels[s.rel]
		if !ok {
			return nil, fmt.Errorf("xl/workbook.xml: sheet %q: relationship %q is not in xl/_rels/workbook.xml.rels", s.name, s.rel)
		}
		t, err := xlsxSheet(z, target, shared, &left)
		if err != nil {
			return nil, fmt.Errorf("sheet %q: %w", s.name, err)
		}
		if strings.TrimSpace(t) == "" {
			continue // an empty sheet, or a chart sheet
		}

		secs = append(secs, section{name: "sheet " + s.name, text: "# " + s.name + "\n\n" + t})
	}
	return secs, nil
}

// xlsxSharedStrings reads the shared string table: each si's text, its
// runs joined, phonetic guides (rPh) skipped.
func xlsxSharedStrings(z *ooxml) ([]string, error) {
	var (
		out    []string
		b      strings.Builder
		inText bool
		rPh    int
	)
	err := z.walk("xl/sharedStrings.xml", func(e xml.StartElement) {
		switch e.Name.Local {
		case "si":
			b.Reset()
		case "rPh":
			rPh++
		case "t":
			inText = rPh == 0
		}
	}, func(e xml.EndElement) {
		switch e.Name.Local {
		case "si":
			out = append(out, b.String())
		case "rPh":
			rPh--
		case "t":
			inText = false
		}
	}, func(t []byte) {
		if inText {
			b.Write(t)
		}
	})
	return out, err
}

// xlsxSheet returns the rows of one worksheet part, taking their length
// from the workbook's budget left.
func xlsxSheet(z *ooxml, name string, shared []string, left *int) (string, error) {
	var (
		lines  []string
		row    []string
		col    int // columns filled in the row so far
		typ    string
		ref    string
		val    strings.Builder
		inVal  bool
		rPh    int
		hasVal bool
	)
	err := z.walk(name, func(e xml.StartElement) {
		switch e.Name.Local {
		case "row":
			row, col = nil, 0
		case "c":
			typ, ref = attr(e, "t", false), attr(e, "r", false)
			val.Reset()
			hasVal = false
		case "v":
			inVal, hasVal = true, true
		case "rPh":
			rPh++
		case "t":
			inVal, hasVal = rPh == 0, true
		}
	}, func(e xml.EndElement) {
		switch e.Name.Local {
		case "v", "t":
			inVal = false
		case "rPh":
			rPh--
		case "c":
			at, ok := columnOf(ref)
			if !ok || at < col {
				at = col // no reference, or out of order: the next column
			}
			for range min(at-col, maxColumnGap) {
				row = append(row, "")
			}
			row = append(row, oneLine(cellText(typ, val.String(), hasVal, shared)))
			col = at + 1
		case "row":
			for len(row) > 0 && row[len(row)-1] == "" {
				row = row[:len(row)-1]
			}
			if len(row) > 0 && *left >= 0 {
				l := strings.Join(row, " | ")
				*left -= len(l) + 1
				lines = append(lines, l)
			}
		}
	}, func(t []byte) {
		if inVal {
			val.Write(t)
		}
	})
	if err == nil && *left < 0 {
		err = fmt.Errorf("%s: more than %d MB of text: %w", name, maxSheetText>>20, ErrZipBomb)
	}
	return strings.Join(lines, "\n"), err
}

// cellText shows a cell's stored value by its type.
func cellText(typ, v string, hasVal bool, shared []string) string {
	if !hasVal {
		return ""
	}
	switch typ {
	case "s":
		i, err := strconv.Atoi(strings.TrimSpace(v))
		if err != nil || i < 0 || i >= len(shared) {
			return ""
		}
		return shared[i]
	case "b":
		switch strings.TrimSpace(v) {
		case "1":
			return "TRUE"
		case "0":
			return "FALSE"
		}
	}
	return v // n, str, inlineStr, e, d: as written
}

// columnOf returns the zero-based column of a cell reference such as "C7".
func columnOf(ref string) (int, bool) {
	n, i := 0, 0
	for ; i < len(ref) && i < 3; i++ {
		c := ref[i]
		if c >= 'a' && c <= 'z' {
			c -= 'a' - 'A'
		}
		if c < 'A' || c > 'Z' {
			break
		}
		n = n*26 + int(c-'A'+1)
	}
	if i == 0 {
		return 0, false
	}
	return n - 1, true
}
