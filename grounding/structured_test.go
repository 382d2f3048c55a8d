package grounding

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model/modeltest"
)

// TestStructuredJudge: grounding_structured sends the 1..5 score schema and
// reads the JSON rating; a backend that refuses it in auto mode is asked
// for the Score: N line.
func TestStructuredJudge(t *testing.T) {
	for _, tc := range []struct {
		setting string
		refuse  bool
		label   string
	}{
		{"native", false, "native"},
		{"auto", true, "text"},
	} {
		var native atomic.Int32
		srv := modeltest.NewServer(func(req *modeltest.Request) modeltest.Reply {
			text := "Supported.\nScore: 3"
			if len(req.JSONSchema) > 0 {
				text = `{"rationale":"Every fact is in the evidence.","score":5}`
			}
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: text}}}
		}, modeltest.WithFaults(func(req *modeltest.Request) modeltest.Fault {
			if len(req.JSONSchema) > 0 {
				native.Add(1)
				if !strings.Contains(string(req.JSONSchema), `"minimum":1,"maximum":5`) {
					t.Errorf("schema %s", req.JSONSchema)
				}
				if tc.refuse {
					return modeltest.HTTPStatus(400)
				}
			}
			return modeltest.Fault{}
		}))
		defer srv.Close()
		j, err := NewJudge(backend(t, srv), judge.Options{Structured: tc.setting})
		if err != nil {
			t.Fatal(err)
		}
		res, err := j.Score(context.Background(), Item{Question: "When?", Evidence: "Within 5 days.", Answer: "5 days."})
		want := map[string]float64{"native": 5, "text": 3}[tc.label]
		if err != nil || !res.OK() || res.Score != want || res.Structured != tc.label || native.Load() != 1 {
			t.Errorf("%s: score %g %q, structured %q, %d native, err %v", tc.setting, res.Score, res.Err, res.Structured, native.Load(), err)
		}
	}
	c := DefaultConfig()
	c.Structured = "json"
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "grounding_structured") {
		t.Errorf("grounding_structured: json = %v", err)
	}
}
