package generate

import (
	"testing"
	"text/template"
)

// FuzzPlainTemplate: a template the plain renderer takes renders as
// text/template renders it, value kinds and missing fields included.
func FuzzPlainTemplate(f *testing.F) {
	f.Add("Task {{.id}}: explain {{.topic}} at level {{.level}} of 5.", "t1", 3.0, int64(4), true)
	f.Add("{{.a}}{{ .b }}{{.c}}{{.d}}{{.e}}{{.nil}}{{.list}}{{.missing}}", "<&>", 1e21, int64(-1), false)
	f.Add("{{.a}}", "", 1234567.0, int64(0), false)
	f.Add("{{.a}}{{.b}}", "x", 1e-7, int64(1), true)
	f.Fuzz(func(t *testing.T, text, s string, x float64, n int64, yes bool) {
		tt, err := template.New("prompt").Option("missingkey=error").Parse(text)
		if err != nil {
			return
		}
		p, ok := plain(tt)
		if !ok {
			return
		}
		data := map[string]any{"id": s, "topic": s, "a": s, "b": x, "c": n, "d": int(n), "e": yes, "level": x,
			"nil": nil, "list": []any{s, x}}
		if yes {
			delete(data, "topic")
		}
		got, gerr := p.render(data)
		want, werr := goTemplate{tt}.render(data)
		if (gerr == nil) != (werr == nil) || (werr == nil && got != want) {
			t.Fatalf("%q: plain %q, %v; text/template %q, %v", text, got, gerr, want, werr)
		}
	})
}

// TestPlainTakes: the plain renderer takes text and single fields only.
func TestPlainTakes(t *testing.T) {
	for text, want := range map[string]bool{
		"Task {{.id}}: {{ .topic }}":   true,
		"no actions":                   true,
		"{{.a.b}}":                     false,
		"{{.a | printf \"%q\"}}":       false,
		"{{if .a}}x{{end}}":            false,
		"{{$.a}}":                      false,
		`{{define "x"}}y{{end}}{{.a}}`: false,
	} {
		tt := template.Must(template.New("p").Parse(text))
		if _, ok := plain(tt); ok != want {
			t.Errorf("plain(%q) = %v, want %v", text, ok, want)
		}
	}
}
