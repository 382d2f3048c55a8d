package evol

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// TestStructuredVerdict: with structured on the equality judge is sent the
// verdict schema and its JSON decides; a backend that refuses the schema
// is asked for the Verdict: line; a JSON verdict that does not validate is
// restated with the schema's problem.
func TestStructuredVerdict(t *testing.T) {
	for _, tc := range []struct {
		setting string
		refuse  bool
		verdict string // the structured verdict; SAME rejects the evolution
		status  record.Status
		label   string
	}{
		{"native", false, "DIFFERENT", record.Kept, "native"},
		{"native", false, "SAME", record.Rejected, "native"},
		{"native", false, "same?", record.Kept, "native"}, // invalid, restated as DIFFERENT
		{"prompt", false, "SAME", record.Rejected, "prompt"},
		{"auto", true, "SAME", record.Kept, "text"},
	} {
		srv := stagetest.NewSchemaServer(t, tc.refuse, func(req *modeltest.Request, asked string) string {
			p := req.Messages[0].Content
			switch {
			case strings.HasPrefix(p, "Two tasks") && asked == stagetest.AskedText:
				return "It adds a requirement.\nVerdict: DIFFERENT"
			case strings.HasPrefix(p, "Two tasks") && len(req.Messages) > 1:
				return `{"reason":"It adds a length.","verdict":"DIFFERENT"}`
			case strings.HasPrefix(p, "Two tasks"):
				return fmt.Sprintf(`{"reason":"Judged.","verdict":%q}`, tc.verdict)
			case strings.Contains(p, "<<<\n"):
				return p[strings.Index(p, "<<<\n")+4:strings.Index(p, "\n>>>")] + " Answer in exactly three sentences about rivers."
			}
			return "A complete answer, in three short paragraphs."
		})
		s := newStage(t, func(c *Config) { c.JudgeEqual, c.Generations, c.Structured = true, 1, tc.setting })
		st := pipelinetest.NewMemStore()
		stagetest.Seed(t, st, "prompts", "Write a poem about the sea.")
		if err := s.Run(context.Background(), stagetest.Env(t, srv.Server, st, "evolved", "prompts")); err != nil {
			t.Fatal(err)
		}
		var recs []*record.Record
		for _, r := range st.All("evolved") {
			if fmt.Sprint(r.Meta[MetaGeneration]) == "1" {
				recs = append(recs, r)
			}
		}
		if len(recs) != 1 {
			t.Fatalf("%s %s: %d evolutions", tc.setting, tc.verdict, len(recs))
		}
		r := recs[0]
		if r.Status != tc.status || r.Prov.Params["structured"] != tc.label || r.Prov.Params["schema"] != verdictSchema.Hash {
			t.Errorf("%s %s: %s %q %v, params %v", tc.setting, tc.verdict, r.Status, r.Error, r.Reasons(), r.Prov.Params)
		}
		if tc.label == "native" && !strings.Contains(srv.Schemas()[0], `"enum":["SAME","DIFFERENT"]`) {
			t.Errorf("schema sent %s", srv.Schemas()[0])
		}
	}
}

func FuzzParseShapedVerdict(f *testing.F) {
	for _, s := range []string{`{"reason":"x","verdict":"SAME"}`, `{"reason":"x","verdict":"DIFFERENT"}`, `{"verdict":"SAME"}`, `Verdict: SAME`, `{"reason":1,"verdict":"SAME"}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		same, _, err := parseShapedVerdict(reply)
		if err != nil {
			return
		}
		v, _ := verdictSchema.Check(reply)
		if got := v.(map[string]any)["verdict"] == "SAME"; got != same {
			t.Errorf("parseShapedVerdict(%q) = %v, the reply says %v", reply, same, v)
		}
	})
}
