package codet

import (
	"context"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/verify"
)

// needPython fails a test that runs the harness where the sandbox's PATH
// has no python3: scripts/test.sh installs it, and a skip would hide that
// the code path went untested.
func needPython(t *testing.T) {
	t.Helper()
	if err := exec.Command("/usr/bin/env", "PATH=/usr/local/bin:/usr/bin:/bin", "python3", "-c", "pass").Run(); err != nil {
		t.Fatalf("no python3 on /usr/local/bin:/usr/bin:/bin (scripts/test.sh installs Debian's python3-minimal): %v", err)
	}
}

func TestConsensus(t *testing.T) {
	T, F := true, false
	for _, tc := range []struct {
		name   string
		runs   [][]bool
		size   int
		tests  int
		score  int
		passes []bool
	}{
		// Three solutions agree on tests 0 and 1 (score 6); one passes all
		// three (score 3): agreement beats a lone solution passing more.
		{"agreement wins", [][]bool{{T, T, F}, {T, T, T}, {T, T, F}, {T, T, F}}, 3, 2, 6, []bool{T, T, F}},
		// Equal scores: the set passing more tests wins.
		{"tie to more tests", [][]bool{{T, F, F, F}, {T, F, F, F}, {T, T, T, T}}, 1, 4, 4, []bool{T, T, T, T}},
		{"nothing passes", [][]bool{{F, F}, {F, F}}, 0, 0, 0, []bool{F, F}},
		{"did not run", [][]bool{nil, {T}}, 1, 1, 1, []bool{T}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := make([]run, len(tc.runs))
			for i, p := range tc.runs {
				runs[i] = run{code: "x", passed: p}
			}
			best, sets := consensus(runs, len(tc.runs[len(tc.runs)-1]))
			if best.size != tc.size || best.tests != tc.tests || best.score != tc.score || len(sets) == 0 || fmtBools(best.passes) != fmtBools(tc.passes) {
				t.Errorf("consensus = %+v (sets %v); want size %d, tests %d, score %d, passes %v", best, sets, tc.size, tc.tests, tc.score, tc.passes)
			}
		})
	}
}

func fmtBools(bs []bool) string {
	var b strings.Builder
	for _, x := range bs {
		if x {
			b.WriteByte('1')
		} else {
			b.WriteByte('0')
		}
	}
	return b.String()
}

func problemRecords(t *testing.T, st *pipelinetest.MemStore, problems ...string) {
	t.Helper()
	var recs []*record.Record
	for i, p := range problems {
		recs = append(recs, &record.Record{ID: string(rune('a' + i)), Stage: "invented", Seq: int64(i + 1), Status: record.Kept, Instruction: p})
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "invented", Key: "k", Records: recs}); err != nil {
		t.Fatal(err)
	}
}

func TestRunEstablishesTests(t *testing.T) {
	needPython(t)
	st := pipelinetest.NewMemStore()
	problemRecords(t, st,
		"Write a Python function `sum_even(xs)` that returns the sum of the even numbers in the list of integers xs (0 for an empty list).",
		"Write a Python function `count_vowels(s)` that returns how many vowels (a, e, i, o, u, in either case) the string s contains.",
		"Write a Python function `digit_sum(n)` that returns the sum of the decimal digits of the non-negative integer n.",
		"Write a Python function `dedupe(xs)` that returns the list xs without repeated elements, keeping the first occurrence of each in its original order.",
		"Describe your favourite colour.",
	)
	c := DefaultConfig()
	c.Model = "teacher"
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	env := &pipeline.Env{Name: "established", Input: "invented", Store: st, Seed: 1, Concurrency: 2,
		Clock: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
			return scripted.New(1), pipeline.ModelInfo{Backend: "scripted", Model: name}, nil
		}}
	if err := s.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	recs := st.All("established")
	if len(recs) != 5 {
		t.Fatalf("%d records", len(recs))
	}
	v, err := verify.New(&verify.Config{Kind: verify.Command, Command: s.verifier["command"].([]string), Timeout: "30s"})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range recs[:4] {
		t.Logf("%s: %s %s", r.ID, r.Status, r.Decisions[len(r.Decisions)-1].Reason)
		ref, _ := r.Meta["reference"].(string)
		rate := r.Scores["pass_rate"]
		if ref == "" || rate <= 0 || !strings.Contains(r.Output, "def ") || len(r.Candidates) != 8 {
			t.Fatalf("%s: %s, reference %q, pass rate %v, %d candidates, decisions %+v", r.ID, r.Status, ref, rate, len(r.Candidates), r.Decisions)
		}
		// The reference solution passes the established tests under the
		// exported verifier; the rejected one of the DPO pair does not.
		if got, err := v.Verify(context.Background(), verify.Check{Candidate: r.Output, Reference: ref}); err != nil || !got.Pass {
			t.Errorf("%s: the reference solution fails its tests: %+v, %v", r.ID, got, err)
		}
		if r.Rejected != "" {
			if got, err := v.Verify(context.Background(), verify.Check{Candidate: r.Rejected, Reference: ref}); err != nil || got.Pass {
				t.Errorf("%s: the rejected solution passes: %+v, %v", r.ID, got, err)
			}
		}
	}
	if r := recs[4]; r.Status != record.Rejected || r.Decisions[0].Filter != "tests" {
		t.Errorf("a problem the stand-in cannot write tests for: %s %+v", r.Status, r.Decisions)
	}
	sum, err := Summarize(context.Background(), st, "established")
	if err != nil || sum.Problems != 5 || sum.Established != 4 || sum.NoTests != 1 || sum.MeanTests < 1 || sum.MeanPassRate <= 0 {
		t.Errorf("Summarize = %+v, %v", sum, err)
	}
}

func TestHarnessSandboxesBadSolutions(t *testing.T) {
	needPython(t)
	c := DefaultConfig()
	c.Model, c.TestTimeout = "m", 0.5
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	tests := []string{"assert f(1) == 2", "assert f(2) == 3"}
	for _, tc := range []struct {
		name, code string
		passed     string
		err        string
	}{
		{"right", "def f(x):\n    return x + 1", "11", ""},
		{"one wrong", "def f(x):\n    return 2", "10", ""},
		{"prints", "print('noise')\ndef f(x):\n    print(x)\n    return x + 1", "11", ""},
		{"syntax", "def f(x) return x", "", "SyntaxError"},
		{"exits", "import sys\nsys.exit(0)", "", "SystemExit"},
		{"loops in a test", "def f(x):\n    while x: pass\n    return 1", "00", ""},
		{"loops at load", "while True: pass", "", "_Timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			passed, msg, err := s.runOne(context.Background(), tc.code, tests)
			if err != nil || fmtBools(passed) != tc.passed || !strings.Contains(msg, tc.err) {
				t.Errorf("runOne = %v, %q, %v; want %s, %q", passed, msg, err, tc.passed, tc.err)
			}
		})
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no model", func(c *Config) { c.Model = "" }, "model: required"},
		{"n", func(c *Config) { c.N = 0 }, "must be positive"},
		{"pass", func(c *Config) { c.MinPass = 0.5; c.MaxPass = 0.2 }, "min_pass"},
		{"problem", func(c *Config) { c.Problem = "title" }, "problem:"},
		{"command", func(c *Config) { c.Command = []string{"no-such-python-here"} }, "command"},
	} {
		c := DefaultConfig()
		c.Model = "m"
		tc.edit(c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error %v, want %q", tc.name, err, tc.want)
		}
	}
}
