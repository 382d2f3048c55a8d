package ingest

import (
	"encoding/xml"
	"fmt"
	"strconv"
	"strings"
)

// DocxText extracts the text of a Word document (.docx): the paragraphs of
// word/document.xml in order, headings (styles Title and Heading 1–9, also
// under localised style ids, found through word/styles.xml) as "#" lines,
// list items as "- " lines, tables as one line a row with cells joined by
// " | ", line breaks and tabs kept. Field instructions, deleted text and
// footnotes are not text a reader sees in the body, and are left out.
func DocxText(data []byte) (string, error) {
	z, err := openOOXML(data)
	if err != nil {
		return "", fmt.Errorf("docx: %w", err)
	}
	levels, err := docxHeadingStyles(z)
	if err != nil {
		return "", fmt.Errorf("docx: %w", err)
	}
	d := &docxBody{levels: levels, outl: -1}
	if err := z.walk("word/document.xml", d.start, d.end, d.text); err != nil {
		return "", fmt.Errorf("docx: %w", err)
	}
	return clean(d.out.String()), nil
}

// docxBody turns word/document.xml's elements into blocks as they stream by.
type docxBody struct {
	levels map[string]int // heading style id → level
	out    blocks
	tables []*table // the tables being read, innermost last
	para   strings.Builder
	outer  []string // paragraphs a text box interrupts
	inText bool
	// The current paragraph's properties.
	style string
	list  bool
	outl  int
}

func (d *docxBody) start(e xml.StartElement) {
	switch e.Name.Local {
	case "p":
		// A text box's paragraphs sit inside a run of another one.
		d.outer = append(d.outer, d.para.String())
		d.para.Reset()
		d.style, d.list, d.outl = "", false, -1
	case "pStyle":
		d.style = attr(e, "val", true)
	case "numPr":
		d.list = true
	case "outlineLvl":
		if n, err := strconv.Atoi(attr(e, "val", true)); err == nil && n >= 0 && n < 9 {
			d.outl = n
		}
	case "t":
		d.inText = true
	case "tab":
		// A run's tab has no attributes; a tab stop of the
		// paragraph's properties (w:tabs) has a position.
		if len(e.Attr) == 0 {
			d.para.WriteByte('\t')
		}
	case "br", "cr":
		d.para.WriteByte('\n')
	case "tbl":
		d.tables = append(d.tables, &table{})
	}
}

func (d *docxBody) end(e xml.EndElement) {
	switch e.Name.Local {
	case "t":
		d.inText = false
	case "p":
		d.endParagraph()
	case "tc":
		if len(d.tables) > 0 {
			d.tables[len(d.tables)-1].endCell()
		}
	case "tr":
		if len(d.tables) > 0 {
			d.tables[len(d.tables)-1].endRow()
		}
	case "tbl":
		if len(d.tables) == 0 {
			return
		}
		t := d.tables[len(d.tables)-1]
		d.tables = d.tables[:len(d.tables)-1]
		if len(d.tables) > 0 {
			if len(t.rows) > 0 {
				p := d.tables[len(d.tables)-1]
				p.cell = append(p.cell, strings.Join(t.rows, "; "))
			}
			return
		}
		d.out.add(strings.Join(t.rows, "\n"), false)
	}
}

// endParagraph puts a finished paragraph in its table cell, or out as a
// heading, a list item or plain text.
func (d *docxBody) endParagraph() {
	s := strings.TrimSpace(d.para.String())
	d.para.Reset()
	if n := len(d.outer); n > 0 {
		d.para.WriteString(d.outer[n-1])
		d.outer = d.outer[:n-1]
	}
	if len(d.tables) > 0 {
		if s != "" {
			t := d.tables[len(d.tables)-1]
			t.cell = append(t.cell, oneLine(s))
		}
		return
	}
	level, ok := d.levels[d.style]
	if !ok && d.outl >= 0 {
		level, ok = d.outl+1, true
	}
	switch {
	case s == "":
	case ok:
		d.out.add(strings.Repeat("#", level)+" "+s, false)
	case d.list:
		d.out.add("- "+s, true)
	default:
		d.out.add(s, false)
	}
}

func (d *docxBody) text(b []byte) {
	if d.inText {
		d.para.Write(b)
	}
}

// docxHeadingStyles maps the ids of heading styles to their levels: Title
// is 1, "heading N" is N. Style ids are localised (a Japanese Word names
// Heading 1's id "1"), the style's name is not.
func docxHeadingStyles(z *ooxml) (map[string]int, error) {
	levels := map[string]int{}
	if !z.has("word/styles.xml") {
		return defaultHeadings(levels), nil
	}
	id := ""
	err := z.walk("word/styles.xml", func(e xml.StartElement) {
		switch e.Name.Local {
		case "style":
			id = attr(e, "styleId", true)
		case "name":
			if id == "" {
				return
			}
			name := strings.ToLower(strings.TrimSpace(attr(e, "val", true)))
			if name == "title" {
				levels[id] = 1
			} else if n, ok := strings.CutPrefix(name, "heading "); ok {
				if l, err := strconv.Atoi(n); err == nil && l >= 1 && l <= 9 {
					levels[id] = l
				}
			}
		}
	}, nil, nil)
	return defaultHeadings(levels), err
}

// defaultHeadings adds the English built-in style ids, which a document
// written by a program often uses without defining them in styles.xml.
func defaultHeadings(levels map[string]int) map[string]int {
	for i := 1; i <= 9; i++ {
		if _, ok := levels["Heading"+strconv.Itoa(i)]; !ok {
			levels["Heading"+strconv.Itoa(i)] = i
		}
	}
	if _, ok := levels["Title"]; !ok {
		levels["Title"] = 1
	}
	return levels
}
