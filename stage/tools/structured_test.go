package tools

import (
	"context"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestStructuredTasks: with structured on, the task model is sent the
// tasks schema (at most tasks_per_input tasks) and its JSON is validated;
// a backend that refuses the schema is asked as with structured off.
func TestStructuredTasks(t *testing.T) {
	for _, tc := range []struct {
		setting       string
		refuse        bool
		native, texts int
		label         string
	}{
		{"off", false, 0, 1, ""},
		{"native", false, 1, 0, "native"},
		{"auto", true, 1, 1, "text"},
	} {
		srv := stagetest.NewSchemaServer(t, tc.refuse, func(req *modeltest.Request, asked string) string {
			if asked == stagetest.AskedNative {
				return `{"tasks": ["Look up a", "Look up b"]}`
			}
			return `{"tasks": ["Look up a", "Look up b", "Look up c"]}`
		})
		sim := fn(func(req model.Request) (*model.Response, error) { return reply(model.Choice{Text: "42"}) })
		s := newStage(t, func(c *Config) {
			c.TaskModel, c.Topics, c.TasksPerInput, c.Structured = "user", []string{"stock"}, 2, tc.setting
		})
		st := pipelinetest.NewMemStore()
		models := map[string]model.Backend{"asst": caller("lookup", `{"key":"a"}`, false), "sim": sim, "user": srv.Backend(t, "user")}
		if err := s.Run(context.Background(), env(st, "", models)); err != nil {
			t.Fatal(err)
		}
		recs := st.All("traj")
		if len(recs) != 2 || srv.Count(stagetest.AskedNative) != tc.native || srv.Count(stagetest.AskedText) != tc.texts {
			t.Fatalf("%s: %d records, %d native and %d text requests", tc.setting, len(recs), srv.Count(stagetest.AskedNative), srv.Count(stagetest.AskedText))
		}
		for _, r := range recs {
			if r.Status != record.Kept || r.Prov.Params["structured"] != nilIfEmpty(tc.label) {
				t.Errorf("%s: %s %s params %v", tc.setting, r.ID, r.Status, r.Prov.Params)
			}
		}
		if tc.native > 0 && !strings.Contains(srv.Schemas()[0], `"maxItems":2`) {
			t.Errorf("%s: schema sent %s", tc.setting, srv.Schemas()[0])
		}
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// FuzzStructuredTasks: a task list read under the schema holds between one
// and tasks_per_input non-blank tasks, or is an error.
func FuzzStructuredTasks(f *testing.F) {
	for _, s := range []string{`{"tasks":["a","b"]}`, `{"tasks":[]}`, `{"tasks":["a","b","c"]}`, `{"tasks":[" "]}`, `{"tasks":"a"}`, `tasks: a`} {
		f.Add(s)
	}
	sch := tasksSchema(2)
	f.Fuzz(func(t *testing.T, reply string) {
		v, err := structured.Decode[taskList](sch, reply)
		if err != nil {
			return
		}
		got, err := cleanTasks(v.Tasks, 2)
		if err != nil {
			return
		}
		if len(got) == 0 || len(got) > 2 {
			t.Errorf("%q gave %d tasks", reply, len(got))
		}
		for _, task := range got {
			if strings.TrimSpace(task) == "" {
				t.Errorf("%q gave a blank task", reply)
			}
		}
	})
}
