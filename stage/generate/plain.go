package generate

import (
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// plainTemplate is a Go template of text and {{.field}} actions only, the
// usual prompt, rendered by joining the parts: text/template's reflection
// was a few percent of a generate stage at thousands of records a second.
// A value of a kind it does not print itself sends the whole rendering to
// text/template, so the output is always text/template's
// (FuzzPlainTemplate checks it).
type plainTemplate struct {
	parts []plainPart
	full  goTemplate
}

// plainPart is literal text, or the field named when field is set.
type plainPart struct {
	text  string
	field bool
}

// plain returns t as a plainTemplate, or false when it uses anything more.
func plain(t *template.Template) (plainTemplate, bool) {
	if len(t.Templates()) != 1 || t.Tree == nil || t.Tree.Root == nil {
		return plainTemplate{}, false
	}
	p := plainTemplate{full: goTemplate{t}}
	for _, n := range t.Tree.Root.Nodes {
		switch n := n.(type) {
		case *parse.TextNode:
			p.parts = append(p.parts, plainPart{text: string(n.Text)})
		case *parse.ActionNode:
			pipe := n.Pipe
			if len(pipe.Decl) > 0 || pipe.IsAssign || len(pipe.Cmds) != 1 || len(pipe.Cmds[0].Args) != 1 {
				return plainTemplate{}, false
			}
			f, ok := pipe.Cmds[0].Args[0].(*parse.FieldNode)
			if !ok || len(f.Ident) != 1 {
				return plainTemplate{}, false
			}
			p.parts = append(p.parts, plainPart{text: f.Ident[0], field: true})
		default:
			return plainTemplate{}, false
		}
	}
	return p, true
}

func (p plainTemplate) render(data map[string]any) (string, error) {
	var b strings.Builder
	for _, part := range p.parts {
		if !part.field {
			b.WriteString(part.text)
			continue
		}
		v, ok := data[part.text]
		if !ok {
			return p.full.render(data) // its error names the key
		}
		switch x := v.(type) {
		case string:
			b.WriteString(x)
		case float64:
			b.WriteString(strconv.FormatFloat(x, 'g', -1, 64))
		case int64:
			b.WriteString(strconv.FormatInt(x, 10))
		case int:
			b.WriteString(strconv.Itoa(x))
		case bool:
			b.WriteString(strconv.FormatBool(x))
		case nil:
			b.WriteString("<no value>")
		default:
			return p.full.render(data)
		}
	}
	return b.String(), nil
}
