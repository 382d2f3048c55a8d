package conversation

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestStructuredUserTurns: with structured on the user simulator is sent
// the turn schema, its {message, end} drives the conversation, and a turn
// that does not fit rejects it; a refusing backend gets text turns.
func TestStructuredUserTurns(t *testing.T) {
	questions := []string{"How do I repot a cactus without hurting my hands?", "Which soil mix should I buy for it?", "How often should I water it afterwards?"}
	for _, tc := range []struct {
		setting string
		refuse  bool
		broken  bool // the second turn is not the JSON asked for
		status  record.Status
		filter  string
		label   string
	}{
		{"native", false, false, record.Kept, "", "native"},
		{"prompt", false, false, record.Kept, "", "prompt"},
		{"native", false, true, record.Rejected, FilterStructured, "native"},
		{"auto", true, false, record.Kept, "", "text"},
	} {
		user := stagetest.NewSchemaServer(t, tc.refuse, func(req *modeltest.Request, asked string) string {
			done := strings.Count(req.LastUser(), "Assistant:")
			if asked == stagetest.AskedText {
				if done >= len(questions) {
					return "[END]"
				}
				return questions[done]
			}
			switch {
			case tc.broken && done == 1:
				return "Which soil mix should I buy for it?"
			case done >= len(questions):
				return `{"message":"","end":true}`
			}
			return fmt.Sprintf(`{"message":%q,"end":false}`, "User: "+questions[done])
		})
		s := newStage(t, func(c *Config) { c.MinTurns, c.MaxTurns, c.Structured = 1, 5, tc.setting })
		st := pipelinetest.NewMemStore()
		stagetest.Seed(t, st, "topics", "repotting a cactus")
		backends := map[string]model.Backend{"sim": user.Backend(t, "sim"), "helper": stagetest.NewSchemaServer(t, false, stagetest.FirstText(assistantSide)).Backend(t, "helper")}
		env := &pipeline.Env{Name: "chats", Input: "topics", Store: st, Seed: 7, Concurrency: 1, Round: 1, Clock: stagetest.Clock,
			Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
				return backends[name], pipeline.ModelInfo{Backend: "openai-compatible", Model: name}, nil
			}}
		if err := s.Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		r := st.All("chats")[0]
		if r.Status != tc.status || failedFilter(r) != tc.filter || r.Prov.Params["structured"] != tc.label {
			t.Errorf("%s (refuse %v, broken %v): %s %q filter %q params %v", tc.setting, tc.refuse, tc.broken, r.Status, r.Error, failedFilter(r), r.Prov.Params)
			continue
		}
		if tc.status == record.Kept && (len(r.Messages) != 2*len(questions) || r.Messages[0].Content != questions[0]) {
			t.Errorf("%s: messages %+v", tc.setting, r.Messages)
		}
	}
}

func FuzzParseUserTurn(f *testing.F) {
	for _, s := range []string{`{"message":"hi","end":false}`, `{"message":"","end":true}`, `{"message":"hi"}`, `[END]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		v, err := parseUserTurn(reply)
		if err == nil && len([]rune(v.Message)) > 4000 {
			t.Errorf("%q: a message longer than the schema allows", reply)
		}
	})
}
