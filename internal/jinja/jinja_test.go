package jinja

import (
	"slices"
	"strings"
	"testing"
)

func TestFields(t *testing.T) {
	for _, tt := range []struct {
		src  string
		want []string
	}{
		{"Hello {{ name }}!", []string{"name"}},
		{"{{ persona.name }} asks about {{ topic | title }}", []string{"persona", "topic"}},
		// distilabel's TextGeneration style: a loop over a list field.
		{"{% for doc in documents %}- {{ doc.title | upper }}: {{ doc.text[:20] }}\n{% endfor %}{{ instruction }}", []string{"documents", "instruction"}},
		// Data Designer style: conditionals over sampled columns.
		{"{% if difficulty == 'hard' %}{{ hint }}{% else %}{{ topic | default('x') }}{% endif %}", []string{"difficulty", "hint", "topic"}},
		{"{% set n = items | length %}{{ n }} {% for k, v in pairs.items() %}{{ k }}={{ v }} {{ loop.index }}{% endfor %}{{ range(3) | list }}", []string{"items", "pairs"}},
		{"{% macro ask(q, style='plain') %}{{ q }} ({{ style }}, {{ tone }}){% endmacro %}{{ ask(question) }}", []string{"question", "tone"}},
		{"{% with q = question %}{{ q }}{% endwith %}", []string{"question"}},
		{"{% for x in xs if x > min_len %}{{ x }}{% else %}{{ fallback }}{% endfor %}", []string{"fallback", "min_len", "xs"}},
		{"no fields at all", nil},
	} {
		tp, err := Parse("prompt", tt.src)
		if err != nil {
			t.Errorf("Parse(%q) = %v", tt.src, err)
			continue
		}
		if got := tp.Fields(); !slices.Equal(got, tt.want) {
			t.Errorf("Parse(%q).Fields() = %v, want %v", tt.src, got, tt.want)
		}
	}
}

func TestRender(t *testing.T) {
	data := map[string]any{
		"topic":      "tides",
		"difficulty": "hard",
		"persona":    map[string]any{"name": "Aiko", "job": "teacher"},
		"examples":   []any{"one", "two", "three"},
		"n":          3,
	}
	for _, tt := range []struct{ src, want string }{
		{"Explain {{ topic }}.", "Explain tides."},
		{"{{ topic | upper }} for {{ persona.name }}, a {{ persona.job }}", "TIDES for Aiko, a teacher"},
		{"{% for e in examples %}{{ loop.index }}. {{ e | capitalize }}\n{% endfor %}", "1. One\n2. Two\n3. Three\n"},
		{"{% if difficulty == 'hard' %}Step by step.{% else %}Briefly.{% endif %}", "Step by step."},
		{"{{ examples | join(', ') }} ({{ examples | length }} of {{ n }})", "one, two, three (3 of 3)"},
		{"{{ missing | default('none') }}", "none"},
		{"Line one\n", "Line one\n"},
	} {
		tp, err := Parse("prompt", tt.src)
		if err != nil {
			t.Fatalf("Parse(%q) = %v", tt.src, err)
		}
		got, err := tp.Render(data)
		if err != nil || got != tt.want {
			t.Errorf("Render(%q) = %q, %v; want %q", tt.src, got, err, tt.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, src := range []string{"{{ x ", "{% for x in %}{% endfor %}", "{% if x %}no end", "{% endfor %}"} {
		if _, err := Parse("prompt", src); err == nil || !strings.Contains(err.Error(), "prompt: the template does not parse") {
			t.Errorf("Parse(%q) = %v, want a parse error naming the template", src, err)
		}
	}
	// A missing attribute fails instead of rendering as nothing.
	tp, err := Parse("prompt", "{{ persona.name }}")
	if err != nil {
		t.Fatal(err)
	}
	if got, err := tp.Render(map[string]any{"persona": map[string]any{}}); err == nil {
		t.Errorf("Render with a missing attribute = %q, nil; want an error", got)
	}
	// Files are not read.
	tp, err = Parse("prompt", `{% include "/etc/hostname" %}`)
	if err == nil {
		if got, err := tp.Render(nil); err == nil {
			t.Errorf("include rendered %q", got)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"{{ a }}", "{% for x in y %}{{ x.z }}{% endfor %}", "{% macro m(a, b=c) %}{{ a }}{% endmacro %}",
		"{% set x = y %}{{ x }}", "{{ a | default('b') }}", "{% if a %}{% elif b %}{% else %}{% endif %}", "{{", "{%"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		tp, err := Parse("fuzz", src)
		if err != nil {
			return
		}
		for _, name := range tp.Fields() {
			if name == "" {
				t.Errorf("Parse(%q): an empty field name", src)
			}
		}
		tp.Render(map[string]any{})
	})
}
