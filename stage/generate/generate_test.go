package generate

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
	_ "github.com/synthloop/synthloop/stage/judge" // a stage that declares no fields
	_ "github.com/synthloop/synthloop/stage/load"
)

func seed(t *testing.T, st *pipelinetest.MemStore, recs ...*record.Record) {
	t.Helper()
	for i, r := range recs {
		r.ID, r.Stage, r.Seq, r.Status = "in-"+string(rune('a'+i)), "tasks", int64(i+1), record.Kept
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "tasks", Key: "seed", Records: recs}); err != nil {
		t.Fatal(err)
	}
}

func run(t *testing.T, st *pipelinetest.MemStore, cfg *Config, opts ...modeltest.Option) error {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s.Run(context.Background(), stagetest.Env(t, stagetest.Server(t, opts...), st, "gen", "tasks"))
}

func config(prompt string) *Config {
	c := DefaultConfig()
	c.Model, c.Prompt = "teacher", prompt
	return c
}

// TestGenerate: n replies per record, each in the named field with the
// record's lineage; a record without a value the template uses fails alone.
func TestGenerate(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st,
		&record.Record{Instruction: "Explain the tides.", Meta: map[string]any{"topic": "sea"}},
		&record.Record{Instruction: "Name a colour."},
	)
	cfg := config("About {{.topic}}: {{.instruction}}")
	cfg.System, cfg.N, cfg.Output = "Answer as an expert on {{$.topic}}.", 2, "answer"
	if err := run(t, st, cfg); err != nil {
		t.Fatal(err)
	}
	recs := st.All("gen")
	if len(recs) != 3 {
		t.Fatalf("%d records, want 2 replies and 1 failure: %+v", len(recs), recs)
	}
	for i, r := range recs[:2] {
		want := []string{"gen:in-a:00", "gen:in-a:01"}[i]
		if r.ID != want || r.Status != record.Kept || r.Meta["answer"] == "" || fmt.Sprint(r.Meta["sample"]) != fmt.Sprint(i) {
			t.Errorf("record %d: %s %s meta %v error %q", i, r.ID, r.Status, r.Meta, r.Error)
		}
		if !strings.Contains(r.Meta["answer"].(string), "About sea: Explain the tides.") {
			t.Errorf("reply %q does not answer the rendered prompt", r.Meta["answer"])
		}
		if r.Instruction != "Explain the tides." || r.Meta["topic"] != "sea" || r.Output != "" {
			t.Errorf("the input's fields were not kept: %+v", r)
		}
		p := r.Prov
		if p.Generator != "generate" || p.Stage != "gen" || len(p.ParentIDs) != 1 || p.ParentIDs[0] != "in-a" ||
			len(p.RequestKeys) == 0 || len(p.TemplateHash) != 64 || fmt.Sprint(p.Params["n"]) != "2" {
			t.Errorf("provenance %+v", p)
		}
	}
	bad := recs[2]
	if bad.Status != record.Failed || bad.ID != "gen:in-b" || !strings.Contains(bad.Error, `no value for field "topic"`) {
		t.Errorf("record without topic: %s %s %q", bad.ID, bad.Status, bad.Error)
	}
}

// TestOutputField: output names a record field; an empty field the
// template uses is a missing value.
func TestOutputField(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "Say hi.", Input: "x"}, &record.Record{Instruction: "Say bye."})
	if err := run(t, st, config("{{.instruction}}\n{{.input}}")); err != nil {
		t.Fatal(err)
	}
	recs := st.All("gen")
	if len(recs) != 2 || recs[0].Status != record.Kept || !strings.Contains(recs[0].Output, "Say hi.") {
		t.Fatalf("%+v", recs)
	}
	if recs[1].Status != record.Failed || !strings.Contains(recs[1].Error, `no value for field "input"`) || recs[1].Output != "" {
		t.Errorf("empty input: %s %q", recs[1].Status, recs[1].Error)
	}
}

// TestUnknownField: a field the first input record does not have stops the
// stage with the field's name and the closest known one; nothing is made.
func TestUnknownField(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "Explain the tides.", Meta: map[string]any{"topic": "sea"}})
	for _, tc := range []struct{ prompt, field, suggest string }{
		{"{{.instrution}}", "instrution", "instruction"},
		{"{{if .topic}}{{.topci}}{{end}}", "topci", "topic"},
	} {
		err := run(t, st, config(tc.prompt))
		if err == nil || !strings.Contains(err.Error(), `field "`+tc.field+`"`) || !strings.Contains(err.Error(), `did you mean "`+tc.suggest+`"`) {
			t.Errorf("%s: error %v", tc.prompt, err)
		}
	}
	if n := len(st.All("gen")); n != 0 {
		t.Errorf("%d records made", n)
	}
}

// TestModelFailures: a transient failure leaves the unit undone (the stage
// stops, no record); a permanent one is recorded on the record.
func TestModelFailures(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "Explain the tides."})
	always := func(f modeltest.Fault) modeltest.Option {
		return modeltest.WithFaults(func(*modeltest.Request) modeltest.Fault { return f })
	}
	if err := run(t, st, config("{{.instruction}}"), always(modeltest.HTTPStatus(503))); err == nil {
		t.Error("a backend answering 503 did not stop the stage")
	}
	if n := len(st.All("gen")); n != 0 {
		t.Fatalf("a transient failure was recorded: %d records", n)
	}
	if err := run(t, st, config("{{.instruction}}"), always(modeltest.HTTPStatus(400))); err != nil {
		t.Fatal(err)
	}
	recs := st.All("gen")
	if len(recs) != 1 || recs[0].Status != record.Failed || !strings.HasPrefix(recs[0].Error, "generate: ") {
		t.Fatalf("permanent failure: %+v", recs)
	}
}

// TestConfigErrors: template and setting errors are reported when the
// config loads, at the stage's file:line.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ with, want string }{
		{`prompt: "{{.instruction"`, "p.yaml:6:"},
		{`prompt: "{{.instruction}}"` + "\n      system: \"{{if .x}}\"", "system: the template does not parse"},
		{`prompt: "{{.instruction | nosuch}}"`, `function "nosuch" not defined`},
		{`prompt: ""`, "prompt: required"},
		{"prompt: hi\n      n: 0", "n must be positive"},
	} {
		yml := "name: p\nmodels:\n  teacher:\n    ref: openai/teacher\nstages:\n  - name: gen\n    type: generate\n    with:\n      model: teacher\n      " + tc.with + "\n"
		_, err := pipeline.ParseConfig("p.yaml", []byte(yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "p.yaml:") {
			t.Errorf("%s: error %v, want %q", tc.with, err, tc.want)
		}
	}
}

// TestResume: units are keyed by input record, so a rerun after a
// transient failure redoes only the unit left undone, and a rerun of a
// finished stage adds nothing.
func TestResume(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "Explain the tides."}, &record.Record{Instruction: "Name a colour."})
	tides := modeltest.WithFaults(func(req *modeltest.Request) modeltest.Fault {
		if strings.Contains(req.LastUser(), "tides") {
			return modeltest.HTTPStatus(503)
		}
		return modeltest.Fault{}
	})
	cfg := config("{{.instruction}}")
	cfg.N = 2
	if err := run(t, st, cfg, tides); err == nil {
		t.Fatal("the transient failure did not stop the stage")
	}
	for _, r := range st.All("gen") {
		if r.Prov.ParentIDs[0] == "in-a" || r.Status != record.Kept {
			t.Fatalf("the failed unit left a record: %+v", r)
		}
	}
	for range 2 {
		if err := run(t, st, cfg); err != nil {
			t.Fatal(err)
		}
		recs := st.All("gen")
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		if got := strings.Join(ids, " "); got != "gen:in-a:00 gen:in-a:01 gen:in-b:00 gen:in-b:01" {
			t.Fatalf("after the rerun: %s", got)
		}
	}
}

// TestConfigFieldCheck: after a stage that declares its fields (load, or
// generate after one), a template's unknown field is reported when the
// config loads, at the stage's file:line, with a did-you-mean; after one
// that does not, it is left to the run.
func TestConfigFieldCheck(t *testing.T) {
	dir := t.TempDir()
	data := dir + "/q.jsonl"
	if err := os.WriteFile(data, []byte(`{"question":"q?","answer":"a."}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	head := "name: p\nmodels:\n  teacher:\n    ref: openai/teacher\nstages:\n"
	load := "  - name: faq\n    type: load\n    with:\n      path: " + data + "\n"
	gen := func(name, prompt, output string) string {
		return "  - name: " + name + "\n    type: generate\n    with:\n      model: teacher\n      prompt: \"" + prompt + "\"\n      output: " + output + "\n"
	}
	for _, tc := range []struct{ yml, want string }{
		{head + load + gen("a", "{{.instrution}} {{.source}}", "reply"), `p.yaml:10:9: stages[1].with: the template uses field "instrution", which the records of stage "faq" do not have (did you mean "instruction"?)`},
		{head + load + gen("a", "{{.instruction}}", "reply") + gen("b", "{{.rpely}} {{.sample}}", "x"), `field "rpely", which the records of stage "a" do not have (did you mean "reply"?)`},
		{head + load + gen("a", "{{.instruction}}", "reply") + gen("b", "{{.reply}} {{.line}}", "x"), ""},
		{head + load + "  - name: s\n    type: judge\n    with:\n      judge_model: teacher\n" + gen("a", "{{.anything}}", "x"), ""},
	} {
		_, err := pipeline.ParseConfig("p.yaml", []byte(tc.yml))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%s\nerror %v, want %q", tc.yml, err, tc.want)
		}
	}
}

// replies is a backend without the model layer: it computes no cache keys.
type replies struct{}

func (replies) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	out := &model.Response{}
	for range max(req.N, 1) {
		out.Choices = append(out.Choices, model.Choice{Text: "an answer", FinishReason: model.FinishStop})
	}
	return out, nil
}

// TestRequestKeys: a record's request keys are its request's keys in the
// response cache, whether the model layer hands them over (and holds
// answers under them) or the stage computes them itself.
func TestRequestKeys(t *testing.T) {
	cfg := config("Explain {{.instruction}}")
	cfg.N = 2
	layered := pipelinetest.NewMemStore()
	seed(t, layered, &record.Record{Instruction: "the tides"})
	if err := run(t, layered, cfg); err != nil {
		t.Fatal(err)
	}
	bare := pipelinetest.NewMemStore()
	seed(t, bare, &record.Record{Instruction: "the tides"})
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := stagetest.Env(t, stagetest.Server(t), bare, "gen", "tasks")
	env.Backend = func(string) (model.Backend, pipeline.ModelInfo, error) {
		return replies{}, pipeline.ModelInfo{Backend: "openai-compatible", Model: "teacher"}, nil
	}
	if err := s.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	msgs, err := s.Render(&record.Record{Instruction: "the tides"})
	if err != nil {
		t.Fatal(err)
	}
	want := model.CacheKeys("openai-compatible", "teacher", model.Request{Messages: msgs, N: 2, MaxTokens: cfg.MaxTokens})
	for name, st := range map[string]*pipelinetest.MemStore{"through the layer": layered, "bare": bare} {
		recs := st.All("gen")
		if len(recs) != 2 {
			t.Fatalf("%s: %d records, want 2", name, len(recs))
		}
		for _, r := range recs {
			if fmt.Sprint(r.Prov.RequestKeys) != fmt.Sprint(want) {
				t.Errorf("%s: %s: request keys %v, want %v", name, r.ID, r.Prov.RequestKeys, want)
			}
		}
	}
	for _, k := range want {
		if _, ok, err := layered.Get(context.Background(), k); !ok || err != nil {
			t.Errorf("no cached answer under request key %s: %v", k, err)
		}
	}
}
