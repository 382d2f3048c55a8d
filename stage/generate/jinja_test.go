package generate

import (
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	_ "github.com/synthloop/synthloop/stage/sample"
)

// TestJinja: templates as distilabel and Data Designer users write them —
// a loop over a list field with loop.index, filters, a conditional on a
// sampled column, a system template — render over each record; a record
// lacking a field the template uses fails alone.
func TestJinja(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st,
		&record.Record{Instruction: "Explain the tides.", Meta: map[string]any{
			"difficulty": "hard", "persona": map[string]any{"name": "Aiko"}, "examples": []any{"moon", "sun"}}},
		&record.Record{Instruction: "Name a colour.", Meta: map[string]any{
			"difficulty": "easy", "persona": map[string]any{"name": "Ben"}, "examples": []any{}}},
		&record.Record{Instruction: "No persona.", Meta: map[string]any{"difficulty": "easy", "examples": []any{}}},
	)
	cfg := config(`{{ instruction | trim }}
{% for e in examples %}{{ loop.index }}. {{ e | upper }}
{% endfor %}{% if difficulty == "hard" %}Think step by step.{% else %}Answer briefly.{% endif %}`)
	cfg.System = "You are helping {{ persona.name }}."
	if err := run(t, st, cfg); err != nil {
		t.Fatal(err)
	}
	recs := st.All("gen")
	if len(recs) != 3 {
		t.Fatalf("%d records: %+v", len(recs), recs)
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{
		"Explain the tides.\n1. MOON\n2. SUN\nThink step by step.",
		"Name a colour.\nAnswer briefly.",
	} {
		if r := recs[i]; r.Status != record.Kept || !strings.Contains(r.Output, strings.Split(want, "\n")[0]) {
			t.Errorf("record %d: %s %q", i, r.Status, r.Output)
		}
		in := st.All("tasks")[i]
		msgs, err := s.Render(in)
		if err != nil || len(msgs) != 2 || msgs[1].Content != want || msgs[0].Content != "You are helping "+[]string{"Aiko", "Ben"}[i]+"." {
			t.Errorf("record %d rendered %+v, %v; want system and %q", i, msgs, err, want)
		}
	}
	if r := recs[2]; r.Status != record.Failed || !strings.Contains(r.Error, `no value for field "persona"`) {
		t.Errorf("record without persona: %s %q", r.Status, r.Error)
	}
}

// TestJinjaMissingAttribute: a missing attribute of a present field fails
// the record, as missingkey=error does for Go templates.
func TestJinjaMissingAttribute(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "x", Meta: map[string]any{"persona": map[string]any{"nam": "Aiko"}}})
	if err := run(t, st, config("Hello {{ persona.name }}")); err != nil {
		t.Fatal(err)
	}
	if r := st.All("gen")[0]; r.Status != record.Failed || !strings.HasPrefix(r.Error, "generate: prompt: ") || !strings.Contains(r.Error, "'name' not found") || strings.Contains(r.Error, "prompt: prompt:") {
		t.Errorf("missing attribute: %s %q", r.Status, r.Error)
	}
}

// TestTemplateLanguage: the auto rule and the explicit setting.
func TestTemplateLanguage(t *testing.T) {
	for _, tc := range []struct {
		lang, prompt string
		jinja        bool
	}{
		{"auto", "{{.topic}}", false},
		{"auto", "{{ .topic }} and {{ $.level }}", false},
		{"auto", "{{ printf \"%s\" .topic }}", false},
		{"auto", "{{ topic }}", true},
		{"auto", "{{ persona.name }}", true},
		{"auto", "{% if x %}{{ x }}{% endif %}", true},
		{"auto", "plain text", true},
		{"go", "plain text", false},
		{"jinja", "{{ topic }}", true},
	} {
		c := config(tc.prompt)
		c.Template = tc.lang
		s, err := New(c)
		if err != nil {
			t.Errorf("%s %q: %v", tc.lang, tc.prompt, err)
			continue
		}
		if _, isJinja := s.prompt.(jinjaTemplate); isJinja != tc.jinja {
			t.Errorf("%s %q: read as Jinja %v, want %v", tc.lang, tc.prompt, isJinja, tc.jinja)
		}
	}
}

// TestJinjaConfigErrors: Jinja template errors are reported when the config
// loads, at file:line, and a misspelt field gets the closest declared one.
func TestJinjaConfigErrors(t *testing.T) {
	for _, tc := range []struct{ with, want string }{
		{`prompt: "{{ instruction "`, "prompt: the template does not parse"},
		{`prompt: "{% for x in %}{% endfor %}"`, "prompt: the template does not parse"},
		{`prompt: "{% if topic %}no end"`, "prompt: the template does not parse"},
		{"prompt: \"{{ topic }}\"\n      template: jinga", `did you mean "jinja"`},
		{"prompt: \"{{ topic }}\"\n      template: go", `function "topic" not defined`},
		{`prompt: "{{ topc | upper }}"`, `field "topc", which the records of stage "tasks" do not have (did you mean "topic"?)`},
		{`prompt: "{% for t in topics %}{{ t }}{% endfor %}"`, `field "topics"`},
	} {
		yml := "name: p\nmodels:\n  teacher:\n    ref: openai/teacher\nstages:\n" +
			"  - name: tasks\n    type: sample\n    with:\n      count: 2\n      columns: [{name: topic, kind: category, values: [a, b]}]\n" +
			"  - name: gen\n    type: generate\n    with:\n      model: teacher\n      " + tc.with + "\n"
		_, err := pipeline.ParseConfig("p.yaml", []byte(yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("%s: error %v, want %q", tc.with, err, tc.want)
		}
	}
}
