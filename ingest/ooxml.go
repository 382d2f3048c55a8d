package ingest

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
)

// Bounds on what an Office file (a zip of XML parts) may make us read, so a
// zip bomb — a small file that inflates to gigabytes — is an error, not an
// exhausted machine.
const (
	maxZipEntries = 10000
	maxUnzipped   = 200 << 20 // bytes inflated over the whole file
)

// nsMarkupCompat is the namespace of mc:AlternateContent.
const nsMarkupCompat = "http://schemas.openxmlformats.org/markup-compatibility/2006"

// ErrZipBomb marks an Office file that holds more than 10,000 parts or
// inflates to more than 200 MB.
var ErrZipBomb = errors.New("too large once unzipped (a zip bomb?): more than 10,000 parts or 200 MB")

// ooxml is an opened Office Open XML package.
type ooxml struct {
	parts map[string]*zip.File
	read  int64 // bytes inflated so far, across parts
}

func openOOXML(data []byte) (*ooxml, error) {
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		return nil, fmt.Errorf("not an Office file (zip): %w", err)
	}
	if len(zr.File) > maxZipEntries {
		return nil, fmt.Errorf("%d zip entries, more than %d: %w", len(zr.File), maxZipEntries, ErrZipBomb)
	}
	z := &ooxml{parts: make(map[string]*zip.File, len(zr.File))}
	for _, f := range zr.File {
		z.parts[strings.TrimPrefix(f.Name, "/")] = f
	}
	return z, nil
}

// has reports whether the package holds the part.
func (z *ooxml) has(name string) bool { return z.parts[name] != nil }

// part returns a part's bytes; a missing part is an error naming it.
func (z *ooxml) part(name string) ([]byte, error) {
	f := z.parts[name]
	if f == nil {
		return nil, fmt.Errorf("missing part %s", name)
	}
	rc, err := f.Open()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	defer rc.Close()
	// The size in the zip header can lie; count what actually inflates.
	left := maxUnzipped - z.read
	b, err := io.ReadAll(io.LimitReader(rc, left+1))
	z.read += int64(len(b))
	if int64(len(b)) > left {
		return nil, fmt.Errorf("%s: %w", name, ErrZipBomb)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return b, nil
}

// walk decodes a part's XML, calling start and end for each element and text
// for character data. Names are local (prefixes dropped): Office files spell
// the same namespaces with different prefixes. The fallback of a markup
// compatibility block (mc:AlternateContent, around text boxes and shapes)
// is skipped: it repeats the text of the choice before it. Errors name the
// part.
func (z *ooxml) walk(name string, start func(xml.StartElement), end func(xml.EndElement), text func([]byte)) error {
	data, err := z.part(name)
	if err != nil {
		return err
	}
	d := xml.NewDecoder(bytes.NewReader(data))
	for {
		tok, err := d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%s: malformed XML: %w", name, err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			if t.Name.Local == "Fallback" && t.Name.Space == nsMarkupCompat {
				if err := d.Skip(); err != nil {
					return fmt.Errorf("%s: malformed XML: %w", name, err)
				}
				continue
			}
			if start != nil {
				start(t)
			}
		case xml.EndElement:
			if end != nil {
				end(t)
			}
		case xml.CharData:
			if text != nil {
				text(t)
			}
		}
	}
}

// attr returns the value of the attribute with the local name, either
// namespaced (w:val, r:id) or not: a slide's r:id (its relationship) and
// plain id (a number) share the local name.
func attr(e xml.StartElement, local string, namespaced bool) string {
	for _, a := range e.Attr {
		if a.Name.Local == local && (a.Name.Space != "") == namespaced {
			return a.Value
		}
	}
	return ""
}

// rels reads a relationships part: id → target part name, resolved against
// the folder of the part the relationships belong to.
func (z *ooxml) rels(relsName, baseDir string) (map[string]string, error) {
	out := map[string]string{}
	err := z.walk(relsName, func(e xml.StartElement) {
		if e.Name.Local != "Relationship" || attr(e, "TargetMode", false) == "External" {
			return
		}
		t := attr(e, "Target", false)
		if strings.HasPrefix(t, "/") {
			t = strings.TrimPrefix(t, "/")
		} else {
			t = path.Join(baseDir, t)
		}
		out[attr(e, "Id", false)] = t
	}, nil, nil)
	return out, err
}

// table gathers the rows of a table as text, cells joined by " | ", one row
// a line. Tables nest (a Word cell may hold a table); a nested table's rows
// fold into its cell joined by "; ".
type table struct {
	rows []string
	row  []string
	cell []string // paragraphs of the current cell
}

func (t *table) endCell() {
	t.row = append(t.row, strings.Join(t.cell, " "))
	t.cell = nil
}

func (t *table) endRow() {
	for len(t.row) > 0 && strings.TrimSpace(t.row[len(t.row)-1]) == "" {
		t.row = t.row[:len(t.row)-1]
	}
	if len(t.row) > 0 {
		t.rows = append(t.rows, strings.Join(t.row, " | "))
	}
	t.row = nil
}

// oneLine folds line breaks and tabs inside a table cell, where a line
// break would end the row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// blocks joins the blocks of a part's text: a blank line between blocks,
// a single newline between consecutive list items.
type blocks struct {
	b        strings.Builder
	lastList bool
}

func (bs *blocks) add(s string, list bool) {
	if strings.TrimSpace(s) == "" {
		return
	}
	if bs.b.Len() > 0 {
		if list && bs.lastList {
			bs.b.WriteString("\n")
		} else {
			bs.b.WriteString("\n\n")
		}
	}
	bs.b.WriteString(s)
	bs.lastList = list
}

func (bs *blocks) String() string { return bs.b.String() }
