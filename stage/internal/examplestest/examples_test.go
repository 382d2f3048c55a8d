package examplestest

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
	_ "github.com/synthloop/synthloop/stage/judge"
	"github.com/synthloop/synthloop/stage/reject"
	_ "github.com/synthloop/synthloop/stage/selfinstruct"
	"github.com/synthloop/synthloop/stage/selfreward"
)

// run parses an example as shipped and runs it with every model pointed at
// the scripted server, so nothing but the endpoints differs from a real run.
func run(t *testing.T, file string) *pipelinetest.MemStore {
	t.Helper()
	return runWith(t, file, nil)
}

// runWith is run with the models named in local opened from those
// built-in model directories instead.
func runWith(t *testing.T, file string, local map[string]string) *pipelinetest.MemStore {
	t.Helper()
	path := filepath.Join("..", "..", "..", "examples", file)
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := pipeline.ParseConfig(path, data)
	if err != nil {
		t.Fatal(err)
	}
	srv := stagetest.Server(t)
	st := pipelinetest.NewMemStore()
	err = pipeline.Run(context.Background(), cfg, pipeline.Options{
		Store: st,
		Cache: st,
		OpenModel: func(ctx context.Context, name string, _ model.Config, opts model.Options) (model.Backend, model.Info, error) {
			opts.Sleep = func(context.Context, time.Duration) error { return nil }
			if dir, ok := local[name]; ok {
				return model.Open(ctx, name, model.Config{Ref: "local/" + dir}, opts)
			}
			return model.Open(ctx, name, model.Config{Ref: "openai-compatible/" + name, BaseURL: srv.URL}, opts)
		},
		Now: stagetest.Clock,
	})
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func count(recs []*record.Record, s record.Status) int {
	n := 0
	for _, r := range recs {
		if r.Status == s {
			n++
		}
	}
	return n
}

func TestRejectSamplingExample(t *testing.T) {
	st := run(t, "reject-sampling.yaml")
	prompts := count(st.All("instructions"), record.Kept)
	best := st.All("best")
	if prompts < 40 || len(best) != prompts || count(best, record.Kept) != prompts {
		t.Fatalf("%d instructions, %d best-of-4 records, %d kept; want one kept record per instruction", prompts, len(best), count(best, record.Kept))
	}
	for _, r := range best[:3] {
		if len(r.Candidates) != 4 || r.Scores["judge"] != 5 || r.Prov.Model != "teacher" {
			t.Errorf("%s: %d candidates, best score %v, model %q", r.ID, len(r.Candidates), r.Scores["judge"], r.Prov.Model)
		}
	}
	sum, err := reject.Summarize(context.Background(), st, "best")
	if err != nil || sum.Scored != 4*prompts || sum.Accepted != 2*prompts {
		t.Errorf("Summarize = %v, %v; want %d scored and half accepted (the scripted qualities 2, 5, 3, 4)", sum, err, 4*prompts)
	}
}

func TestSelfRewardingExample(t *testing.T) {
	st := run(t, "self-rewarding.yaml")
	pairs := st.All("pairs")
	checked := st.All("checked")
	if len(pairs) < 40 || count(pairs, record.Kept) != len(pairs) || len(checked) != len(pairs) || count(checked, record.Kept) != len(pairs) {
		t.Fatalf("pairs %d (kept %d), checked %d (kept %d)", len(pairs), count(pairs, record.Kept), len(checked), count(checked, record.Kept))
	}
	r := checked[0]
	// prefer_shorter with near_tie 0.5: the scripted 5 has no near rival, so it is chosen.
	if r.Chosen == "" || r.Rejected == "" || r.Scores["chosen"] != 5 || r.Scores["rejected"] != 2 || r.Scores["pairwise"] != 1 {
		t.Errorf("checked pair %+v", r)
	}
	rounds, err := selfreward.Lengths(context.Background(), st, "pairs")
	if err != nil || len(rounds) != 1 || rounds[0].Pairs != len(pairs) || rounds[0].ChosenLonger != 1 {
		t.Errorf("Lengths = %+v, %v", rounds, err)
	}
}

func TestJudgePanelExample(t *testing.T) {
	st := run(t, "judge-panel.yaml")
	judged := st.All("judged")
	if len(judged) == 0 || len(judged) != count(st.All("tasks"), record.Kept) {
		t.Fatalf("%d judged of %d tasks", len(judged), count(st.All("tasks"), record.Kept))
	}
	// The scripted judges score unmarked answers 1..10 by a hash of the
	// text, the same on both backends: full agreement, and about a third of
	// the records at 7 or more.
	kept := count(judged, record.Kept)
	if kept == 0 || kept == len(judged) || count(judged, record.Failed) != 0 {
		t.Errorf("%d of %d kept, %d failed; want some kept, some rejected, none failed", kept, len(judged), count(judged, record.Failed))
	}
	for _, r := range judged {
		s := r.Scores["judge"]
		if s < 1 || s > 10 || (r.Status == record.Kept) != (s >= 7) || r.Prov.Backend != "panel" {
			t.Fatalf("%s: %s with score %v (provenance %+v)", r.ID, r.Status, s, r.Prov)
		}
		b, _ := json.Marshal(r.Meta["judgment"])
		if !strings.Contains(string(b), `"agreement":1`) || !strings.Contains(string(b), `"members"`) {
			t.Fatalf("%s: judgment lacks the members and their agreement: %s", r.ID, b)
		}
	}
}

// TestStructuredJudgeExample runs examples/structured-judge.yaml with its
// judge an untrained built-in model: under the schema every record is
// scored.
func TestStructuredJudgeExample(t *testing.T) {
	st := runWith(t, "structured-judge.yaml", map[string]string{"judge": stagetest.TinyModel(t, 4096)})
	judged := st.All("judged")
	if len(judged) == 0 || len(judged) != count(st.All("tasks"), record.Kept) {
		t.Fatalf("%d judged of %d tasks", len(judged), count(st.All("tasks"), record.Kept))
	}
	for _, r := range judged {
		b, _ := json.Marshal(r.Meta["judgment"])
		if _, ok := r.Scores["judge"]; !ok || r.Status == record.Failed || !strings.Contains(string(b), `"structured":"native"`) {
			t.Errorf("%s: %s %q, judgment %s", r.ID, r.Status, r.Error, b)
		}
	}
}

// TestStageDocExamples parses the Example snippet each stage type shows in
// `synthloop stages`, so the help never shows a config that fails.
func TestStageDocExamples(t *testing.T) {
	for _, name := range []string{"reject", "judge", "selfreward"} {
		st, ok := pipeline.Lookup(name)
		if !ok {
			t.Fatalf("stage type %s is not registered", name)
		}
		if st.Doc == "" || st.Example == "" {
			t.Errorf("%s: no doc or example", name)
		}
		var b strings.Builder
		b.WriteString("name: t\nmodels:\n")
		for _, m := range []string{"teacher", "critic", "student", "other"} {
			b.WriteString("  " + m + ": {ref: ollama/x}\n")
		}
		b.WriteString("stages:\n  - name: first\n    type: selfinstruct\n    with: {model: teacher}\n")
		for _, l := range strings.Split(strings.TrimRight(st.Example, "\n"), "\n") {
			b.WriteString("  " + l + "\n")
		}
		if _, err := pipeline.ParseConfig(name+".yaml", []byte(b.String())); err != nil {
			t.Errorf("%s: the documented example does not parse: %v\n%s", name, err, b.String())
		}
	}
}
