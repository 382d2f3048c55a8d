package prompt

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"
	"testing/fstest"
	"text/template"
)

func TestTemplate(t *testing.T) {
	fsys := fstest.MapFS{
		"templates/ask.en.tmpl": {Data: []byte("Ask {{.Q}} {{add 1 2}}\n\n")},
		"templates/bad.en.tmpl": {Data: []byte("{{.Q")},
		"templates/plain.tmpl":  {Data: []byte("Hi {{.Name}}\n")},
	}
	funcs := template.FuncMap{"add": func(a, b int) int { return a + b }}
	tests := []struct {
		name, kind, lang, data, want, err string
	}{
		{name: "renders and trims", kind: "ask", lang: "en", data: "x", want: "Ask x 3"},
		{name: "no language", kind: "ask", lang: "fr", err: `no ask prompt for language "fr"`},
		{name: "parse error", kind: "bad", lang: "en", err: "parse templates/bad.en.tmpl"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ForLanguage(fsys, tc.kind, tc.lang, funcs)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got, err := p.Render(struct{ Q string }{tc.data})
			if err != nil || got != tc.want {
				t.Errorf("Render = %q, %v; want %q", got, err, tc.want)
			}
			sum := sha256.Sum256(fsys["templates/"+tc.kind+"."+tc.lang+".tmpl"].Data)
			if p.Hash != hex.EncodeToString(sum[:]) {
				t.Errorf("Hash %s is not the file's sha256", p.Hash)
			}
		})
	}
	p := Must(fsys, "plain")
	if _, err := p.Render(struct{}{}); err == nil || !strings.Contains(err.Error(), "render templates/plain.tmpl") {
		t.Errorf("a missing key rendered: %v", err)
	}
	if got := p.MustRender(map[string]string{"Name": "you"}); got != "Hi you" {
		t.Errorf("MustRender = %q", got)
	}
}

func TestRenderOr(t *testing.T) {
	fsys := fstest.MapFS{
		"templates/user.tmpl":     {Data: []byte("{{index .Items 3}}")},
		"templates/embedded.tmpl": {Data: []byte("Again: {{len .Items}}")},
	}
	user, embedded := Must(fsys, "user"), Must(fsys, "embedded")
	tests := []struct {
		items []string
		want  string
	}{
		{[]string{"a", "b", "c", "d"}, "d"},
		{[]string{"a"}, "Again: 1"}, // the user's template fails on this data
	}
	for _, tc := range tests {
		if got := user.RenderOr(embedded, struct{ Items []string }{tc.items}); got != tc.want {
			t.Errorf("RenderOr(%v) = %q, want %q", tc.items, got, tc.want)
		}
	}
}
