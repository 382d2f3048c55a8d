// Package codet is the codet stage: tests for a programming problem established without a person, in the manner of CodeT (Chen et al., 2022). The model writes n solutions and some test cases; every solution runs against every test in the sandbox; solutions that pass the same tests form a consensus set scored by its size times the tests it passes, and the best set's tests become the problem's reference.
package codet

import (
	"cmp"
	"context"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"golang.org/x/sync/errgroup"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/verify"
)

//go:embed harness.py
var harness string

// The solution and test prompts.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

// KindProblem is Meta["kind"] of the stage's records, as the reasoning
// stage's problem records, so that the RLVR exports read both alike.
const KindProblem = "problem"

// Config is the `with:` block of a codet stage.
type Config struct {
	Model       string   `yaml:"model" doc:"Writes the solutions and the tests (required)"`
	Problem     string   `yaml:"problem" doc:"Where the problem is: instruction (default), input, output or meta.KEY"`
	N           int      `yaml:"n" doc:"Solutions sampled per problem"`
	Tests       int      `yaml:"tests" doc:"Test cases asked for per test request"`
	TestSamples int      `yaml:"test_samples" doc:"Test requests per problem (their asserts are pooled, repeats dropped)"`
	Temperature *float64 `yaml:"temperature" doc:"Sampling temperature of solutions and tests"`
	MaxTokens   int      `yaml:"max_tokens" doc:"Bounds each reply"`
	Structured  string   `yaml:"structured" doc:"Solutions and tests as JSON that fits built-in schemas ({code} and {tests: [assert lines]}): off (fenced code blocks), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt)"`

	Command      []string `yaml:"command" doc:"The Python interpreter the harness runs under (default [/usr/bin/env, python3], found on the sandbox's PATH)"`
	TestTimeout  float64  `yaml:"test_timeout" doc:"Seconds a solution's definition or one test may run"`
	Timeout      string   `yaml:"timeout" doc:"Bounds one solution's whole run against every test"`
	MemoryMB     int      `yaml:"memory_mb" doc:"Caps the interpreter's address space"`
	AllowNetwork bool     `yaml:"allow_network" doc:"Runs without the network namespace (when the kernel has no unprivileged user namespaces)"`
	Concurrency  int      `yaml:"run_concurrency" doc:"Solutions run at once per problem"`

	MinTests int     `yaml:"min_tests" doc:"Problems whose best consensus set passes fewer tests are rejected"`
	MinPass  float64 `yaml:"min_pass" doc:"Problems with a lower pass rate (share of solutions passing every established test) are rejected"`
	MaxPass  float64 `yaml:"max_pass" doc:"Problems with a higher pass rate are rejected; 0.99 with min_pass 0.01 keeps 0 < pass < 1 for RL"`
}

// DefaultConfig returns the defaults: 8 solutions, 2 requests of 5 tests,
// T=0.8, a 2 s limit per test.
func DefaultConfig() *Config {
	t := 0.8
	return &Config{Problem: "instruction", N: 8, Tests: 5, TestSamples: 2, Temperature: &t, MaxTokens: 1024,
		Command: []string{"/usr/bin/env", "python3"}, TestTimeout: 2, Timeout: "30s", Concurrency: 2, MinTests: 1, MaxPass: 1}
}

// Validate checks the settings when the config is loaded.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// Stage is the codet stage.
type Stage struct {
	cfg          Config
	solve, tests *prompt.Template
	problem      func(*record.Record) string
	sb           *verify.Sandbox
	verifier     map[string]any
	// solveShape and testsShape ask for solutionSchema and testsSchema (the
	// structured setting), through one gate; nil when off.
	solveShape, testsShape *structured.Shaper
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	if c.Model == "" {
		return nil, errors.New("codet: model: required (name of a backend in the models section)")
	}
	if c.N <= 0 || c.Tests <= 0 || c.TestSamples <= 0 || c.MaxTokens < 0 || c.TestTimeout <= 0 || c.Concurrency < 0 || c.MinTests < 0 {
		return nil, errors.New("codet: n, tests, test_samples and test_timeout must be positive; max_tokens, run_concurrency, min_tests not negative")
	}
	if c.MinPass < 0 || c.MaxPass > 1 || c.MinPass > c.MaxPass {
		return nil, errors.New("codet: want 0 <= min_pass <= max_pass <= 1")
	}
	if len(c.Command) == 0 {
		c.Command = DefaultConfig().Command
	}
	s := &Stage{cfg: c}
	var err error
	if s.solveShape, err = structured.NewShaper(c.Structured, solutionSchema); err != nil {
		return nil, fmt.Errorf("codet: %w", err)
	}
	s.testsShape = s.solveShape.With(testsSchema)
	if s.solve, err = prompt.Load(templateFS, "templates/solve.en.tmpl", nil); err != nil {
		return nil, fmt.Errorf("codet: %w", err)
	}
	if s.tests, err = prompt.Load(templateFS, "templates/tests.en.tmpl", nil); err != nil {
		return nil, fmt.Errorf("codet: %w", err)
	}
	if c.Problem == "instruction" || c.Problem == "" {
		s.problem = func(r *record.Record) string { return r.Instruction }
	} else if s.problem, err = bestofn.Reference(c.Problem); err != nil {
		return nil, fmt.Errorf("codet: problem: %w", err)
	}
	run := append(slices.Clone(c.Command), "-c", harness)
	if s.sb, err = verify.NewSandbox(verify.SandboxConfig{Command: append(run, "report"), Timeout: c.Timeout, MemoryMB: c.MemoryMB,
		AllowNetwork: c.AllowNetwork, MaxOutput: 1 << 16}); err != nil {
		return nil, fmt.Errorf("codet: %w", err)
	}
	// The verifier a trainer's reward runs: the same harness in check mode,
	// the established tests as the reference.
	s.verifier = map[string]any{"kind": verify.Command, "command": append(run, "check"), "timeout": c.Timeout}
	if c.AllowNetwork {
		s.verifier["allow_network"] = true
	}
	return s, nil
}

type promptData struct {
	Problem, Language, Fence string
	Count                    int
}

// run is one solution's result against the tests.
type run struct {
	code   string
	passed []bool // by test; nil when the solution did not run
	err    string
}

// Streams implements pipeline.Streaming: a problem's solutions and tests depend on that problem alone.
func (s *Stage) Streams() bool { return true }

// Run establishes the tests of every kept record of the input stage.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	if env.Input == "" {
		return errors.New("codet: needs an input stage holding programming problems (a problems stage with domain: code, or a load)")
	}
	b, err := genkit.Open(env, "codet", s.cfg.Model)
	if err != nil {
		return err
	}
	return pipeline.ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.one(ctx, env, in, b)
	})
}

func (s *Stage) request(t *prompt.Template, problem string, n, count int) (model.Request, error) {
	p, err := t.Render(promptData{Problem: problem, Language: "Python", Fence: "python", Count: count})
	if err != nil {
		return model.Request{}, err
	}
	return model.Request{Messages: []model.Message{{Role: "user", Content: p}}, N: n, Temperature: s.cfg.Temperature, MaxTokens: s.cfg.MaxTokens}, nil
}

func (s *Stage) one(ctx context.Context, env *pipeline.Env, in *record.Record, b genkit.Backend) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	problem := strings.TrimSpace(s.problem(in))
	prov := env.Provenance("codet", b.Info, in.ID)
	prov.TemplateHash = s.solve.Hash
	prov.Params = map[string]any{"n": s.cfg.N, "tests": s.cfg.Tests, "test_samples": s.cfg.TestSamples, "max_tokens": s.cfg.MaxTokens}
	if s.cfg.Temperature != nil {
		prov.Params["temperature"] = *s.cfg.Temperature
	}
	r := &record.Record{ID: env.Name + ":" + in.ID, Stage: env.Name, Status: record.Kept, Prov: prov,
		Meta: map[string]any{"kind": KindProblem, "problem": problem, "problem_id": in.ID, "verifier": s.verifier}}
	fail := func(err error) ([]*record.Record, pipeline.UnitUsage, error) {
		return genkit.Failed(ctx, r, usage, "codet: ", err)
	}
	reject := func(filter, reason string) ([]*record.Record, pipeline.UnitUsage, error) {
		r.Status = record.Rejected
		r.Decisions = append(r.Decisions, record.Decision{Filter: filter, Reason: reason})
		return []*record.Record{r}, usage, nil
	}
	if problem == "" {
		return fail(errors.New("the record holds no problem"))
	}
	fn := functionName(problem)
	solveReq, err := s.request(s.solve, problem, s.cfg.N, 0)
	if err != nil {
		return fail(err)
	}
	testReq, err := s.request(s.tests, problem, s.cfg.TestSamples, s.cfg.Tests)
	if err != nil {
		return fail(err)
	}
	r.Instruction = solveReq.Messages[0].Content
	send := func(sh *structured.Shaper, req model.Request) (*model.Response, structured.Mode, error) {
		var resp *model.Response
		how, err := sh.Do(ctx, req, func(ctx context.Context, req model.Request, _ structured.Mode) error {
			r.Prov.RequestKeys = append(r.Prov.RequestKeys, model.CacheKeys(b.Info.Backend, b.Info.Model, req)...)
			var err error
			resp, err = b.Gen.Generate(ctx, req)
			usage.Count(resp, err)
			return err
		})
		return resp, how, err
	}
	sols, solveHow, err := send(s.solveShape, solveReq)
	s.solveShape.Note(r.Prov.Params, solveHow)
	if err != nil {
		return fail(fmt.Errorf("generate solutions: %w", err))
	}
	tresp, testsHow, err := send(s.testsShape, testReq)
	if err != nil {
		return fail(fmt.Errorf("generate tests: %w", err))
	}
	if sols.Model != "" {
		r.Prov.Model = sols.Model
	}
	tests := s.distinctTests(tresp, fn, testsHow)
	runs := s.solutions(sols, solveHow)
	r.Meta["tests"] = tests
	defer func() {
		if e := runErrors(runs); e != nil {
			r.Meta["run_errors"] = e
		}
	}()
	if len(tests) == 0 {
		r.Candidates = candidates(runs, nil)
		return reject("tests", fmt.Sprintf("no assert line calling %s( in %d test replies", cmp.Or(fn, "the function"), len(tresp.Choices)))
	}
	if err := s.execute(ctx, runs, tests); err != nil {
		return fail(err)
	}
	best, sets := consensus(runs, len(tests))
	r.Meta["sets"] = sets
	r.Candidates = candidates(runs, best.passes)
	if best.score == 0 || best.tests < s.cfg.MinTests {
		return reject("consensus", fmt.Sprintf("the best consensus set has %d solutions passing %d tests (score %d; min_tests %d)", best.size, best.tests, best.score, s.cfg.MinTests))
	}
	var established []string
	for j, ok := range best.passes {
		if ok {
			established = append(established, tests[j])
		}
	}
	passed, ref, wrong := judgeRuns(runs, best.passes)
	rate := float64(passed) / float64(len(runs))
	r.Meta["reference"] = strings.Join(established, "\n")
	r.Meta["established_tests"] = established
	r.Meta["consensus"] = map[string]any{"solutions": best.size, "tests": best.tests, "score": best.score}
	r.Meta["passed"], r.Meta["samples"], r.Meta["pass_rate"] = passed, len(runs), rate
	r.Output = "```python\n" + runs[ref].code + "\n```"
	if wrong >= 0 {
		r.Chosen, r.Rejected = r.Output, "```python\n"+runs[wrong].code+"\n```"
	}
	r.Scores = map[string]float64{"pass_rate": rate, "consensus": float64(best.score)}
	inRange := rate >= s.cfg.MinPass && rate <= s.cfg.MaxPass
	r.Decisions = append(r.Decisions, record.Decision{Filter: "pass_rate", Passed: inRange, Value: rate,
		Reason: fmt.Sprintf("%d of %d solutions pass the %d established tests (consensus: %d solutions × %d tests; kept in [%.2f, %.2f])",
			passed, len(runs), len(established), best.size, best.tests, s.cfg.MinPass, s.cfg.MaxPass)})
	if !inRange {
		r.Status = record.Rejected
	}
	return []*record.Record{r}, usage, nil
}

// distinctTests reads the test lines calling fn from every test reply, each
// once, in the order they first appear.
func (s *Stage) distinctTests(resp *model.Response, fn string, how structured.Mode) []string {
	var tests []string
	seen := map[string]bool{}
	for _, c := range resp.Choices {
		for _, t := range s.readTests(c.Text, fn, how) {
			if !seen[t] {
				seen[t] = true
				tests = append(tests, t)
			}
		}
	}
	return tests
}

// solutions reads each solution reply's code; a reply cut at max_tokens
// has none.
func (s *Stage) solutions(resp *model.Response, how structured.Mode) []run {
	runs := make([]run, len(resp.Choices))
	for i, c := range resp.Choices {
		runs[i].code, runs[i].err = s.readSolution(c.Text, how)
		if c.FinishReason == model.FinishLength {
			runs[i].code, runs[i].err = "", "cut at max_tokens"
		}
	}
	return runs
}

// judgeRuns counts the solutions that pass every established test (solutions
// of another set may do so too: a set that passes more tests), and picks the
// shortest passing one as the reference and the first failing one with code
// as the wrong answer of a pair (-1 when there is none).
func judgeRuns(runs []run, established []bool) (passed, ref, wrong int) {
	ref, wrong = -1, -1
	for i, rn := range runs {
		if passesAll(rn.passed, established) {
			passed++
			if ref < 0 || len(rn.code) < len(runs[ref].code) {
				ref = i
			}
		} else if wrong < 0 && rn.code != "" {
			wrong = i
		}
	}
	return passed, ref, wrong
}

// execute runs every distinct solution once against every test.
func (s *Stage) execute(ctx context.Context, runs []run, tests []string) error {
	results := map[string]*run{}
	var order []string
	for _, rn := range runs {
		if rn.code != "" && results[rn.code] == nil {
			results[rn.code] = &run{code: rn.code}
			order = append(order, rn.code)
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(max(s.cfg.Concurrency, 1))
	var mu sync.Mutex
	for _, code := range order {
		g.Go(func() error {
			passed, msg, err := s.runOne(gctx, code, tests)
			if err != nil {
				return err
			}
			mu.Lock()
			results[code].passed, results[code].err = passed, msg
			mu.Unlock()
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return err
	}
	for i := range runs {
		if res := results[runs[i].code]; res != nil {
			runs[i].passed, runs[i].err = res.passed, res.err
		} else if runs[i].err == "" {
			runs[i].err = "no code in the reply"
		}
	}
	return nil
}

// runOne runs one solution in the sandbox. A solution that does not run
// (a syntax error, a crash of the interpreter, the time limit) passes no
// test; the error is for the sandbox itself failing.
func (s *Stage) runOne(ctx context.Context, code string, tests []string) ([]bool, string, error) {
	in, _ := json.Marshal(map[string]any{"solution": code, "tests": tests, "limit": s.cfg.TestTimeout})
	out, err := s.sb.Run(ctx, string(in))
	if err != nil {
		return nil, "", fmt.Errorf("run: %w", err)
	}
	if out.TimedOut {
		return nil, "time limit", nil
	}
	var rep struct {
		Passed []bool `json:"passed"`
		Error  string `json:"error"`
	}
	lines := strings.Split(strings.TrimSpace(out.Stdout), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &rep); err != nil || (rep.Passed == nil && rep.Error == "") {
		return nil, genkit.Clip(cmp.Or(strings.TrimSpace(out.Stderr), out.Status, "no report from the harness"), 200), nil
	}
	if rep.Passed == nil {
		return nil, genkit.Clip(rep.Error, 200), nil
	}
	return rep.Passed, "", nil
}

// set is a consensus set: the solutions that pass exactly the same tests.
type set struct {
	passes []bool
	size   int // solutions in it, repeats counted: sampling frequency is evidence too
	tests  int // tests they pass
	score  int // size × tests, CodeT's dual agreement
	first  int // the first solution in it
}

// consensus groups the solutions by the exact set of tests they pass and
// returns the best set, by score, then more tests, then earlier, and every
// set for the record. Solutions that did not run form no set.
func consensus(runs []run, ntests int) (set, []map[string]any) {
	by := map[string]*set{}
	var order []string
	for i, rn := range runs {
		if rn.passed == nil {
			continue
		}
		key := fmt.Sprint(rn.passed)
		st := by[key]
		if st == nil {
			st = &set{passes: rn.passed, first: i}
			for _, ok := range rn.passed {
				if ok {
					st.tests++
				}
			}
			by[key] = st
			order = append(order, key)
		}
		st.size++
	}
	best := set{passes: make([]bool, ntests)}
	var all []map[string]any
	for _, k := range order {
		st := by[k]
		st.score = st.size * st.tests
		all = append(all, map[string]any{"solutions": st.size, "tests": st.tests, "score": st.score, "first": st.first})
		if st.score > best.score || (st.score == best.score && st.score > 0 && st.tests > best.tests) {
			best = *st
		}
	}
	return best, all
}

// passesAll reports whether a solution's results pass every test wanted.
func passesAll(passed, want []bool) bool {
	if passed == nil {
		return false
	}
	for j, w := range want {
		if w && !passed[j] {
			return false
		}
	}
	return true
}

func candidates(runs []run, established []bool) []record.Candidate {
	out := make([]record.Candidate, len(runs))
	for i, rn := range runs {
		n := 0
		for _, ok := range rn.passed {
			if ok {
				n++
			}
		}
		c := record.Candidate{Text: rn.code, Scores: map[string]float64{"tests_passed": float64(n)}}
		if established != nil {
			c.Scores["established"] = 0
			if passesAll(rn.passed, established) {
				c.Scores["established"] = 1
			}
		}
		out[i] = c
	}
	return out
}

// runErrors says, by sample, why a solution did not run ("" when it ran).
func runErrors(runs []run) []string {
	out := make([]string, len(runs))
	some := false
	for i, rn := range runs {
		out[i] = rn.err
		some = some || rn.err != ""
	}
	if !some {
		return nil
	}
	return out
}

var _ pipeline.Stage = (*Stage)(nil)
