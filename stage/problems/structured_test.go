package problems

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

var fresh = []string{
	"A train leaves at nine and travels sixty kilometres each hour. How far has it gone by noon?",
	"Sara reads twenty pages every evening for two weeks. How many pages does she read in total?",
	"Each box of crayons holds eight colours; the teacher opens seven boxes. How many crayons are out?",
}

// TestStructuredProblems: with structured on the teacher is sent the
// problems schema (at most per_prompt problems) and its JSON list is read;
// a backend that refuses the schema is asked for the Problem N: list.
func TestStructuredProblems(t *testing.T) {
	for _, tc := range []struct {
		setting        string
		refuse         bool
		native, prompt int
		label          string
	}{
		{"native", false, 1, 0, "native"},
		{"prompt", false, 0, 1, "prompt"},
		{"auto", true, 1, 0, "text"},
	} {
		srv := stagetest.NewSchemaServer(t, tc.refuse, func(req *modeltest.Request, asked string) string {
			if asked == stagetest.AskedText {
				return fresh[0] + "\n\nProblem 5: " + fresh[1] + "\n\nProblem 6: " + fresh[2]
			}
			b, _ := json.Marshal(map[string]any{"problems": fresh})
			return string(b)
		})
		st := seeded(t)
		c := config()
		c.Target, c.PerPrompt, c.MaxBatches, c.Structured = 3, 3, 1, tc.setting
		run(t, st, c, srv.Backend(t, "teacher"))
		var kept []string
		for _, r := range st.All("invented") {
			if r.Prov.Params["structured"] != tc.label || r.Prov.Params["schema"] == nil {
				t.Errorf("%s: %s params %v", tc.setting, r.ID, r.Prov.Params)
			}
			if r.Status == record.Kept {
				kept = append(kept, r.Instruction)
			}
		}
		if strings.Join(kept, "|") != strings.Join(fresh, "|") || srv.Count(stagetest.AskedNative) != tc.native || srv.Count(stagetest.AskedPrompt) != tc.prompt {
			t.Errorf("%s: kept %q; %d native, %d prompt requests", tc.setting, kept, srv.Count(stagetest.AskedNative), srv.Count(stagetest.AskedPrompt))
		}
		if tc.native > 0 && !strings.Contains(srv.Schemas()[0], `"maxItems":3`) {
			t.Errorf("%s: schema %s", tc.setting, srv.Schemas()[0])
		}
	}
}

func TestParseShaped(t *testing.T) {
	s := problemsSchema(2)
	for _, tc := range []struct {
		reply string
		want  []item
		err   string
	}{
		{`{"problems":["Two plus two?","Three apples.\nAnswer: 3"]}`, []item{{N: 4, Text: "Two plus two?"}, {N: 5, Text: "Three apples.", Cut: true}}, ""},
		{`{"problems":["a","b","c"]}`, nil, "maxItems"},
		{`{"problems":["a"],"answers":[1]}`, nil, "additional"},
		{"Problem 4: Two plus two?", nil, "JSON"},
	} {
		got, err := parseShaped(s, tc.reply, 4)
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parseShaped(%q) = %v, want an error with %q", tc.reply, err, tc.err)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Fatalf("parseShaped(%q) = %+v, %v", tc.reply, got, err)
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("parseShaped(%q)[%d] = %+v, want %+v", tc.reply, i, got[i], tc.want[i])
			}
		}
	}
}

func FuzzParseShaped(f *testing.F) {
	for _, s := range []string{`{"problems":["a b c"]}`, `{"problems":[" ","x\nSolution: y"]}`, `{"problems":[]}`, "```json\n{\"problems\":[\"q\"]}\n```"} {
		f.Add(s)
	}
	s := problemsSchema(3)
	f.Fuzz(func(t *testing.T, reply string) {
		items, err := parseShaped(s, reply, 1)
		if err != nil {
			return
		}
		if len(items) > 3 {
			t.Errorf("%q gave %d problems, more than the schema's 3", reply, len(items))
		}
		for _, it := range items {
			if it.Text == "" || it.Text != strings.TrimSpace(it.Text) || solutionRe.MatchString(it.Text) {
				t.Errorf("%q gave problem %q", reply, it.Text)
			}
		}
	})
}
