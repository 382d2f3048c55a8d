package ingest

import (
	"encoding/xml"
	"fmt"
	"path"
	"strconv"
	"strings"
)

// section is the text of one located part of a document before joining.
type section struct {
	name, text string
}

// PptxText extracts the text of a PowerPoint file (.pptx): its slides in
// the presentation's order (ppt/presentation.xml's slide list, not the
// part names, so slide10 follows slide9), each headed "# Slide N" and
// located as "slide N"; a slide's text frames a paragraph a line, a blank
// line between frames, tables a row a line with cells joined by " | ".
// Speaker notes are left out.
func PptxText(data []byte) (string, []Part, error) {
	secs, err := pptxSlides(data)
	if err != nil {
		return "", nil, fmt.Errorf("pptx: %w", err)
	}
	t, parts := joinSections(secs)
	return t, parts, nil
}

func pptxSlides(data []byte) ([]section, error) {
	z, err := openOOXML(data)
	if err != nil {
		return nil, err
	}
	rels, err := z.rels("ppt/_rels/presentation.xml.rels", "ppt")
	if err != nil {
		return nil, err
	}
	var ids []string
	err = z.walk("ppt/presentation.xml", func(e xml.StartElement) {
		if e.Name.Local == "sldId" {
			ids = append(ids, attr(e, "id", true))
		}
	}, nil, nil)
	if err != nil {
		return nil, err
	}
	var secs []section
	for i, id := range ids {
		target, ok := rels[id]
		if !ok {
			return nil, fmt.Errorf("ppt/presentation.xml: slide %d: relationship %q is not in ppt/_rels/presentation.xml.rels", i+1, id)
		}
		t, err := pptxSlide(z, target)
		if err != nil {
			return nil, fmt.Errorf("slide %d: %w", i+1, err)
		}
		n := strconv.Itoa(i + 1)
		secs = append(secs, section{name: "slide " + n, text: "# Slide " + n + "\n\n" + t})
	}
	return secs, nil
}

// pptxSlide returns the text of one slide part.
func pptxSlide(z *ooxml, name string) (string, error) {
	var (
		out    blocks
		frame  []string // paragraphs of the current text frame
		tables []*table
		para   strings.Builder
		inText bool
	)
	start := func(e xml.StartElement) {
		switch e.Name.Local {
		case "p":
			para.Reset()
		case "t":
			inText = true
		case "br":
			para.WriteByte('\n')
		case "tab":
			para.WriteByte('\t')
		case "tbl":
			tables = append(tables, &table{})
		}
	}
	end := func(e xml.EndElement) {
		switch e.Name.Local {
		case "t":
			inText = false
		case "p":
			// Only DrawingML paragraphs (a:p) hold text; a:p and p:... do
			// not clash, as the slide's own elements have other names.
			s := strings.TrimRight(para.String(), " \t\n")
			para.Reset()
			if len(tables) > 0 {
				if s = oneLine(s); s != "" {
					t := tables[len(tables)-1]
					t.cell = append(t.cell, s)
				}
				return
			}
			frame = append(frame, s)
		case "txBody":
			if len(tables) == 0 {
				out.add(strings.Join(frame, "\n"), false)
				frame = nil
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
			if len(tables) == 0 {
				out.add(strings.Join(t.rows, "\n"), false)
			}
		}
	}
	text := func(b []byte) {
		if inText {
			para.Write(b)
		}
	}
	if err := z.walk(path.Clean(name), start, end, text); err != nil {
		return "", err
	}
	return out.String(), nil
}

// joinSections cleans each section's text and joins them with a blank line,
// recording where each one lies in the result. Sections without text are
// dropped.
func joinSections(secs []section) (string, []Part) {
	var b strings.Builder
	var parts []Part
	for _, s := range secs {
		t := clean(s.text)
		if t == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString("\n\n")
		}
		parts = append(parts, Part{Name: s.name, Start: b.Len(), End: b.Len() + len(t)})
		b.WriteString(t)
	}
	return b.String(), parts
}
