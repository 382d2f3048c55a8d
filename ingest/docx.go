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
	levels, err := docxHeadingStyles(z) // style id → heading level
	if err != nil {
		return "", fmt.Errorf("docx: %w", err)
	}
	var (
		out    blocks
		tables []*table
		para   strings.Builder
		outer  []string // paragraphs a text box interrupts
		inText bool
		style  string
		list   bool
		outl   = -1
	)
	start := func(e xml.StartElement) {
		switch e.Name.Local {
		case "p":
			// A text box's paragraphs sit inside a run of another one.
			outer = append(outer, para.String())
			para.Reset()
			style, list, outl = "", false, -1
		case "pStyle":
			style = attr(e, "val", true)
		case "numPr":
			list = true
		case "outlineLvl":
			if n, err := strconv.Atoi(attr(e, "val", true)); err == nil && n >= 0 && n < 9 {
				outl = n
			}
		case "t":
			inText = true
		case "tab":
			// A run's tab has no attributes; a tab stop of the
			// paragraph's properties (w:tabs) has a position.
			if len(e.Attr) == 0 {
				para.WriteByte('\t')
			}
		case "br", "cr":
			para.WriteByte('\n')
		case "tbl":
			tables = append(tables, &table{})
		}
	}
	end := func(e xml.EndElement) {
		switch e.Name.Local {
		case "t":
			inText = false
		case "p":
			s := strings.TrimSpace(para.String())
			para.Reset()
			if n := len(outer); n > 0 {
				para.WriteString(outer[n-1])
				outer = outer[:n-1]
			}
			if len(tables) > 0 {
				if s != "" {
					t := tables[len(tables)-1]
					t.cell = append(t.cell, oneLine(s))
				}
				return
			}
			level, ok := levels[style]
			if !ok && outl >= 0 {
				level, ok = outl+1, true
			}
			switch {
			case s == "":
			case ok:
				out.add(strings.Repeat("#", level)+" "+s, false)
			case list:
				out.add("- "+s, true)
			default:
				out.add(s, false)
			}
		case "tc":
			if len(tables) > 0 {
				tables[len(tables)-1].endCell()
			}
		case "tr":
			if len(tables) > 0 {
				tables[len(tables)-1].endRow()
			}
		case "tbl":
			if len(tables) == 0 {
				return
			}
			t := tables[len(tables)-1]
			tables = tables[:len(tables)-1]
			if len(tables) > 0 {
				if len(t.rows) > 0 {
					p := tables[len(tables)-1]
					p.cell = append(p.cell, strings.Join(t.rows, "; "))
				}
				return
			}
			out.add(strings.Join(t.rows, "\n"), false)
		}
	}
	text := func(b []byte) {
		if inText {
			para.Write(b)
		}
	}
	if err := z.walk("word/document.xml", start, end, text); err != nil {
		return "", fmt.Errorf("docx: %w", err)
	}
	return clean(out.String()), nil
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
