package reject

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
	"github.com/synthloop/synthloop/verify"
)

func newStage(t *testing.T, mut func(*Config)) *Stage {
	t.Helper()
	c := DefaultConfig()
	c.Model = "teacher"
	c.Config.Model = "critic"
	if mut != nil {
		mut(c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var prompts = []string{
	"Explain the tides.",               // 2,5,3,4: best 5, kept
	"Name a colour. qualities 1,2,3,2", // best 3 < 4: rejected
	"Judge fails. qualities 9,8,9,8",   // nothing scorable: failed, with the error
	"Some fail. qualities 8,4,9,2",     // best of the scorable is 4: kept
}

func run(t *testing.T, st *pipelinetest.MemStore, srv *modeltest.Server, s *Stage) {
	t.Helper()
	if err := s.Run(context.Background(), stagetest.Env(t, srv, st, "best", "prompts")); err != nil {
		t.Fatal(err)
	}
}

func TestBestOfN(t *testing.T) {
	st := pipelinetest.NewMemStore()
	srv := stagetest.Server(t)
	stagetest.Seed(t, st, "prompts", prompts...)
	run(t, st, srv, newStage(t, nil))
	recs := st.All("best")
	if len(recs) != 4 {
		t.Fatalf("%d records, want 4", len(recs))
	}
	want := []struct {
		status record.Status
		best   float64
		scored int
	}{{record.Kept, 5, 4}, {record.Rejected, 3, 4}, {record.Failed, 0, 0}, {record.Kept, 4, 2}}
	for i, r := range recs {
		w := want[i]
		if r.Status != w.status || len(r.Candidates) != 4 {
			t.Errorf("%s: status %s with %d candidates, want %s with 4 (error %q)", r.ID, r.Status, len(r.Candidates), w.status, r.Error)
			continue
		}
		scored := 0
		for _, c := range r.Candidates {
			if _, ok := c.Scores["judge"]; ok {
				scored++
			}
		}
		if scored != w.scored {
			t.Errorf("%s: %d candidates scored, want %d", r.ID, scored, w.scored)
		}
		if r.Prov.Generator != "reject" || len(r.Prov.TemplateHash) != 64 || r.Prov.ParentIDs[0] != r.ID[len("best:"):] ||
			r.Prov.Params["n"] != float64(4) || r.Prov.Params["temperature"] != 0.7 || r.Prov.Params["top_p"] != 0.9 || len(r.Prov.RequestKeys) < 5 ||
			!r.Prov.CreatedAt.Equal(stagetest.Clock()) || r.Prov.Round != 1 {
			t.Errorf("%s: provenance %+v", r.ID, r.Prov)
		}
		if r.Meta["judgments"] == nil {
			t.Errorf("%s: no judgments on the record", r.ID)
		}
		if w.status == record.Failed {
			if !strings.Contains(r.Error, "no candidate could be scored") || !strings.Contains(r.Error, "no valid score") {
				t.Errorf("%s: error %q does not say the judge gave no score", r.ID, r.Error)
			}
			continue
		}
		if r.Scores["judge"] != w.best || !strings.Contains(r.Output, "[q=") || len(r.Decisions) != 1 {
			t.Errorf("%s: best %v output %q decisions %v, want best %v", r.ID, r.Scores["judge"], r.Output, r.Decisions, w.best)
		}
	}
	// The judge reasons are on the record.
	js, _ := json.Marshal(recs[0].Meta["judgments"])
	if !strings.Contains(string(js), "meets 5 of the criteria") {
		t.Errorf("judgments lack the judge's reasons: %s", js)
	}
	// The candidates were asked for with the paper's decoding.
	for _, r := range srv.Log() {
		if strings.HasPrefix(r.Messages[0].Content, "Explain the tides.") && (r.N != 4 || *r.Temperature != 0.7 || *r.TopP != 0.9 || r.MaxTokens != 1024) {
			t.Errorf("generation request n=%d T=%v top_p=%v max_tokens=%d", r.N, *r.Temperature, *r.TopP, r.MaxTokens)
		}
	}
	sum, err := Summarize(context.Background(), st, "best")
	if err != nil {
		t.Fatal(err)
	}
	// Candidates 16; scored 4+4+0+2 = 10; accepted (≥4): 2 + 0 + 1 = 3.
	if sum.Prompts != 4 || sum.Kept != 2 || sum.Failed != 1 || sum.Candidates != 16 || sum.Scored != 10 || sum.Accepted != 3 ||
		sum.Histogram[5] != 1 || sum.Histogram[2] != 4 || sum.AcceptanceRate != 0.3 {
		t.Errorf("Summarize = %+v", sum)
	}
	if !strings.Contains(sum.String(), "accepted 3 (30.0%)") {
		t.Errorf("String() = %s", sum)
	}
}

func TestKeepAllWithVerifier(t *testing.T) {
	st := pipelinetest.NewMemStore()
	srv := modeltest.NewServer(modeltest.Texts("6 × 7 = 42", "6 × 7 = 42", "It is 41.", "forty-two"))
	defer srv.Close()
	in := &record.Record{ID: "q1", Stage: "prompts", Seq: 1, Status: record.Kept, Instruction: "What is 6 × 7?", Output: "#### 42"}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "prompts", Key: "seed", Records: []*record.Record{in}}); err != nil {
		t.Fatal(err)
	}
	s := newStage(t, func(c *Config) {
		c.Config.Model = ""
		c.Keep = KeepAll
		c.Verifier = &verify.Config{Kind: verify.Numeric}
	})
	run(t, st, srv, s)
	recs := st.All("best")
	var got []string
	for _, r := range recs {
		got = append(got, string(r.Status)+":"+strings.Join(r.Reasons(), ","))
	}
	want := []string{"kept:", "rejected:duplicate: same text as candidate 0", "rejected:threshold: scored 0, below 1", "rejected:threshold: scored 0, below 1"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("keep all = %q, want %q", got, want)
	}
	if recs[0].Scores["verifier"] != 1 || recs[0].Prov.Params["keep"] != "all" {
		t.Errorf("first record %+v", recs[0])
	}
}

func TestResumeIdentical(t *testing.T) {
	srv := stagetest.Server(t)
	dump := func(st *pipelinetest.MemStore) string {
		b, _ := json.Marshal(st.All("best"))
		return string(b)
	}
	ref := pipelinetest.NewMemStore()
	stagetest.Seed(t, ref, "prompts", prompts...)
	run(t, ref, srv, newStage(t, nil))
	want := dump(ref)
	for crash := range len(prompts) {
		st := pipelinetest.NewMemStore()
		stagetest.Seed(t, st, "prompts", prompts...)
		env := stagetest.Env(t, srv, st, "best", "prompts")
		env.Store = &pipelinetest.CrashStore{MemStore: st, N: crash}
		if err := newStage(t, nil).Run(context.Background(), env); !errors.Is(err, pipelinetest.ErrCrash) {
			t.Fatalf("crash after %d: %v", crash, err)
		}
		before := srv.Requests()
		run(t, st, srv, newStage(t, nil))
		if got := dump(st); got != want {
			t.Fatalf("crash after %d commits: the resumed run differs", crash)
		}
		if crash == len(prompts)-1 && srv.Requests() != before {
			t.Errorf("resuming the last unit sent %d requests; its answers were cached", srv.Requests()-before)
		}
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		err  string
	}{
		{"model: teacher\njudge_model: critic\n", ""},
		{"model: teacher\nverifier: {kind: regex, pattern: '^ok$'}\n", ""},
		{"model: teacher\nrubric: {kind: scale, min: 1, max: 10, criteria: [correct]}\nthreshold: 8\n", ""},
		{"model: teacher\npanel: [critic, teacher]\naggregate: majority\n", ""},
		{"model: teacher\njudge_modle: critic\n", `did you mean "judge_model"`},
		{"model: teacher\nkeep: some\n", "keep"},
		{"model: teacher\nverifier: {kind: regex}\n", "pattern is required"},
		{"model: teacher\nverifier: {kind: exact}\njudge_model: critic\n", "not both"},
		{"judge_model: critic\n", "model: required"},
		{"model: teacher\nrubric: {kind: stars}\n", "stars"},
	} {
		text := "name: t\nmodels:\n  teacher: {ref: ollama/x}\n  critic: {ref: ollama/y}\nstages:\n  - name: p\n    type: reject\n    with:\n" + indent(tc.yaml)
		_, err := pipeline.ParseConfig("p.yaml", []byte(text))
		if (tc.err == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), tc.err)) {
			t.Errorf("%s: ParseConfig = %v, want %q", tc.yaml, err, tc.err)
		}
	}
}

func indent(s string) string {
	var b strings.Builder
	for _, l := range strings.Split(strings.TrimRight(s, "\n"), "\n") {
		b.WriteString("      " + l + "\n")
	}
	return b.String()
}

func TestTruncatedCandidatesAreNotScored(t *testing.T) {
	st := pipelinetest.NewMemStore()
	srv := modeltest.NewServer(func(req *modeltest.Request) modeltest.Reply {
		if strings.HasPrefix(req.Messages[0].Content, "You are grading") {
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: "Score: 5"}, {Text: "Score: 5"}, {Text: "Score: 5"}}}
		}
		return modeltest.Reply{Choices: []modeltest.Choice{
			{Text: "A long answer that was cut", FinishReason: "length"},
			{Text: "A complete answer."},
		}}
	})
	defer srv.Close()
	stagetest.Seed(t, st, "prompts", "Explain the tides.")
	run(t, st, srv, newStage(t, func(c *Config) { c.Sampling.N = 2 }))
	r := st.All("best")[0]
	if r.Status != record.Kept || r.Output != "A complete answer." || len(r.Candidates[0].Scores) != 0 {
		t.Errorf("truncated candidate: %s output %q scores %v", r.Status, r.Output, r.Candidates[0].Scores)
	}
	js, _ := json.Marshal(r.Meta["judgments"])
	if !strings.Contains(string(js), "truncated at max_tokens") {
		t.Errorf("judgments %s do not say why candidate 0 has no score", js)
	}
	for _, q := range srv.Log() {
		if strings.Contains(q.Messages[0].Content, "cut") && strings.HasPrefix(q.Messages[0].Content, "You are grading") {
			t.Error("the truncated candidate was sent to the judge")
		}
	}
}

type budgetBackend struct{}

func (budgetBackend) Generate(context.Context, model.Request) (*model.Response, error) {
	return nil, fmt.Errorf("model: call: %w", model.ErrBudgetExceeded)
}

func TestStopErrorsStopTheStage(t *testing.T) {
	st := pipelinetest.NewMemStore()
	stagetest.Seed(t, st, "prompts", "Explain the tides.")
	env := &pipeline.Env{Name: "best", Input: "prompts", Store: st, Concurrency: 1,
		Backend: func(string) (model.Backend, pipeline.ModelInfo, error) {
			return budgetBackend{}, pipeline.ModelInfo{Backend: "x", Model: "x"}, nil
		}}
	err := newStage(t, nil).Run(context.Background(), env)
	if !errors.Is(err, model.ErrBudgetExceeded) {
		t.Fatalf("Run = %v, want the budget error returned", err)
	}
	if n := len(st.All("best")); n != 0 {
		t.Errorf("%d records committed after a stop; a stop is not a record failure", n)
	}
}

type refusingBackend struct{}

func (refusingBackend) Generate(context.Context, model.Request) (*model.Response, error) {
	return nil, errors.New("model: 400 bad request: prompt too long")
}

func TestModelErrorIsRecorded(t *testing.T) {
	st := pipelinetest.NewMemStore()
	stagetest.Seed(t, st, "prompts", "Explain the tides.")
	env := &pipeline.Env{Name: "best", Input: "prompts", Store: st, Concurrency: 1,
		Backend: func(string) (model.Backend, pipeline.ModelInfo, error) {
			return refusingBackend{}, pipeline.ModelInfo{Backend: "x", Model: "x"}, nil
		}}
	if err := newStage(t, nil).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	recs := st.All("best")
	if len(recs) != 1 || recs[0].Status != record.Failed || !strings.Contains(recs[0].Error, "prompt too long") {
		t.Errorf("records %+v, want one failed record carrying the model error", recs)
	}
}
