package derive

import (
	"context"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
	_ "github.com/synthloop/synthloop/stage/sample"
)

func TestCompileFields(t *testing.T) {
	for _, tc := range []struct{ src, fields, err string }{
		{`len(split(output, " ")) >= 3`, "output", ""},
		{`difficulty >= 4 ? "hard" : "easy"`, "difficulty", ""},
		{`let n = len(output); n > 3 && topic != ""`, "output,topic", ""},
		{`all(tags, {len(#) < 10}) and upper(persona) contains "NURSE"`, "persona,tags", ""},
		{`output matches "^[A-Z]"`, "output", ""},
		{`len(output) >`, "", "unexpected token"},
		{`   `, "", "empty"},
	} {
		p, err := Compile(tc.src)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Compile(%q) = %v, want an error with %q", tc.src, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Compile(%q): %v", tc.src, err)
			continue
		}
		if got := strings.Join(p.Fields, ","); got != tc.fields {
			t.Errorf("Compile(%q) reads %q, want %q", tc.src, got, tc.fields)
		}
	}
}

// TestDerive: derived fields on every record; the condition sees them and
// rejects with itself as the reason; a missing field or a failing
// expression fails the record, naming the field.
func TestDerive(t *testing.T) {
	st := pipelinetest.NewMemStore()
	in := []*record.Record{
		{Output: "one two three four", Meta: map[string]any{"difficulty": 5.0}},
		{Output: "short", Meta: map[string]any{"difficulty": 1.0}},
		{Output: "no difficulty here at all", Meta: map[string]any{"dificulty": 2.0}},
		{Output: "a b c d", Meta: map[string]any{"difficulty": "high"}},
	}
	for i, r := range in {
		r.ID, r.Stage, r.Seq, r.Status = "in-"+string(rune('a'+i)), "tasks", int64(i+1), record.Kept
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "tasks", Key: "seed", Records: in}); err != nil {
		t.Fatal(err)
	}
	s, err := New(&Config{
		Fields: map[string]string{"words": `len(split(output, " "))`, "level": `difficulty >= 4 ? "hard" : "easy"`},
		Keep:   `words >= 3`,
	})
	if err != nil {
		t.Fatal(err)
	}
	env := &pipeline.Env{Name: "checked", Input: "tasks", Store: st, Concurrency: 2, Clock: stagetest.Clock}
	if err := s.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	recs := st.All("checked")
	if len(recs) != 4 {
		t.Fatalf("%d records", len(recs))
	}
	want := []struct {
		status record.Status
		words  any
		level  any
		err    string
	}{
		{record.Kept, 4.0, "hard", ""},
		{record.Rejected, 1.0, "easy", ""},
		{record.Failed, nil, nil, `fields.level: the record has no value for field "difficulty" (did you mean "dificulty"?)`},
		{record.Failed, nil, nil, "fields.level: invalid operation"},
	}
	for i, w := range want {
		r := recs[i]
		if r.Status != w.status || r.Meta["words"] != w.words || r.Meta["level"] != w.level || !strings.Contains(r.Error, w.err) || w.err == "" && r.Error != "" {
			t.Errorf("record %d: %s words %v level %v error %q", i, r.Status, r.Meta["words"], r.Meta["level"], r.Error)
		}
	}
	if d := recs[1].Decisions; len(d) != 1 || d[0].Filter != "keep" || d[0].Passed || d[0].Reason != "false: words >= 3" {
		t.Errorf("decisions %+v", d)
	}
	if p := recs[0].Prov; p.Generator != "derive" || p.ParentIDs[0] != "in-a" {
		t.Errorf("provenance %+v", p)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "set at least one"},
		{Config{Fields: map[string]string{"my-field": "1"}}, "not a field name"},
		{Config{Fields: map[string]string{"id": "1"}}, "id"},
		{Config{Fields: map[string]string{"x": "len("}}, "fields.x"},
		{Config{Keep: "a >"}, "keep"},
	} {
		if err := tc.cfg.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want %q", tc.cfg, err, tc.want)
		}
	}
}

// TestConfigLoad: after a stage that declares its fields, an expression
// reading an unknown one is reported when the config loads, with a
// did-you-mean; the condition may read the derived fields, and the next
// stage may use them.
func TestConfigLoad(t *testing.T) {
	head := "name: p\nstages:\n  - name: attrs\n    type: sample\n    with:\n      count: 3\n      columns: [{name: topic, kind: category, values: [a, b]}]\n"
	derive := func(field, keep string) string {
		return "  - name: d\n    type: derive\n    with:\n      fields: {n: '" + field + "'}\n      keep: '" + keep + "'\n"
	}
	if _, err := pipeline.ParseConfig("p.yaml", []byte(head+derive("len(topic)", "n > 0")+derive2("n"))); err != nil {
		t.Errorf("%v", err)
	}
	_, err := pipeline.ParseConfig("p.yaml", []byte(head+derive("len(topik)", "n > 0")))
	if err == nil || !strings.Contains(err.Error(), `field "topik"`) || !strings.Contains(err.Error(), `did you mean "topic"`) {
		t.Errorf("error %v", err)
	}
}

func derive2(field string) string {
	return "  - name: e\n    type: derive\n    with:\n      keep: '" + field + " > 1'\n"
}

// FuzzCompile: no expression crashes the compiler or the field finder.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{`len(output) > 3`, `let x = 1; x + y`, `all(tags, {# > 1})`, `a ?? b`, `"x" matches "["`, `f(g)(h)`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		p, err := Compile(src)
		if err != nil {
			return
		}
		env := map[string]any{}
		for _, name := range p.Fields {
			env[name] = 1
		}
		p.Run(env, "x") // may fail; must not panic
	})
}
