package codet

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestStructuredCodeT: with structured on, solutions come as {code} and
// tests as {tests}, sent by schema through one gate; a backend that
// refuses schemas is asked for fenced blocks, and the tests are
// established the same either way.
func TestStructuredCodeT(t *testing.T) {
	needPython(t)
	for _, tc := range []struct {
		setting string
		refuse  bool
		label   string
		native  int
	}{
		{"native", false, "native", 2},
		{"auto", true, "text", 1}, // one probe for both schemas
	} {
		srv := stagetest.NewSchemaServer(t, tc.refuse, func(req *modeltest.Request, asked string) string {
			tests := strings.HasPrefix(req.Messages[0].Content, "Write ")
			switch {
			case tests && asked == stagetest.AskedText:
				return "```python\nassert double(2) == 4\nassert double(3) == 6\n```"
			case tests:
				return `{"tests":["assert double(2) == 4","assert double(3) == 6","print(1)"]}`
			case asked == stagetest.AskedText:
				return "```python\ndef double(x):\n    return 2 * x\n```"
			}
			return `{"code":"def double(x):\n    return x * 2"}`
		})
		st := pipelinetest.NewMemStore()
		problemRecords(t, st, "Write a Python function `double(x)` that returns twice the integer x.")
		c := DefaultConfig()
		c.Model, c.N, c.TestSamples, c.Structured = "teacher", 2, 1, tc.setting
		s, err := New(c)
		if err != nil {
			t.Fatal(err)
		}
		env := &pipeline.Env{Name: "established", Input: "invented", Store: st, Seed: 1, Concurrency: 1,
			Clock: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
			Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
				return srv.Backend(t, name), pipeline.ModelInfo{Backend: "openai-compatible", Model: name}, nil
			}}
		if err := s.Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		r := st.All("established")[0]
		if r.Status != record.Kept || r.Meta["reference"] == nil || !strings.Contains(r.Output, "def double") ||
			r.Prov.Params["structured"] != tc.label || srv.Count(stagetest.AskedNative) != tc.native {
			t.Errorf("%s: %s %q %v, output %q, params %v, %d native requests", tc.setting, r.Status, r.Error, r.Reasons(), r.Output, r.Prov.Params, srv.Count(stagetest.AskedNative))
		}
		if tests, _ := r.Meta["tests"].([]any); len(tests) != 2 {
			t.Errorf("%s: tests %v, want the two assert lines", tc.setting, r.Meta["tests"])
		}
	}
}

func FuzzReadShaped(f *testing.F) {
	for _, s := range []string{`{"code":"def f(): pass"}`, `{"tests":["assert f(1) == 2","x"]}`, `{"code":""}`, "```python\nassert f(1)\n```"} {
		f.Add(s)
	}
	s := &Stage{}
	s.solveShape, _ = structured.NewShaper("native", solutionSchema)
	s.testsShape = s.solveShape.With(testsSchema)
	f.Fuzz(func(t *testing.T, reply string) {
		if code, why := s.readSolution(reply, "native"); code != "" && why != "" {
			t.Errorf("%q: code %q and why %q", reply, code, why)
		}
		for _, l := range s.readTests(reply, "f", "native") {
			if !strings.HasPrefix(l, "assert") || !strings.Contains(l, "f(") || strings.Contains(l, "\n") {
				t.Errorf("%q gave test %q", reply, l)
			}
		}
	})
}
