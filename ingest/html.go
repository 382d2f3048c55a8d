package ingest

import (
	"fmt"
	"io"
	"strings"
	"unicode/utf8"

	"golang.org/x/net/html"
	"golang.org/x/net/html/atom"
	"golang.org/x/net/html/charset"
)

// HTMLText returns the text of an HTML document that a reader sees in a
// browser: one paragraph per block element, list items on their own lines
// ("- " first), table cells joined with " | ", whitespace collapsed except in
// <pre>. The title comes first. Scripts, styles, forms' hidden parts,
// <template>, <noscript>, SVG and MathML are skipped, and so is every element
// that is hidden (the hidden attribute, aria-hidden="true", or an inline
// style with display:none or visibility:hidden): text no reader sees is a
// classic place to plant instructions for a model.
//
// The encoding is taken from a byte order mark or a <meta> charset; without
// either, a document that is valid UTF-8 is read as UTF-8 (the HTML
// standard's fallback, windows-1252, would garble it).
func HTMLText(r io.Reader) (string, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return "", fmt.Errorf("read html: %w", err)
	}
	var src io.Reader = strings.NewReader(string(data))
	if enc, name, _ := charset.DetermineEncoding(data, ""); !(name == "windows-1252" && utf8.Valid(data)) && name != "utf-8" {
		src = enc.NewDecoder().Reader(src)
	}
	doc, err := html.Parse(src)
	if err != nil {
		return "", fmt.Errorf("parse html: %w", err)
	}
	w := &textWriter{}
	if t := findTitle(doc); t != "" {
		w.text(t)
		w.brk(2)
	}
	w.walk(doc)
	// A byte sequence that is not UTF-8 in a document read as UTF-8 passes
	// through the parser as it is.
	return strings.ToValidUTF8(w.String(), "\uFFFD"), nil
}

// skipped are elements whose content is never shown as text.
var skipped = map[atom.Atom]bool{
	atom.Head: true, atom.Script: true, atom.Style: true, atom.Noscript: true, atom.Template: true,
	atom.Svg: true, atom.Math: true, atom.Iframe: true, atom.Object: true, atom.Embed: true,
	atom.Canvas: true, atom.Select: true, atom.Datalist: true, atom.Audio: true, atom.Video: true,
}

// paragraphs are block elements set off by a blank line; lines are block
// elements on a line of their own.
var (
	paragraphs = map[atom.Atom]bool{
		atom.P: true, atom.H1: true, atom.H2: true, atom.H3: true, atom.H4: true, atom.H5: true, atom.H6: true,
		atom.Blockquote: true, atom.Pre: true, atom.Table: true, atom.Ul: true, atom.Ol: true, atom.Dl: true,
		atom.Section: true, atom.Article: true, atom.Aside: true, atom.Header: true, atom.Footer: true,
		atom.Nav: true, atom.Main: true, atom.Figure: true, atom.Form: true, atom.Fieldset: true,
		atom.Address: true, atom.Details: true, atom.Hr: true,
	}
	lines = map[atom.Atom]bool{
		atom.Div: true, atom.Li: true, atom.Tr: true, atom.Dt: true, atom.Dd: true, atom.Figcaption: true,
		atom.Summary: true, atom.Caption: true, atom.Legend: true, atom.Label: true, atom.Option: true,
	}
)

func findTitle(n *html.Node) string {
	if n.Type == html.ElementNode && n.DataAtom == atom.Title {
		var b strings.Builder
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			if c.Type == html.TextNode {
				b.WriteString(c.Data)
			}
		}
		return strings.Join(strings.Fields(b.String()), " ")
	}
	if n.Type == html.ElementNode && n.DataAtom == atom.Body {
		return ""
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		if t := findTitle(c); t != "" {
			return t
		}
	}
	return ""
}

func hidden(n *html.Node) bool {
	for _, a := range n.Attr {
		switch strings.ToLower(a.Key) {
		case "hidden":
			return true
		case "aria-hidden":
			if strings.EqualFold(strings.TrimSpace(a.Val), "true") {
				return true
			}
		case "type":
			if n.DataAtom == atom.Input && strings.EqualFold(a.Val, "hidden") {
				return true
			}
		case "style":
			s := strings.ToLower(strings.Join(strings.Fields(a.Val), ""))
			if strings.Contains(s, "display:none") || strings.Contains(s, "visibility:hidden") {
				return true
			}
		}
	}
	return false
}

// textWriter collects text with pending breaks, so block boundaries never
// leave trailing spaces or more than one blank line.
type textWriter struct {
	b     strings.Builder
	pend  int  // pending break: 0 none, 1 newline, 2 blank line
	space bool // a space is pending
	pre   int  // depth inside <pre>
	line  bool // text was written since the last break
	// marker is written before the next text: a list item's "- " or a
	// cell separator. It is dropped if no text follows, so an empty item
	// leaves nothing behind.
	marker string
}

func (w *textWriter) String() string { return w.b.String() }

func (w *textWriter) brk(level int) {
	w.pend = max(w.pend, level)
	w.space = false
	w.line = false
}

func (w *textWriter) text(s string) {
	if w.pre == 0 {
		lead := len(s) > 0 && isSpace(s[0])
		trail := len(s) > 0 && isSpace(s[len(s)-1])
		s = strings.Join(strings.Fields(s), " ")
		if s == "" {
			w.space = w.space || lead || trail
			return
		}
		w.space = w.space || lead
		defer func() { w.space = trail }()
	}
	w.raw(s)
}

// raw writes s as it is, after the pending break or space.
func (w *textWriter) raw(s string) {
	if s == "" {
		return
	}
	if w.b.Len() > 0 {
		switch {
		case w.pend == 2:
			w.b.WriteString("\n\n")
		case w.pend == 1:
			w.b.WriteString("\n")
		case w.space && w.marker == "":
			w.b.WriteString(" ")
		}
	}
	w.b.WriteString(w.marker)
	w.pend, w.space, w.marker, w.line = 0, false, "", true
	w.b.WriteString(s)
}

func isSpace(c byte) bool { return c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == '\f' }

func (w *textWriter) walk(n *html.Node) {
	switch n.Type {
	case html.TextNode:
		w.text(n.Data)
		return
	case html.ElementNode:
		if skipped[n.DataAtom] || hidden(n) {
			return
		}
	case html.CommentNode, html.DoctypeNode:
		return
	}
	a := n.DataAtom
	if n.Type == html.ElementNode {
		switch {
		case a == atom.Br:
			w.brk(1)
			return
		case a == atom.Img:
			return
		case a == atom.Td || a == atom.Th:
			if w.line {
				w.marker = " | "
			}
		case paragraphs[a]:
			w.brk(2)
		case lines[a]:
			w.brk(1)
		}
		if a == atom.Li {
			w.marker = "- "
		}
		if a == atom.Pre {
			w.pre++
		}
	}
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		w.walk(c)
	}
	if n.Type == html.ElementNode {
		switch {
		case a == atom.Pre:
			w.pre--
			w.brk(2)
		case a == atom.Td || a == atom.Th:
			w.marker = ""
		case a == atom.Li:
			w.marker = ""
			w.brk(1)
		case paragraphs[a]:
			w.brk(2)
		case lines[a]:
			w.brk(1)
		}
	}
}
