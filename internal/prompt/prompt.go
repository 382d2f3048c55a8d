// Package prompt loads a stage's prompt templates, embedded or the user's own files, each with the hash recorded on every record it shapes, and reads the JSON replies they ask for.
package prompt

import (
	"bytes"
	"fmt"
	"io/fs"
	"strings"
	"text/template"
)

// Template is one prompt file. Prompts are files so they are reviewed as
// prompts, and Hash, the file's sha256, changes exactly when the prompt does.
type Template struct {
	Name string
	Hash string // hex sha256 of the file
	tmpl *template.Template
}

// Load parses the template name of fsys.
func Load(fsys fs.FS, name string, funcs template.FuncMap) (*Template, error) {
	b, err := fs.ReadFile(fsys, name)
	if err != nil {
		return nil, err
	}
	t, err := parse(name, b, funcs)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", name, err)
	}
	return t, nil
}

// ForLanguage loads templates/<kind>.<lang>.tmpl, the layout of the stages
// that have a prompt per language.
func ForLanguage(fsys fs.FS, kind, lang string, funcs template.FuncMap) (*Template, error) {
	name := fmt.Sprintf("templates/%s.%s.tmpl", kind, lang)
	if _, err := fs.Stat(fsys, name); err != nil {
		return nil, fmt.Errorf("no %s prompt for language %q", kind, lang)
	}
	return Load(fsys, name, funcs)
}

// Must loads templates/<name>.tmpl or panics: for embedded templates, whose
// failure is a build defect.
func Must(fsys fs.FS, name string) *Template {
	t, err := Load(fsys, "templates/"+name+".tmpl", nil)
	if err != nil {
		panic(err)
	}
	return t
}

// Render executes the template. Trailing newlines from the file are
// trimmed: a completion-style prompt must end where the model continues.
func (t *Template) Render(data any) (string, error) {
	var buf bytes.Buffer
	if err := t.tmpl.Execute(&buf, data); err != nil {
		return "", fmt.Errorf("render %s: %w", t.Name, err)
	}
	return strings.TrimRight(buf.String(), "\n"), nil
}

// RenderOr renders t, or fallback (the embedded template of the same kind)
// when t fails on data: for text that must be sent, such as a follow-up. A
// user's template rendered its samples when the config loaded, so only a
// construct that depends on the data can fail here.
func (t *Template) RenderOr(fallback *Template, data any) string {
	if s, err := t.Render(data); err == nil {
		return s
	}
	return fallback.MustRender(data)
}

// MustRender is Render for templates whose data is fixed in code: a
// failure is a defect the golden tests, which render every template, catch.
func (t *Template) MustRender(data any) string {
	s, err := t.Render(data)
	if err != nil {
		panic(err)
	}
	return s
}
