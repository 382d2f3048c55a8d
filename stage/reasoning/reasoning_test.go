package reasoning

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synthloop/synthloop/answer"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	"github.com/synthloop/synthloop/verify"
)

// problems reads the example's arithmetic problems.
func problems(t *testing.T) []*record.Record {
	t.Helper()
	f, err := os.Open("../../examples/reasoning/arithmetic.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []*record.Record
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p struct{ Question, Answer string }
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, &record.Record{ID: fmt.Sprintf("p%02d", len(out)), Stage: "problems", Seq: int64(len(out) + 1), Status: record.Kept,
			Instruction: p.Question, Output: p.Answer})
	}
	return out
}

func seed(t *testing.T, recs []*record.Record) *pipelinetest.MemStore {
	t.Helper()
	st := pipelinetest.NewMemStore()
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "problems", Key: "seed", Records: recs}); err != nil {
		t.Fatal(err)
	}
	return st
}

func env(st *pipelinetest.MemStore, b model.Backend) *pipeline.Env {
	return &pipeline.Env{Name: "traces", Input: "problems", Store: st, Seed: 1, Concurrency: 2,
		Clock: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
			return b, pipeline.ModelInfo{Backend: "scripted", Model: name}, nil
		}}
}

func run(t *testing.T, st *pipelinetest.MemStore, cfg *Config, b model.Backend) error {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s.Run(context.Background(), env(st, b))
}

func config() *Config {
	c := DefaultConfig()
	c.Model, c.N = "teacher", 6
	return c
}

// TestScriptedSolvesTheProblems checks the example's references against
// the stand-in: over many samples its majority answer is the reference, so
// the example's pass rates come from its deliberate slips alone.
func TestScriptedSolvesTheProblems(t *testing.T) {
	s, err := New(config())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems(t) {
		msgs, _ := s.render(p)
		resp, err := scripted.New(3).Generate(context.Background(), model.Request{Messages: msgs, N: 15})
		if err != nil {
			t.Fatal(err)
		}
		right := 0
		for _, c := range resp.Choices {
			sm := split(c.Text, c.Reasoning, answer.Extractor{})
			if answer.Equal(sm.answer, p.Output, answer.Tolerance{}) {
				right++
			}
		}
		if right < 8 {
			t.Errorf("%s: only %d of 15 scripted samples equal the reference %s; e.g. %q", p.Instruction, right, p.Output, resp.Choices[0].Text)
		}
	}
}

// TestReasoning: every problem gets a problem record with its pass rate and
// samples, verified traces are kept (the shortest first) with a wrong sample
// beside them for DPO, and the stats add up.
func TestReasoning(t *testing.T) {
	st := seed(t, problems(t))
	cfg := config()
	cfg.ReasoningEffort = "high" // the stand-in then gives its reasoning apart
	if err := run(t, st, cfg, scripted.New(1)); err != nil {
		t.Fatal(err)
	}
	var probs, traces, pairs, mixed int
	for _, r := range st.All("traces") {
		switch r.Meta["kind"] {
		case KindProblem:
			probs++
			rate := r.Scores["pass_rate"]
			if len(r.Candidates) != 6 || r.Status != record.Kept || r.Meta["reference"] == "" || r.Instruction == "" || !strings.Contains(r.Instruction, `\boxed`) {
				t.Errorf("problem record %s: %s, %d candidates, meta %v", r.ID, r.Status, len(r.Candidates), r.Meta)
			}
			if rate > 0 && rate < 1 {
				mixed++
			}
			for _, c := range r.Candidates {
				if c.Reasoning == "" || c.Scores == nil {
					t.Errorf("%s: a candidate without its reasoning or verdict: %+v", r.ID, c)
				}
			}
		case KindTrace:
			traces++
			if r.Reasoning == "" || !strings.Contains(r.Output, `\boxed`) || r.Meta["inline_trace"] != false || r.Scores["verifier"] != 1 {
				t.Errorf("trace %s: reasoning %q output %q meta %v", r.ID, r.Reasoning, r.Output, r.Meta)
			}
			if !answer.Equal(r.Meta["answer"].(string), r.Meta["reference"].(string), answer.Tolerance{}) {
				t.Errorf("trace %s kept with answer %v for reference %v", r.ID, r.Meta["answer"], r.Meta["reference"])
			}
			if r.Chosen != "" {
				pairs++
				if r.Rejected == "" || r.Meta["rejected_reasoning"] == "" || r.Chosen != r.Output {
					t.Errorf("trace %s: pair chosen %q rejected %q", r.ID, r.Chosen, r.Rejected)
				}
			}
		}
	}
	if probs != 22 || traces < 15 || pairs == 0 || mixed == 0 {
		t.Errorf("%d problems, %d traces, %d DPO pairs, %d problems with 0 < pass < 1", probs, traces, pairs, mixed)
	}
	sum, err := Summarize(context.Background(), st, "traces")
	if err != nil {
		t.Fatal(err)
	}
	if sum.Problems != 22 || sum.Samples != 132 || sum.Traces != traces || sum.Inline != 0 || sum.AllCorrect+sum.NoneCorrect+sum.Mixed != 22 ||
		!(sum.Chars.Median > 50) || !(sum.Chars.P90 >= sum.Chars.Median) || !(sum.Tokens.Mean > 10) || !(sum.MeanPassRate > 0.3 && sum.MeanPassRate < 1) {
		t.Errorf("summary %+v", sum)
	}
	t.Log(sum)
}

// TestInlineTraces: without a reasoning channel the trace is cut from the
// reply (at <think> tags, or before the line stating the answer).
func TestInlineTraces(t *testing.T) {
	st := seed(t, problems(t)[:6])
	if err := run(t, st, config(), scripted.New(1)); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, r := range st.All("traces") {
		if r.Meta["kind"] != KindTrace {
			continue
		}
		n++
		if r.Meta["inline_trace"] != true || !strings.HasPrefix(r.Reasoning, "Let me work through") || strings.Contains(r.Reasoning, "<think>") ||
			strings.Contains(r.Reasoning, `\boxed`) || !strings.Contains(r.Output, `\boxed`) {
			t.Errorf("trace %s: reasoning %q, output %q", r.ID, r.Reasoning, r.Output)
		}
	}
	if n == 0 {
		t.Error("no trace kept")
	}
}

func TestSplit(t *testing.T) {
	e := answer.Extractor{}
	for _, tc := range []struct{ text, reasoning, trace, rest, ans string }{
		{"The answer is \\boxed{4}.", "2+2=4", "2+2=4", "The answer is \\boxed{4}.", "4"},
		{"<think>\n2+2=4\n</think>\n\nSo \\boxed{4}", "", "2+2=4", "So \\boxed{4}", "4"},
		{"<think>cut off mid-thought", "", "cut off mid-thought", "", ""},
		{"2+2 is 4.\nCheck: yes.\nAnswer: 4", "", "2+2 is 4.\nCheck: yes.", "Answer: 4", "4"},
		{"no answer at all", "", "", "no answer at all", ""},
	} {
		s := split(tc.text, tc.reasoning, e)
		if s.trace != tc.trace || s.text != tc.rest || s.answer != tc.ans {
			t.Errorf("split(%q, %q) = %q / %q / %q; want %q / %q / %q", tc.text, tc.reasoning, s.trace, s.text, s.answer, tc.trace, tc.rest, tc.ans)
		}
	}
}

func FuzzSplit(f *testing.F) {
	f.Add("<think>a</think>b \\boxed{1}", "")
	f.Add("x\nAnswer: 3", "")
	f.Add("\\boxed{", "r")
	f.Add("<think><think></think>", "")
	f.Fuzz(func(t *testing.T, text, reasoning string) {
		s := split(text, reasoning, answer.Extractor{})
		if s.trace != strings.TrimSpace(s.trace) || s.text != strings.TrimSpace(s.text) {
			t.Fatalf("split(%q) left surrounding space: %+v", text, s)
		}
		if strings.TrimSpace(reasoning) == "" && !strings.Contains(text, s.trace) {
			t.Fatalf("split(%q): the trace %q is not from the reply", text, s.trace)
		}
	})
}

// TestVote: with reference: vote the majority answer becomes the reference;
// a problem whose samples do not agree enough is rejected.
func TestVote(t *testing.T) {
	recs := problems(t)[:8]
	for _, r := range recs {
		r.Output = "" // no reference: the samples establish it
	}
	st := seed(t, recs)
	cfg := config()
	cfg.Reference, cfg.VoteThreshold = RefVote, 0.5
	if err := run(t, st, cfg, scripted.New(1)); err != nil {
		t.Fatal(err)
	}
	agreed := 0
	want := map[string]string{}
	for _, p := range problems(t)[:8] {
		want["traces:"+p.ID] = p.Output
	}
	for _, r := range st.All("traces") {
		if r.Meta["kind"] != KindProblem || r.Status != record.Kept {
			continue
		}
		agreed++
		if !answer.Equal(r.Meta["reference"].(string), want[r.ID], answer.Tolerance{}) {
			t.Errorf("%s: voted %v, the true answer is %s (%v)", r.ID, r.Meta["reference"], want[r.ID], r.Meta["vote"])
		}
	}
	if agreed < 6 {
		t.Errorf("only %d of 8 problems reached agreement", agreed)
	}
}

// TestDifficultyFilter: min_pass and max_pass reject problems outside the
// range, and their traces with them.
func TestDifficultyFilter(t *testing.T) {
	st := seed(t, problems(t))
	cfg := config()
	cfg.MinPass, cfg.MaxPass = 0.01, 0.99
	if err := run(t, st, cfg, scripted.New(1)); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.All("traces") {
		rate := r.Scores["pass_rate"]
		if inside := rate > 0 && rate < 1; inside != (r.Status == record.Kept) {
			t.Errorf("%s: pass rate %.2f, status %s", r.ID, rate, r.Status)
		}
	}
}

type failing struct{ err error }

func (f failing) Generate(context.Context, model.Request) (*model.Response, error) { return nil, f.err }

// TestFailures: a transient failure leaves the unit undone for a rerun; a
// permanent one fails the problem's record; a record without a reference
// fails alone.
func TestFailures(t *testing.T) {
	recs := problems(t)[:2]
	st := seed(t, recs)
	transient := &model.Error{Transient: true, Err: errors.New("503")}
	err := run(t, st, config(), failing{transient})
	if !errors.Is(err, pipeline.ErrTransient) || len(st.All("traces")) != 0 {
		t.Fatalf("transient: %v, %d records", err, len(st.All("traces")))
	}
	if err := run(t, st, config(), failing{&model.Error{Err: errors.New("400 bad request")}}); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.All("traces") {
		if r.Status != record.Failed || !strings.Contains(r.Error, "400") {
			t.Errorf("%s: %s %q", r.ID, r.Status, r.Error)
		}
	}
	recs = problems(t)[:1]
	recs[0].Output = ""
	st = seed(t, recs)
	if err := run(t, st, config(), scripted.New(1)); err != nil {
		t.Fatal(err)
	}
	if r := st.All("traces"); len(r) != 1 || r[0].Status != record.Failed || !strings.Contains(r[0].Error, "no reference") {
		t.Errorf("no reference: %+v", r)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, mod := range []func(*Config){
		func(c *Config) { c.Model = "" },
		func(c *Config) { c.N = 0 },
		func(c *Config) { c.Prefer = "longest" },
		func(c *Config) { c.Reference = "oracle" },
		func(c *Config) { c.Extract = "box" },
		func(c *Config) { c.Problem = "meta." },
		func(c *Config) { c.Prompt = "{{.problem" },
		func(c *Config) { c.Language = "fr" },
		func(c *Config) { c.MinPass, c.MaxPass = 0.8, 0.2 },
		func(c *Config) { c.Reference, c.Verifier = RefVote, &verify.Config{Kind: verify.Exact} },
	} {
		c := config()
		mod(c)
		if _, err := New(c); err == nil {
			t.Errorf("New(%+v): want an error", c)
		}
	}
}

// countingBackend counts the requests it answers.
type countingBackend struct {
	model.Backend
	calls atomic.Int64
}

func (b *countingBackend) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	b.calls.Add(1)
	return b.Backend.Generate(ctx, req)
}

// TestVerifierSetupStopsTheStage: a command verifier that cannot run its
// program (the shell finds no script) stops the stage with one error
// before any model request, rather than failing every problem one by one;
// and a verifier error in a unit stops the stage with the unit undone, as
// a tool that cannot run does in the tools stage.
func TestVerifierSetupStopsTheStage(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	cfg := config()
	cfg.Verifier = &verify.Config{Kind: verify.Command, Command: []string{bash, "no-such-check.sh"}, AllowNetwork: true}
	st := seed(t, problems(t))
	b := &countingBackend{Backend: scripted.New(1)}
	err = run(t, st, cfg, b)
	if err == nil || !strings.Contains(err.Error(), "reasoning: verifier") || !strings.Contains(err.Error(), "no-such-check.sh") {
		t.Fatalf("Run: %v, want one verifier error naming the script", err)
	}
	if n := b.calls.Load(); n != 0 {
		t.Errorf("%d model requests before the verifier was found broken, want 0", n)
	}
	n := 0
	for range st.Records(context.Background(), "traces", "") {
		n++
	}
	if n != 0 {
		t.Errorf("%d records written, want none", n)
	}

	// Broken after the start: the unit is left undone, not failed.
	s, err := New(config())
	if err != nil {
		t.Fatal(err)
	}
	s.verifier = brokenVerifier{}
	err = s.Run(context.Background(), env(st, scripted.New(1)))
	if err == nil || !strings.Contains(err.Error(), "verifier down") {
		t.Fatalf("Run with a verifier that errs: %v", err)
	}
	for r := range st.Records(context.Background(), "traces", record.Failed) {
		t.Errorf("record %s failed (%s): a verifier error should stop the stage, not fail records", r.ID, r.Error)
	}
}

type brokenVerifier struct{}

func (brokenVerifier) Verify(context.Context, verify.Check) (verify.Verdict, error) {
	return verify.Verdict{}, errors.New("verifier down")
}

// TestCarriesAttributes: problems that carry sample attributes pass them
// to their problem and trace records; the summary gives the pass rate per
// value and how the kept traces cover each attribute.
func TestCarriesAttributes(t *testing.T) {
	ps := problems(t)
	labels := map[string]string{}
	spec := attrs.Spec{Columns: []string{"difficulty", "size"}, Kinds: map[string]string{"difficulty": "category", "size": "int"}, Possible: map[string]int{"difficulty": 2}}
	for i, p := range ps {
		d := "easy"
		if strings.Count(p.Instruction, ".") > 2 {
			d = "hard"
		}
		labels[p.ID] = d
		p.Meta = map[string]any{"difficulty": d, "size": i, attrs.SpecKey: spec, attrs.FromKey: fmt.Sprintf("attrs:%d", i)}
	}
	st := seed(t, ps)
	if err := run(t, st, config(), scripted.New(1)); err != nil {
		t.Fatal(err)
	}
	want := map[string]int{}
	for _, r := range st.All("traces") {
		pid, _ := r.Meta["problem_id"].(string)
		if r.Meta["difficulty"] != labels[pid] || r.Meta[attrs.FromKey] == nil || r.Meta[attrs.SpecKey] == nil {
			t.Errorf("%s: difficulty %v, from %v; want %s", r.ID, r.Meta["difficulty"], r.Meta[attrs.FromKey], labels[pid])
		}
		if r.Meta["kind"] == KindProblem && r.Status != record.Failed {
			want[labels[pid]]++
		}
	}
	sum, err := Summarize(context.Background(), st, "traces")
	if err != nil {
		t.Fatal(err)
	}
	if len(sum.ByAttribute) != 1 || sum.ByAttribute[0].Name != "difficulty" {
		t.Fatalf("by attribute: %+v (the int column has no per-value rate)", sum.ByAttribute)
	}
	for _, v := range sum.ByAttribute[0].Values {
		if v.Problems != want[v.Value] || v.MeanPassRate < 0 || v.MeanPassRate > 1 {
			t.Errorf("%s: %d problems, mean %.2f; want %d", v.Value, v.Problems, v.MeanPassRate, want[v.Value])
		}
	}
	if sum.Coverage.Records != sum.Traces || len(sum.Coverage.Columns) != 2 {
		t.Errorf("coverage %+v of %d kept traces", sum.Coverage, sum.Traces)
	}
	out := sum.String()
	if !strings.Contains(out, "pass rate by difficulty: ") || !strings.Contains(out, "kept traces' coverage of") {
		t.Errorf("summary:\n%s", out)
	}
	t.Logf("\n%s", out)

	// A column named like one of the stage's own fields is refused first.
	bad := problems(t)[:1]
	bad[0].Meta = map[string]any{"answer": "x", attrs.SpecKey: attrs.Spec{Columns: []string{"answer"}}}
	if err := run(t, seed(t, bad), config(), scripted.New(1)); err == nil || !strings.Contains(err.Error(), `attribute "answer"`) {
		t.Errorf("a column named answer: %v", err)
	}
}
