package selfinstruct

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

var newTasks = []string{
	"Summarize the story of a mystery novel in two sentences.",
	"Convert a temperature given in Celsius into Fahrenheit and explain each step.",
	"List four habits that help a student remember vocabulary words.",
}

// TestStructuredBootstrap: with structured on the teacher is sent the
// tasks schema without stop sequences, and the JSON list becomes the
// candidates the numbered list would; a backend that refuses the schema
// is asked for the numbered list.
func TestStructuredBootstrap(t *testing.T) {
	for _, tc := range []struct {
		setting, mode string
		refuse        bool
		label         string
	}{
		{"native", ModeSelfInstruct, false, "native"},
		{"native", ModeAlpaca, false, "native"},
		{"prompt", ModeSelfInstruct, false, "prompt"},
		{"auto", ModeSelfInstruct, true, "text"},
	} {
		var stops [][]string
		srv := stagetest.NewSchemaServer(t, tc.refuse, func(req *modeltest.Request, asked string) string {
			stops = append(stops, req.Stop)
			var b []byte
			switch {
			case asked == stagetest.AskedText:
				return newTasks[0] + "\n10. " + newTasks[1] + "\n11. " + newTasks[2]
			case tc.mode == ModeAlpaca:
				var tasks []map[string]string
				for _, x := range newTasks {
					tasks = append(tasks, map[string]string{"instruction": x, "input": "<noinput>", "output": "An answer of a few words."})
				}
				b, _ = json.Marshal(map[string]any{"tasks": tasks})
			default:
				b, _ = json.Marshal(map[string]any{"instructions": newTasks})
			}
			return string(b)
		})
		st := newMemStore()
		env, _ := newEnv(st, srv.Backend(t, "teacher"), "instructions", "")
		c := cfg(func(c *Config) {
			c.Mode, c.Target, c.MaxBatches, c.Concurrency, c.Structured = tc.mode, 3, 1, 1, tc.setting
		})
		if err := mustNew(t, c).Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		var kept []string
		for _, r := range st.all("instructions", "") {
			if r.Prov.Params["structured"] != tc.label {
				t.Errorf("%s %s: %s params %v", tc.setting, tc.mode, r.ID, r.Prov.Params)
			}
			if r.Status == record.Kept {
				kept = append(kept, r.Instruction)
				if tc.mode == ModeAlpaca && (r.Input != "" || r.Output != "An answer of a few words.") {
					t.Errorf("alpaca: input %q output %q", r.Input, r.Output)
				}
			}
		}
		if len(kept) != 3 {
			for _, r := range st.all("instructions", record.Rejected) {
				t.Logf("%s: %v", r.Instruction, r.Reasons())
			}
			t.Errorf("%s %s: kept %q", tc.setting, tc.mode, kept)
		}
		last := stops[len(stops)-1]
		if (tc.label == "text") != (len(last) > 0) {
			t.Errorf("%s %s: stop sequences %q sent", tc.setting, tc.mode, last)
		}
		if tc.label == "native" && !strings.Contains(srv.Schemas()[0], map[string]string{ModeAlpaca: `"tasks"`, ModeSelfInstruct: `"instructions"`}[tc.mode]) {
			t.Errorf("%s: schema %s", tc.mode, srv.Schemas()[0])
		}
	}
}

// TestStructuredInstances: the classification answer and the instances are
// asked for by schema; a classification task's label is its output.
func TestStructuredInstances(t *testing.T) {
	srv := stagetest.NewSchemaServer(t, false, func(req *modeltest.Request, asked string) string {
		p := req.Messages[0].Content
		switch {
		case asked != stagetest.AskedNative:
			return "no schema was sent"
		case strings.HasPrefix(p, "Decide whether"):
			if strings.Contains(p, "Task: Is this review positive") {
				return `{"answer":"Yes"}`
			}
			return `{"answer":"No"}`
		case strings.Contains(req.LastUser(), "Is this review positive"):
			return `{"instances":[{"class_label":"Positive","input":"Loved it."},{"class_label":"Negative","input":"Dull."}]}`
		}
		return `{"instances":[{"input":"","output":"Sunlight scatters off air molecules."}]}`
	})
	st := newMemStore()
	in := []*record.Record{
		{ID: "a", Stage: "instructions", Seq: 1, Status: record.Kept, Instruction: "Explain why the sky is blue."},
		{ID: "b", Stage: "instructions", Seq: 2, Status: record.Kept, Instruction: "Is this review positive or negative?"},
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "instructions", Key: "seed", Records: in}); err != nil {
		t.Fatal(err)
	}
	c := DefaultInstancesConfig()
	c.Model, c.Structured = "teacher", "native"
	s, err := NewInstances(c)
	if err != nil {
		t.Fatal(err)
	}
	env, _ := newEnv(st, srv.Backend(t, "teacher"), "instances", "instructions")
	if err := s.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, r := range st.all("instances", "") {
		if r.Prov.Params["structured"] != "native" || r.Meta["classify_structured"] != "native" {
			t.Errorf("%s: params %v meta %v", r.ID, r.Prov.Params, r.Meta)
		}
		got[r.Input+"|"+r.Output] = string(r.Status)
		if r.IsClassification == nil || *r.IsClassification != strings.HasPrefix(r.Instruction, "Is this") {
			t.Errorf("%s: is_classification %v", r.ID, r.IsClassification)
		}
	}
	if len(got) != 3 || got["Loved it.|Positive"] != "kept" || got["|Sunlight scatters off air molecules."] != "kept" {
		t.Errorf("instances %v", got)
	}
}

func FuzzParseShapedTasks(f *testing.F) {
	for _, s := range []string{`{"instructions":["a","b"]}`, `{"instructions":[" "]}`, `{"tasks":[{"instruction":"a","input":"<noinput>","output":"b"}]}`, `1. a`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		for _, sch := range []bool{false, true} {
			schema := instructionsSchema
			if sch {
				schema = alpacaSchema
			}
			items, err := parseShapedTasks(schema, reply)
			if err != nil {
				continue
			}
			for _, it := range items {
				if it.Instruction == "" || it.Instruction != strings.TrimSpace(it.Instruction) || strings.EqualFold(it.Input, "<noinput>") {
					t.Errorf("%q gave item %+v", reply, it)
				}
			}
		}
	})
}

func FuzzParseShapedInstances(f *testing.F) {
	for _, s := range []string{`{"instances":[{"input":"a","output":"b"}]}`, `{"instances":[{"class_label":"x","input":"y"}]}`, `{"answer":"Yes"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		for _, clf := range []bool{false, true} {
			ins, err := parseShapedInstances(instancesSchema(clf, 3), reply, clf)
			if err == nil && (len(ins) == 0 || len(ins) > 3) {
				t.Errorf("%q gave %d instances", reply, len(ins))
			}
		}
		if yes, ok := parseShapedYesNo(reply); yes && !ok {
			t.Errorf("%q: yes without an answer", reply)
		}
	})
}
