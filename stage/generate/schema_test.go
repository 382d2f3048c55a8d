package generate

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/synthloop/synthloop/model"
	_ "github.com/synthloop/synthloop/model/anthropic"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// answerSchema is the schema of the structured tests: a YAML mapping as
// the config decodes it.
func answerSchema() map[string]any {
	return map[string]any{
		"type": "object",
		"properties": map[string]any{
			"answer":     map[string]any{"type": "string"},
			"confidence": map[string]any{"type": "number", "minimum": 0, "maximum": 1},
			"output":     map[string]any{"type": "string"},
		},
		"required": []any{"answer", "confidence"},
	}
}

func schemaConfig() *Config {
	c := config("{{.instruction}}")
	c.Schema = answerSchema()
	return c
}

// runOn runs cfg over st with every model served by reply.
func runOn(t *testing.T, st *pipelinetest.MemStore, cfg *Config, reply modeltest.Responder, opts ...modeltest.Option) (*modeltest.Server, error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := modeltest.NewServer(reply, opts...)
	t.Cleanup(srv.Close)
	return srv, s.Run(context.Background(), stagetest.Env(t, srv, st, "gen", "tasks"))
}

// asked reports how the request asked for structure: "native", "prompt" or "".
func asked(req *modeltest.Request) string {
	switch {
	case len(req.JSONSchema) > 0:
		return "native"
	case strings.Contains(req.LastUser(), "JSON Schema"):
		return "prompt"
	}
	return ""
}

func texts(n int, s string) modeltest.Reply {
	var rep modeltest.Reply
	for range n {
		rep.Choices = append(rep.Choices, modeltest.Choice{Text: s})
	}
	return rep
}

// TestSchemaFields: a reply that validates fills the record: its record
// fields (output) as text, the others as meta fields with their JSON types.
func TestSchemaFields(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "Why is the sky blue?"})
	_, err := runOn(t, st, schemaConfig(), func(req *modeltest.Request) modeltest.Reply {
		if asked(req) != "native" {
			return texts(req.N, "no schema was sent")
		}
		return texts(req.N, "```json\n{\"answer\": \"Rayleigh scattering\", \"confidence\": 0.9, \"output\": \"Blue light scatters most.\"}\n```")
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := st.All("gen")
	if len(recs) != 1 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Status != record.Kept || r.Meta["answer"] != "Rayleigh scattering" || r.Meta["confidence"] != 0.9 ||
		r.Output != "Blue light scatters most." || r.Prov.Params["schema_mode"] != "native" {
		t.Errorf("record %s %q meta %v output %q params %v", r.Status, r.Error, r.Meta, r.Output, r.Prov.Params)
	}
}

// TestSchemaFallback: a backend that refuses schemas (HTTP 400, as the
// built-in engine does) is asked once natively, then in the prompt, even
// with units running concurrently; the replies are validated all the same.
func TestSchemaFallback(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "a"}, &record.Record{Instruction: "b"}, &record.Record{Instruction: "c"},
		&record.Record{Instruction: "d"}, &record.Record{Instruction: "e"})
	var native atomic.Int32
	refuse := modeltest.WithFaults(func(req *modeltest.Request) modeltest.Fault {
		if asked(req) == "native" {
			native.Add(1)
			return modeltest.HTTPStatus(400)
		}
		return modeltest.Fault{}
	})
	_, err := runOn(t, st, schemaConfig(), func(req *modeltest.Request) modeltest.Reply {
		if asked(req) != "prompt" {
			return texts(req.N, "plain text")
		}
		return texts(req.N, `{"answer": "yes", "confidence": 1}`)
	}, refuse)
	if err != nil {
		t.Fatal(err)
	}
	if native.Load() != 1 {
		t.Errorf("%d native requests, want 1 (the probe)", native.Load())
	}
	for _, r := range st.All("gen") {
		if r.Status != record.Kept || r.Meta["answer"] != "yes" || r.Prov.Params["schema_mode"] != "prompt" {
			t.Errorf("%s: %s %q meta %v params %v", r.ID, r.Status, r.Error, r.Meta, r.Prov.Params)
		}
	}
	// schema_mode native keeps sending the schema and fails the records.
	st2 := pipelinetest.NewMemStore()
	seed(t, st2, &record.Record{Instruction: "a"})
	cfg := schemaConfig()
	cfg.SchemaMode = "native"
	if _, err := runOn(t, st2, cfg, modeltest.Echo, refuse); err != nil {
		t.Fatal(err)
	}
	if r := st2.All("gen")[0]; r.Status != record.Failed || !strings.Contains(r.Error, "400") {
		t.Errorf("native mode against a refusing backend: %s %q", r.Status, r.Error)
	}
}

// TestSchemaRetries: a reply that does not validate is asked again with
// the validation error; one that never validates fails its record (not its
// unit: a rerun does not ask again) with the error and the last reply.
func TestSchemaRetries(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "fixable"}, &record.Record{Instruction: "hopeless"})
	reply := func(req *modeltest.Request) modeltest.Reply {
		first := req.Messages[0].Content
		switch {
		case strings.Contains(first, "fixable") && len(req.Messages) > 1:
			if !strings.Contains(req.LastUser(), "confidence") {
				return texts(1, "the follow-up does not say what was wrong")
			}
			return texts(1, `{"answer": "fixed", "confidence": 0.5}`)
		case strings.Contains(first, "fixable"):
			return texts(req.N, `{"answer": "missing its confidence"}`)
		}
		return texts(req.N, `{"answer": "sure", "confidence": 7}`)
	}
	cfg := schemaConfig()
	cfg.Retries = 2
	srv, err := runOn(t, st, cfg, reply)
	if err != nil {
		t.Fatal(err)
	}
	recs := st.All("gen")
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	if r := recs[0]; r.Status != record.Kept || r.Meta["answer"] != "fixed" || len(r.Prov.RequestKeys) != 2 {
		t.Errorf("fixable: %s %q meta %v keys %d", r.Status, r.Error, r.Meta, len(r.Prov.RequestKeys))
	}
	r := recs[1]
	if r.Status != record.Failed || !strings.Contains(r.Error, "does not fit the schema") || !strings.Contains(r.Error, "maximum") ||
		r.Meta["reply"] != `{"answer": "sure", "confidence": 7}` || r.Meta["answer"] != nil {
		t.Errorf("hopeless: %s %q meta %v", r.Status, r.Error, r.Meta)
	}
	requests := srv.Requests()
	if requests != 2+3 {
		t.Errorf("%d requests, want 2 for fixable and 3 for hopeless (1 + 2 retries)", requests)
	}
	// The failure is permanent: a rerun commits nothing new and asks nothing.
	if _, err := runOn(t, st, cfg, reply); err != nil {
		t.Fatal(err)
	}
	if len(st.All("gen")) != 2 {
		t.Errorf("the rerun changed the records: %d", len(st.All("gen")))
	}
}

// TestSchemaOutput: with output set, the whole reply is stored there as
// JSON too; a schema without properties needs it.
func TestSchemaOutput(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "list"})
	cfg := config("{{.instruction}}")
	cfg.Schema = map[string]any{"type": "array", "items": map[string]any{"type": "string"}}
	if _, err := New(cfg); err == nil || !strings.Contains(err.Error(), "output") {
		t.Fatalf("a list schema without output: %v", err)
	}
	cfg.Output = "items"
	if _, err := runOn(t, st, cfg, modeltest.Texts("```json\n[\"a\", \"<b>\"]\n```")); err != nil {
		t.Fatal(err)
	}
	if r := st.All("gen")[0]; r.Status != record.Kept || r.Meta["items"] != `["a","<b>"]` {
		t.Errorf("%s %q meta %v", r.Status, r.Error, r.Meta)
	}
}

func TestSchemaConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		edit func(c *Config)
		want string
	}{
		{func(c *Config) { c.SchemaMode = "natve" }, "schema_mode"},
		{func(c *Config) { c.Output = "answer" }, `property "answer" is also the output field`},
		{func(c *Config) { c.Schema.(map[string]any)["properties"].(map[string]any)["id"] = map[string]any{} }, `property "id"`},
		{func(c *Config) { c.Schema = "no/such/schema.json" }, "no such file"},
		{func(c *Config) { c.Schema = map[string]any{"type": "objet"} }, "schema"},
		{func(c *Config) { c.Retries = -1 }, "retries"},
	} {
		c := schemaConfig()
		tc.edit(c)
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
	}
}

// TestSchemaDeclaresFields: the stage after a structured generate may use
// the schema's properties, and a misspelt one gets a did-you-mean when the
// config loads.
func TestSchemaDeclaresFields(t *testing.T) {
	dir := t.TempDir()
	head := "name: p\nmodels:\n  teacher:\n    ref: openai/teacher\nstages:\n" +
		"  - name: q\n    type: load\n    with:\n      path: " + writeFile(t, dir, "q.jsonl", `{"question":"q?"}`) + "\n" +
		"  - name: a\n    type: generate\n    with:\n      model: teacher\n      prompt: \"{{.instruction}}\"\n" +
		"      schema:\n        type: object\n        properties:\n          topic: {type: string}\n          level: {type: integer}\n"
	next := func(prompt string) string {
		return "  - name: b\n    type: generate\n    with:\n      model: teacher\n      prompt: \"" + prompt + "\"\n"
	}
	if _, err := pipeline.ParseConfig("p.yaml", []byte(head+next("{{.topic}} at {{.level}}"))); err != nil {
		t.Errorf("the schema's fields are not declared: %v", err)
	}
	_, err := pipeline.ParseConfig("p.yaml", []byte(head+next("{{.topc}}")))
	if err == nil || !strings.Contains(err.Error(), `field "topc"`) || !strings.Contains(err.Error(), `did you mean "topic"`) {
		t.Errorf("error %v", err)
	}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := dir + "/" + name
	if err := os.WriteFile(p, []byte(body+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestSchemaAnthropic: through Anthropic's wire the schema is a forced
// tool, and its input comes back as the reply the stage validates.
func TestSchemaAnthropic(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, &record.Record{Instruction: "Why is the sea salty?"})
	srv := modeltest.NewAnthropicServer(scripted.New(1).Responder())
	defer srv.Close()
	cfg := schemaConfig()
	cfg.N = 2
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	env := &pipeline.Env{Name: "gen", Input: "tasks", Store: st, Concurrency: 1, Clock: stagetest.Clock,
		Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
			b, _, err := model.Open(context.Background(), name, model.Config{Ref: "anthropic/claude-sonnet-4-5", BaseURL: srv.URL, MaxRetries: -1},
				model.Options{Getenv: func(string) string { return "ak-test-1234" }})
			return b, pipeline.ModelInfo{Backend: "anthropic", Model: "claude-sonnet-4-5"}, err
		}}
	if err := s.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	recs := st.All("gen")
	if len(recs) != 2 {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		conf, _ := r.Meta["confidence"].(float64)
		if r.Status != record.Kept || r.Meta["answer"] == nil || conf < 0 || conf > 1 || r.Prov.Params["schema_mode"] != "native" {
			t.Errorf("%s: %s %q meta %v", r.ID, r.Status, r.Error, r.Meta)
		}
	}
	for _, req := range srv.Log() {
		if len(req.JSONSchema) == 0 {
			t.Error("a request without the forced tool")
		}
	}
}
