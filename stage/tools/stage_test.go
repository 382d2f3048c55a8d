package tools

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
	"github.com/synthloop/synthloop/verify"
)

// fn is a model.Backend from a function.
type fn func(req model.Request) (*model.Response, error)

func (f fn) Generate(_ context.Context, req model.Request) (*model.Response, error) { return f(req) }

func reply(c model.Choice) (*model.Response, error) {
	return &model.Response{Choices: []model.Choice{c}, Model: "m"}, nil
}

// caller calls tool with args until a result is back, then answers with
// the last result; with always it never stops calling.
func caller(tool, args string, always bool) fn {
	return func(req model.Request) (*model.Response, error) {
		last := req.Messages[len(req.Messages)-1]
		if last.Role == "tool" && !always {
			return reply(model.Choice{Text: "Answer: " + last.Content, FinishReason: model.FinishStop})
		}
		return reply(model.Choice{ToolCalls: []model.ToolCall{{Name: tool, Arguments: args}}, FinishReason: model.FinishTools})
	}
}

func env(st *pipelinetest.MemStore, input string, models map[string]model.Backend) *pipeline.Env {
	return &pipeline.Env{Name: "traj", Input: input, Store: st, Seed: 1, Concurrency: 2, Clock: stagetest.Clock,
		Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
			b, ok := models[name]
			if !ok {
				return nil, pipeline.ModelInfo{}, fmt.Errorf("no model %s", name)
			}
			return b, pipeline.ModelInfo{Backend: "fake", Model: name}, nil
		}}
}

var lookupTool = ToolConfig{Name: "lookup", Description: "Looks a key up",
	Parameters: map[string]any{"type": "object", "properties": map[string]any{"key": map[string]any{"type": "string"}}, "required": []any{"key"}}}

func newStage(t *testing.T, edit func(c *Config)) *Stage {
	t.Helper()
	c := DefaultConfig()
	c.Model, c.Simulator, c.Tools = "asst", "sim", []ToolConfig{lookupTool}
	edit(c)
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSimulatedToolAndTaskModel(t *testing.T) {
	var simPrompts []string
	var mu sync.Mutex
	sim := fn(func(req model.Request) (*model.Response, error) {
		mu.Lock()
		simPrompts = append(simPrompts, req.Messages[0].Content)
		mu.Unlock()
		return reply(model.Choice{Text: "42"})
	})
	tasks := fn(func(req model.Request) (*model.Response, error) {
		if !strings.Contains(req.Messages[0].Content, "- lookup: Looks a key up") || !strings.Contains(req.Messages[0].Content, "Topic: stock") {
			t.Errorf("task prompt:\n%s", req.Messages[0].Content)
		}
		return reply(model.Choice{Text: `{"tasks": ["Look up a", " ", "Look up b", "Look up c"]}`})
	})
	s := newStage(t, func(c *Config) { c.TaskModel, c.Topics, c.TasksPerInput = "user", []string{"stock"}, 2 })
	st := pipelinetest.NewMemStore()
	if err := s.Run(context.Background(), env(st, "", map[string]model.Backend{"asst": caller("lookup", `{"key":"a"}`, false), "sim": sim, "user": tasks})); err != nil {
		t.Fatal(err)
	}
	recs := st.All("traj")
	if len(recs) != 2 || recs[0].ID != "traj:topic-1:00" || recs[1].Instruction != "Look up b" {
		t.Fatalf("records %+v", recs)
	}
	r := recs[0]
	if r.Status != record.Kept || r.Output != "Answer: 42" || len(r.Messages) != 4 || r.Messages[2].Content != "42" || r.Messages[2].ToolCallID != "call_1_0" || r.Messages[1].ToolCalls[0].ID != "call_1_0" {
		t.Errorf("trajectory %s %v %+v", r.Status, r.Reasons(), r.Messages)
	}
	// The task request, two assistant turns and the simulator's.
	if len(r.Prov.RequestKeys) != 4 || fmt.Sprint(r.Meta["tool_calls"]) != "1" || fmt.Sprint(r.Meta["steps"]) != "2" || r.Meta["finish"] != FinishAnswer || r.Meta["tools"] == nil {
		t.Errorf("keys %d, meta %v", len(r.Prov.RequestKeys), r.Meta)
	}
	if len(simPrompts) != 2 || !strings.Contains(simPrompts[0], `{"key":"a"}`) || !strings.Contains(simPrompts[0], "Look up a") {
		t.Errorf("simulator prompts %q", simPrompts)
	}
}

func TestChecks(t *testing.T) {
	for _, tc := range []struct {
		name, tool, args string
		always           bool
		edit             func(c *Config)
		status           record.Status
		reason           string
	}{
		{"kept", "lookup", `{"key":"a"}`, false, func(*Config) {}, record.Kept, ""},
		{"invented", "search", `{}`, false, func(*Config) {}, record.Rejected, "invented_tool: 1 call(s) of tools that do not exist: search"},
		{"invalid arguments", "lookup", `{"key":1}`, false, func(*Config) {}, record.Rejected, "invalid_arguments: 1 call(s) with invalid arguments: error: lookup: the arguments do not match the tool's parameters: at '/key': got number, want string"},
		{"not an object", "lookup", `["a"]`, false, func(*Config) {}, record.Rejected, "the arguments are a JSON array, not an object"},
		{"kept invalid", "lookup", `{"key":1}`, false, func(c *Config) { c.KeepInvalidCalls = true }, record.Kept, ""},
		{"max steps", "lookup", `{"key":"a"}`, true, func(c *Config) { c.MaxSteps = 3 }, record.Rejected, "max_steps: still calling tools after max_steps 3"},
		{"check fails", "lookup", `{"key":"a"}`, false, func(c *Config) { c.Check = &verify.Config{Kind: verify.Numeric} }, record.Rejected, "check: 42 != 41"},
		{"check passes", "lookup", `{"key":"a"}`, false, func(c *Config) { c.Check = &verify.Config{Kind: verify.Numeric, Reference: "meta.answer"} }, record.Kept, ""},
		{"final state", "lookup", `{"key":"a"}`, false, func(c *Config) {
			c.FinalState = &FinalState{Tool: "lookup", Arguments: map[string]any{"key": "total"}, Expect: &verify.Config{Kind: verify.Exact, Reference: "meta.answer"}}
		}, record.Kept, ""},
		{"final state fails", "lookup", `{"key":"a"}`, false, func(c *Config) {
			c.FinalState = &FinalState{Tool: "lookup", Expect: &verify.Config{Kind: verify.Exact}}
		}, record.Rejected, "final_state: exact mismatch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newStage(t, tc.edit)
			st := pipelinetest.NewMemStore()
			in := &record.Record{ID: "q", Seq: 1, Stage: "in", Status: record.Kept, Instruction: "What is a?", Output: "41", Meta: map[string]any{"answer": "42"}}
			st.Commit(context.Background(), pipeline.Unit{Stage: "in", Key: "x", Records: []*record.Record{in}})
			sim := fn(func(model.Request) (*model.Response, error) { return reply(model.Choice{Text: "42"}) })
			if err := s.Run(context.Background(), env(st, "in", map[string]model.Backend{"asst": caller(tc.tool, tc.args, tc.always), "sim": sim})); err != nil {
				t.Fatal(err)
			}
			r := st.All("traj")[0]
			if r.Status != tc.status || !strings.Contains(strings.Join(r.Reasons(), "; "), tc.reason) {
				t.Errorf("%s %q, want %s %q", r.Status, r.Reasons(), tc.status, tc.reason)
			}
			if tc.status == record.Rejected && !tc.always {
				// The model saw an error result for a bad call and went on.
				if tc.reason != "" && strings.Contains(tc.reason, "invalid") && !r.Messages[2].IsError {
					t.Errorf("the bad call got no error result: %+v", r.Messages)
				}
			}
		})
	}
}

// TestTransientLeavesUnitUndone: a transient failure of the assistant
// commits nothing of its unit; a rerun does it and loses nothing.
func TestTransientLeavesUnitUndone(t *testing.T) {
	s := newStage(t, func(c *Config) {
		c.Tasks = []TaskConfig{{Instruction: "a"}, {Instruction: "b"}}
	})
	st := pipelinetest.NewMemStore()
	sim := fn(func(model.Request) (*model.Response, error) { return reply(model.Choice{Text: "42"}) })
	good := caller("lookup", `{"key":"a"}`, false)
	flaky := fn(func(req model.Request) (*model.Response, error) {
		if req.Messages[0].Content == "b" && len(req.Messages) > 1 {
			return nil, &model.Error{Name: "asst", Transient: true, Err: errors.New("503")}
		}
		return good(req)
	})
	err := s.Run(context.Background(), env(st, "", map[string]model.Backend{"asst": flaky, "sim": sim}))
	if !errors.Is(err, pipeline.ErrTransient) {
		t.Fatalf("Run = %v, want a transient undone unit", err)
	}
	if recs := st.All("traj"); len(recs) != 1 || recs[0].ID != "traj:task-1" {
		t.Fatalf("after the failure: %+v", recs)
	}
	if err := s.Run(context.Background(), env(st, "", map[string]model.Backend{"asst": good, "sim": sim})); err != nil {
		t.Fatal(err)
	}
	if recs := st.All("traj"); len(recs) != 2 || recs[1].Status != record.Kept {
		t.Fatalf("after the rerun: %+v", recs)
	}
}

// TestMCPTools runs the stage against a real MCP server over streamable
// HTTP: its tools are offered, called, and checked against its schema.
func TestMCPTools(t *testing.T) {
	srv := mcp.NewServer(&mcp.Implementation{Name: "kv", Version: "v1"}, nil)
	type getArgs struct {
		Key string `json:"key"`
	}
	mcp.AddTool(srv, &mcp.Tool{Name: "get", Description: "Reads a key"}, func(_ context.Context, _ *mcp.CallToolRequest, in getArgs) (*mcp.CallToolResult, any, error) {
		if in.Key == "missing" {
			return nil, nil, errors.New("no such key")
		}
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "value of " + in.Key}}}, nil, nil
	})
	mcp.AddTool(srv, &mcp.Tool{Name: "unused"}, func(context.Context, *mcp.CallToolRequest, struct{}) (*mcp.CallToolResult, any, error) {
		return &mcp.CallToolResult{}, nil, nil
	})
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	defer hs.Close()
	for _, tc := range []struct {
		args, result string
		isError      bool
		status       record.Status
	}{
		{`{"key":"k"}`, "value of k", false, record.Kept},
		{`{"key":"missing"}`, "no such key", true, record.Kept},
		{`{"key":5}`, "got number, want string", true, record.Rejected},
	} {
		c := DefaultConfig()
		c.Model, c.MCP = "asst", []MCPConfig{{Name: "kv", URL: hs.URL, Tools: []string{"get"}}}
		c.Tasks = []TaskConfig{{Instruction: "read k"}}
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		st := pipelinetest.NewMemStore()
		var offered []model.Tool
		asst := fn(func(req model.Request) (*model.Response, error) {
			offered = req.Tools
			return caller("get", tc.args, false)(req)
		})
		if err := s.Run(context.Background(), env(st, "", map[string]model.Backend{"asst": asst})); err != nil {
			t.Fatal(err)
		}
		r := st.All("traj")[0]
		if len(offered) != 1 || offered[0].Name != "get" || !strings.Contains(string(offered[0].Parameters), `"key"`) {
			t.Errorf("offered %+v", offered)
		}
		tool := r.Messages[2]
		if r.Status != tc.status || tool.IsError != tc.isError || !strings.Contains(tool.Content, tc.result) {
			t.Errorf("%s: %s %v, tool turn %+v", tc.args, r.Status, r.Reasons(), tool)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		edit func(c *Config)
		want string
	}{
		{func(c *Config) { c.Model = "" }, "model: required"},
		{func(c *Config) { c.Tools = nil }, "no tools"},
		{func(c *Config) { c.Simulator = "" }, "no command: set one, or name a simulator"},
		{func(c *Config) { c.Tools = append(c.Tools, lookupTool) }, "declared twice"},
		{func(c *Config) { c.Tools[0].Name = "bad name" }, "want 1 to 64 letters"},
		{func(c *Config) { c.Tools[0].Parameters = map[string]any{"type": "array"} }, `type is array, want "object"`},
		{func(c *Config) { c.Tools[0].Command = []string{"/nonexistent/tool"} }, "tools: tool lookup: verify: command"},
		{func(c *Config) { c.MaxSteps = 0 }, "max_steps"},
		{func(c *Config) { c.Topics = []string{"x"} }, "topics: need task_model"},
		{func(c *Config) { c.MCP = []MCPConfig{{Name: "m"}} }, "set command (stdio) or url"},
		{func(c *Config) { c.ToolChoice = "nope" }, "tool_choice"},
		{func(c *Config) { c.FinalState = &FinalState{} }, "final_state: set tool or command"},
		{func(c *Config) { c.Check = &verify.Config{Kind: "exact", Reference: "x"} }, "check: reference"},
	} {
		c := DefaultConfig()
		c.Model, c.Simulator, c.Tools = "asst", "sim", []ToolConfig{lookupTool}
		c.Tools[0].Parameters = map[string]any{"type": "object"}
		tc.edit(c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New = %v, want %q", err, tc.want)
		}
	}
}

func TestParseArguments(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{`{"a": 1}`, `{"a":1}`, ""},
		{``, `{}`, ""},
		{` {} `, `{}`, ""},
		{`{"a":1} x`, "", "text after the JSON object"},
		{`[1]`, "", "a JSON array, not an object"},
		{`null`, "", "a JSON null, not an object"},
		{`{"a":`, "", "not JSON"},
	} {
		got, err := ParseArguments(tc.in)
		if string(got) != tc.want || (err == nil) != (tc.err == "") || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("ParseArguments(%q) = %s, %v; want %s, %q", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func FuzzParseArguments(f *testing.F) {
	for _, s := range []string{`{"a":1}`, ``, `[]`, `{"a":{"b":[1,2]}}`, `{"a":1}{}`, "\"x\"", `{"a":"\u00e9"}`} {
		f.Add(s)
	}
	ts := &toolset{}
	tl, err := newTool("t", "", json.RawMessage(`{"type":"object","properties":{"a":{"type":"number"}},"required":["a"]}`), nil, "")
	if err != nil {
		f.Fatal(err)
	}
	ts.add(tl)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseArguments(s)
		if err != nil {
			return
		}
		var obj map[string]any
		if json.Unmarshal(got, &obj) != nil || obj == nil {
			t.Fatalf("ParseArguments(%q) = %s, not an object", s, got)
		}
		args, kind, problem, err := ts.checkCall(context.Background(), model.ToolCall{Name: "t", Arguments: s})
		if err != nil || (kind == "") != (problem == "") || (kind == "" && args == nil) {
			t.Fatalf("checkCall(%q) = %s, %q, %q, %v", s, args, kind, problem, err)
		}
	})
}

func FuzzParseTasks(f *testing.F) {
	for _, s := range []string{`{"tasks":["a","b"]}`, "```json\n{\"tasks\":[\"a\"]}\n```", `{"tasks":[]}`, `{"task":["a"]}`, `x`} {
		f.Add(s, 2)
	}
	f.Fuzz(func(t *testing.T, s string, n int) {
		got, err := ParseTasks(s, n)
		if err != nil {
			return
		}
		if len(got) == 0 || len(got) > n {
			t.Fatalf("ParseTasks(%q, %d) = %d tasks", s, n, len(got))
		}
		for _, task := range got {
			if strings.TrimSpace(task) != task || task == "" {
				t.Fatalf("task %q is not trimmed", task)
			}
		}
	})
}

// TestSampleAttributes: sample records as the inputs of a task model give
// its prompt their topic, persona and other columns; each trajectory
// carries them and the sample record's id; the coverage of the kept
// trajectories shows the values a filter took out (here every "hard" task
// runs into max_steps).
func TestSampleAttributes(t *testing.T) {
	spec := map[string]any{"columns": []string{"topic", "persona", "difficulty"},
		"kinds": map[string]string{"topic": "category", "persona": "persona", "difficulty": "category"}, "possible": map[string]int{"topic": 2, "persona": 2, "difficulty": 2}}
	var in []*record.Record
	for i, v := range [][3]string{{"stocks", "a retired teacher", "easy"}, {"weather", "a pilot", "hard"}, {"stocks", "a pilot", "hard"}, {"weather", "a retired teacher", "easy"}} {
		in = append(in, &record.Record{ID: fmt.Sprintf("attrs:%d", i), Stage: "attrs", Seq: int64(i + 1), Status: record.Kept,
			Meta: map[string]any{"topic": v[0], "persona": v[1], "difficulty": v[2]},
			Prov: record.Provenance{Generator: "sample", Params: spec}})
	}
	st := pipelinetest.NewMemStore()
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "attrs", Key: "all", Records: in}); err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?s)Topic: (\w+)\nThe person asking: ([a-z ]+)\nEvery request must fit these attributes:\n- difficulty: (\w+)\n`)
	tasks := fn(func(req model.Request) (*model.Response, error) {
		m := re.FindStringSubmatch(req.Messages[0].Content)
		if m == nil {
			return nil, fmt.Errorf("task prompt without the attributes:\n%s", req.Messages[0].Content)
		}
		return reply(model.Choice{Text: fmt.Sprintf(`{"tasks": ["Look up %s for %s (%s)"]}`, m[1], m[2], m[3])})
	})
	hardLoops := fn(func(req model.Request) (*model.Response, error) {
		return caller("lookup", `{"key":"a"}`, strings.Contains(req.Messages[0].Content, "(hard)"))(req)
	})
	s := newStage(t, func(c *Config) { c.TaskModel, c.TasksPerInput, c.MaxSteps = "user", 1, 2 })
	sim := fn(func(model.Request) (*model.Response, error) { return reply(model.Choice{Text: "42"}) })
	if err := s.Run(context.Background(), env(st, "attrs", map[string]model.Backend{"asst": hardLoops, "sim": sim, "user": tasks})); err != nil {
		t.Fatal(err)
	}
	byID := map[string]*record.Record{}
	for _, r := range in {
		byID[r.ID] = r
	}
	if n := len(st.All("traj")); n != 4 {
		t.Fatalf("%d trajectories, want one per sample record", n)
	}
	for _, r := range st.All("traj") {
		src := byID[r.Prov.ParentIDs[0]]
		if r.Meta[attrs.FromKey] != src.ID || r.Meta["topic"] != src.Meta["topic"] || r.Meta["persona"] != src.Meta["persona"] || r.Meta["difficulty"] != src.Meta["difficulty"] {
			t.Errorf("%s (%s): meta %v, from %s", r.ID, r.Status, r.Meta, src.ID)
		}
		if want := src.Meta["difficulty"] == "easy"; (r.Status == record.Kept) != want {
			t.Errorf("%s: %s %v", r.ID, r.Status, r.Reasons())
		}
	}
	cov, err := Coverage(context.Background(), st, "traj")
	if err != nil {
		t.Fatal(err)
	}
	if cov.Records != 2 || len(cov.Columns) != 3 || cov.Columns[2].Name != "difficulty" || cov.Columns[2].Counts["easy"] != 2 || cov.Columns[2].Counts["hard"] != 0 {
		t.Fatalf("coverage %+v", cov)
	}
	if out := cov.String(); !strings.Contains(out, "difficulty  1/2 values") {
		t.Errorf("coverage:\n%s", out)
	}
}
