// Package officetest writes minimal valid Word, PowerPoint and Excel files (.docx, .pptx, .xlsx) for tests.
package officetest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"html"
	"sort"
	"strings"
)

// Namespaces of the parts written here.
const (
	nsW   = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
	nsR   = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"
	nsA   = "http://schemas.openxmlformats.org/drawingml/2006/main"
	nsP   = "http://schemas.openxmlformats.org/presentationml/2006/main"
	nsX   = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
	nsRel = "http://schemas.openxmlformats.org/package/2006/relationships"
	relOf = "http://schemas.openxmlformats.org/officeDocument/2006/relationships/"
)

// Zip returns a zip holding the named parts, written in reverse name order
// so a reader that relies on the order of entries is caught.
func Zip(parts map[string]string) []byte {
	names := make([]string, 0, len(parts))
	for n := range parts {
		names = append(names, n)
	}
	sort.Sort(sort.Reverse(sort.StringSlice(names)))
	var buf bytes.Buffer
	w := zip.NewWriter(&buf)
	for _, n := range names {
		f, err := w.Create(n)
		if err != nil {
			panic(err) // writing to memory does not fail
		}
		if _, err := f.Write([]byte(parts[n])); err != nil {
			panic(err)
		}
	}
	if err := w.Close(); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// Esc escapes text for XML.
func Esc(s string) string { return html.EscapeString(s) }

// newPackage returns the two parts every package has: the content types,
// which name main's, and the root relationship that points to main.
func newPackage(main, contentType string) map[string]string {
	return map[string]string{
		"[Content_Types].xml": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">` +
			`<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/><Default Extension="xml" ContentType="application/xml"/>` +
			`<Override PartName="/` + main + `" ContentType="` + contentType + `"/></Types>`,
		"_rels/.rels": `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="` + nsRel + `">` +
			`<Relationship Id="rId1" Type="` + relOf + `officeDocument" Target="` + main + `"/></Relationships>`,
	}
}

// Docx returns a Word file whose body is the given WordprocessingML (the
// children of w:body, with the w: and r: prefixes bound) and, when styles
// is not empty, a styles part with those w:style elements.
func Docx(body, styles string) []byte {
	parts := newPackage("word/document.xml", "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")
	parts["word/document.xml"] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document xmlns:w="` + nsW + `" xmlns:r="` + nsR + `"><w:body>` +
		body + `</w:body></w:document>`
	if styles != "" {
		parts["word/styles.xml"] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:styles xmlns:w="` + nsW + `">` + styles + `</w:styles>`
	}
	return Zip(parts)
}

// Para returns a Word paragraph of plain text, in the given style when
// style is not empty.
func Para(style, text string) string {
	ppr := ""
	if style != "" {
		ppr = `<w:pPr><w:pStyle w:val="` + style + `"/></w:pPr>`
	}
	return `<w:p>` + ppr + `<w:r><w:t xml:space="preserve">` + Esc(text) + `</w:t></w:r></w:p>`
}

// Pptx returns a PowerPoint file with the given slides in order, each the
// children of its p:spTree (a:, p: and r: prefixes bound). Slide i is
// stored as ppt/slides/slide<i+1>.xml under a relationship id that does
// not follow the order, so only the presentation's slide list gives it.
func Pptx(slides ...string) []byte {
	parts := newPackage("ppt/presentation.xml", "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml")
	var ids, rels strings.Builder
	for i, s := range slides {
		rid := fmt.Sprintf("rId%d", 100+len(slides)-i)
		fmt.Fprintf(&ids, `<p:sldId id="%d" r:id="%s"/>`, 256+i, rid)
		fmt.Fprintf(&rels, `<Relationship Id="%s" Type="%sslide" Target="slides/slide%d.xml"/>`, rid, relOf, i+1)
		parts[fmt.Sprintf("ppt/slides/slide%d.xml", i+1)] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:sld xmlns:a="` + nsA + `" xmlns:p="` + nsP + `" xmlns:r="` + nsR + `"><p:cSld><p:spTree>` +
			s + `</p:spTree></p:cSld></p:sld>`
	}
	parts["ppt/presentation.xml"] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><p:presentation xmlns:a="` + nsA + `" xmlns:p="` + nsP + `" xmlns:r="` + nsR + `"><p:sldIdLst>` +
		ids.String() + `</p:sldIdLst></p:presentation>`
	parts["ppt/_rels/presentation.xml.rels"] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="` + nsRel + `">` + rels.String() + `</Relationships>`
	return Zip(parts)
}

// TextBox returns a slide shape holding the lines, a paragraph each.
func TextBox(lines ...string) string {
	var b strings.Builder
	b.WriteString(`<p:sp><p:txBody><a:bodyPr/>`)
	for _, l := range lines {
		b.WriteString(`<a:p><a:r><a:t>` + Esc(l) + `</a:t></a:r></a:p>`)
	}
	b.WriteString(`</p:txBody></p:sp>`)
	return b.String()
}

// SlideTable returns a slide's graphic frame holding a table of the rows.
func SlideTable(rows ...[]string) string {
	var b strings.Builder
	b.WriteString(`<p:graphicFrame><a:graphic><a:graphicData><a:tbl>`)
	for _, r := range rows {
		b.WriteString(`<a:tr>`)
		for _, c := range r {
			b.WriteString(`<a:tc><a:txBody><a:p><a:r><a:t>` + Esc(c) + `</a:t></a:r></a:p></a:txBody></a:tc>`)
		}
		b.WriteString(`</a:tr>`)
	}
	b.WriteString(`</a:tbl></a:graphicData></a:graphic></p:graphicFrame>`)
	return b.String()
}

// Sheet is one worksheet: Data is the children of its sheetData (rows).
type Sheet struct {
	Name string
	Data string
}

// Xlsx returns an Excel file with the sheets in order and, when shared is
// not empty, a shared string table holding those si elements. Sheet i is
// stored as xl/worksheets/sheet<i+1>.xml under a relationship id that does
// not follow the order.
func Xlsx(shared string, sheets ...Sheet) []byte {
	parts := newPackage("xl/workbook.xml", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")
	var list, rels strings.Builder
	for i, s := range sheets {
		rid := fmt.Sprintf("rId%d", 100+len(sheets)-i)
		fmt.Fprintf(&list, `<sheet name="%s" sheetId="%d" r:id="%s"/>`, Esc(s.Name), i+1, rid)
		fmt.Fprintf(&rels, `<Relationship Id="%s" Type="%sworksheet" Target="worksheets/sheet%d.xml"/>`, rid, relOf, i+1)
		parts[fmt.Sprintf("xl/worksheets/sheet%d.xml", i+1)] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><worksheet xmlns="` + nsX + `" xmlns:r="` + nsR + `"><sheetData>` +
			s.Data + `</sheetData></worksheet>`
	}
	parts["xl/workbook.xml"] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><workbook xmlns="` + nsX + `" xmlns:r="` + nsR + `"><sheets>` +
		list.String() + `</sheets></workbook>`
	parts["xl/_rels/workbook.xml.rels"] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><Relationships xmlns="` + nsRel + `">` + rels.String() + `</Relationships>`
	if shared != "" {
		parts["xl/sharedStrings.xml"] = `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><sst xmlns="` + nsX + `">` + shared + `</sst>`
	}
	return Zip(parts)
}
