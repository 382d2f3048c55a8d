// Package reasoning is the reasoning stage: k sampled solutions per problem, the final answer extracted and verified against a reference (given, or established by majority vote), verified traces kept, and the pass rate recorded as the problem's difficulty.
package reasoning

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"text/template"

	"github.com/synthloop/synthloop/answer"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/verify"
)

//go:embed templates
var templateFS embed.FS

// Reference modes.
const (
	RefGiven = "given" // the input record holds the reference answer
	RefVote  = "vote"  // the majority of the samples' answers is the reference, when it reaches vote_threshold
)

// Prefer modes: which verified traces keep takes.
const (
	PreferShortest = "shortest" // the shortest traces (a concise solution teaches as much for fewer tokens)
	PreferFirst    = "first"    // in sample order
)

// Record kinds, in Meta["kind"].
const (
	KindProblem = "problem" // one per problem: the prompt, reference, pass rate and every sample
	KindTrace   = "trace"   // one per kept verified trace
)

// Config is the `with:` block of a reasoning stage.
type Config struct {
	Model string `yaml:"model" doc:"Solves the problems (required)"`
	// Prompt replaces the built-in template: a Go text/template over the
	// input record ({{.problem}}, and every field and meta field).
	Prompt   string `yaml:"prompt" doc:"The user message, a text/template over {{.problem}} and the record's fields (default: reason step by step, final answer in \\boxed{})"`
	Language string `yaml:"language" doc:"Language of the built-in prompt: en or ja"`
	Problem  string `yaml:"problem" doc:"Where the problem is: instruction (default), input, output or meta.KEY"`
	Answer   string `yaml:"answer" doc:"Where the reference answer is: output (default), input or meta.KEY (unused with reference: vote)"`

	N               int      `yaml:"n" doc:"Samples per problem (k)"`
	Temperature     *float64 `yaml:"temperature" doc:"Sampling temperature"`
	TopP            *float64 `yaml:"top_p" doc:"top_p (unset: the model's default)"`
	MaxTokens       int      `yaml:"max_tokens" doc:"Bounds each sample, reasoning included"`
	ReasoningEffort string   `yaml:"reasoning_effort" doc:"low, medium or high for reasoning models (OpenAI reasoning_effort)"`
	ThinkingBudget  int      `yaml:"thinking_budget" doc:"Tokens of extended thinking (Anthropic); 0: off"`

	Extract  string         `yaml:"extract" doc:"How the final answer is found: auto (\\boxed{}, an Answer: line, the last number), boxed, answer_line, last_number, json:PATH, none"`
	Verifier *verify.Config `yaml:"verifier" doc:"Checks each answer against the reference (default: kind math); its extract defaults to the stage's"`

	Reference     string  `yaml:"reference" doc:"given (the record's answer) or vote (the samples' majority answer becomes the reference)"`
	VoteThreshold float64 `yaml:"vote_threshold" doc:"With reference: vote, the share of samples that must agree on the answer"`

	Keep    int     `yaml:"keep" doc:"Verified traces kept per problem"`
	Prefer  string  `yaml:"prefer" doc:"Which verified traces are kept: shortest or first"`
	MinPass float64 `yaml:"min_pass" doc:"Problems with a lower pass rate are rejected (their traces too)"`
	MaxPass float64 `yaml:"max_pass" doc:"Problems with a higher pass rate are rejected (their traces too); 0.99 with min_pass 0.01 keeps 0 < pass < 1 for RL"`
}

// FieldDocs says what the verifier's settings mean in this stage, where
// the stage gives the verifier its candidate and reference (see New).
func (c *Config) FieldDocs() map[string]string {
	return map[string]string{
		"verifier.extract": "Picks the final answer out of a sample's answer part before exact, normalized, numeric or math compare it; " +
			"unset: the stage's extract (auto by default), for every kind; none compares the whole answer part; " +
			"regex, json_schema and command always get the whole answer part",
		"verifier.reference": "Unused here: the reference is the stage's answer field (or the voted answer)",
	}
}

// DefaultConfig returns the defaults: 4 samples at T=0.7, the math
// verifier, the shortest verified trace kept.
func DefaultConfig() *Config {
	t := 0.7
	return &Config{N: 4, Temperature: &t, MaxTokens: 4096, Extract: answer.Auto, Reference: RefGiven, VoteThreshold: 0.5,
		Keep: 1, Prefer: PreferShortest, MinPass: 0, MaxPass: 1}
}

// Validate checks the settings when the config is loaded.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// Stage is the reasoning stage.
type Stage struct {
	cfg      Config
	prompt   *template.Template
	hash     string
	extract  answer.Extractor
	verifier verify.Verifier
	vcfg     verify.Config
	problem  func(*record.Record) string
	ref      func(*record.Record) string
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	if c.Model == "" {
		return nil, errors.New("reasoning: model: required (name of a backend in the models section)")
	}
	if c.N <= 0 || c.MaxTokens < 0 || c.ThinkingBudget < 0 {
		return nil, errors.New("reasoning: n must be positive, max_tokens and thinking_budget not negative")
	}
	if c.Keep < 0 {
		return nil, errors.New("reasoning: keep must not be negative")
	}
	switch c.Prefer {
	case "":
		c.Prefer = PreferShortest
	case PreferShortest, PreferFirst:
	default:
		return nil, fmt.Errorf("reasoning: prefer %q (want shortest or first)", c.Prefer)
	}
	switch c.Reference {
	case "":
		c.Reference = RefGiven
	case RefGiven, RefVote:
	default:
		return nil, fmt.Errorf("reasoning: reference %q (want given or vote)", c.Reference)
	}
	if c.VoteThreshold < 0 || c.VoteThreshold > 1 || c.MinPass < 0 || c.MaxPass > 1 || c.MinPass > c.MaxPass {
		return nil, errors.New("reasoning: vote_threshold must be in [0, 1], and 0 <= min_pass <= max_pass <= 1")
	}
	s := &Stage{cfg: c}
	var err error
	if s.extract, err = answer.ParseExtractor(c.Extract); err != nil {
		return nil, fmt.Errorf("reasoning: extract: %w", err)
	}
	s.vcfg = verify.Config{Kind: verify.Math}
	if c.Verifier != nil {
		s.vcfg = *c.Verifier
	}
	if s.vcfg.Extract == "" {
		s.vcfg.Extract = s.extract.String()
	}
	if c.Reference == RefVote && s.vcfg.Kind != verify.Math {
		return nil, errors.New("reasoning: reference: vote compares answers as math; leave verifier unset or kind: math")
	}
	if s.verifier, err = verify.New(&s.vcfg); err != nil {
		return nil, fmt.Errorf("reasoning: verifier: %w", err)
	}
	if s.problem, err = field(c.Problem, "instruction"); err != nil {
		return nil, fmt.Errorf("reasoning: problem: %w", err)
	}
	if s.ref, err = field(c.Answer, "output"); err != nil {
		return nil, fmt.Errorf("reasoning: answer: %w", err)
	}
	src := c.Prompt
	if strings.TrimSpace(src) == "" {
		lang := cmp.Or(c.Language, "en")
		b, err := templateFS.ReadFile("templates/prompt." + lang + ".tmpl")
		if err != nil {
			return nil, fmt.Errorf("reasoning: language %q (want en or ja)", c.Language)
		}
		src = string(b)
	}
	if s.prompt, err = template.New("prompt").Option("missingkey=error").Parse(src); err != nil {
		return nil, fmt.Errorf("reasoning: prompt: the template does not parse: %s", strings.TrimPrefix(err.Error(), "template: "))
	}
	h := sha256.Sum256([]byte(src))
	s.hash = hex.EncodeToString(h[:])
	return s, nil
}

// field reads a record field named by spec: instruction, input, output or
// meta.KEY.
func field(spec, def string) (func(*record.Record) string, error) {
	switch cmp.Or(spec, def) {
	case "instruction":
		return func(r *record.Record) string { return r.Instruction }, nil
	case "input", "output":
		return bestofn.Reference(cmp.Or(spec, def))
	}
	return bestofn.Reference(spec)
}

// Streams implements pipeline.Streaming: a problem's samples and verdicts
// depend on that problem alone.
func (s *Stage) Streams() bool { return true }

// Run solves every kept record of the input stage, one unit per problem.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	if env.Input == "" {
		return errors.New("reasoning: needs an input stage holding problems (a load stage, or one that writes problems)")
	}
	gen, info, err := env.Backend(s.cfg.Model)
	if err != nil {
		return fmt.Errorf("reasoning: model %q: %w", s.cfg.Model, err)
	}
	if s.vcfg.Kind == verify.Command {
		// A command that cannot run (a missing script, no sandbox) would
		// otherwise show at the first problem's samples, after its model
		// request; its verdict on an empty answer is of no interest.
		if _, err := s.verifier.Verify(ctx, verify.Check{}); err != nil {
			return fmt.Errorf("reasoning: verifier: %w", err)
		}
	}
	err = pipeline.ForEachKeptChecked(ctx, env, checkAttributes, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.one(ctx, env, in, gen, info)
	})
	if err != nil {
		return err
	}
	if env.Log != nil {
		if sum, err := Summarize(ctx, env.Store, env.Name); err == nil && sum.Coverage.Records > 0 {
			env.Log.Info("reasoning: pass rates by attribute, coverage of the kept traces", "stage", env.Name, "report", sum.attributeLines())
		}
	}
	return nil
}

// ownMeta are the meta fields the stage sets, which no attribute carried
// from a problem may be named.
var ownMeta = []string{"kind", "problem", "problem_id", "verifier", "reference", "vote", "passed", "samples", "pass_rate",
	"answer", "sample", "inline_trace", "trace_chars", "trace_tokens", "rejected_reasoning", "rejected_answer", "rejected_sample"}

// checkAttributes refuses, before any request, problems whose attributes
// (carried from a sample stage) are named like the stage's own meta
// fields; the first input record stands for the rest.
func checkAttributes(first *record.Record) error {
	if spec, ok := attrs.Of(first); ok {
		if c := attrs.Clash(spec, ownMeta...); c != "" {
			return fmt.Errorf("reasoning: the problems' attribute %q is also a meta field of the stage's records: rename the column", c)
		}
	}
	return nil
}

// data is what the prompt template sees: the problem, the record's
// non-empty fields and its meta fields.
func (s *Stage) data(r *record.Record, problem string) map[string]any {
	d := make(map[string]any, len(r.Meta)+6)
	for k, v := range r.Meta {
		d[k] = v
	}
	for k, v := range map[string]string{"id": r.ID, "instruction": r.Instruction, "input": r.Input, "output": r.Output} {
		if v != "" {
			d[k] = v
		}
	}
	d["problem"] = problem
	return d
}

// render returns the request's messages for the problem of in.
func (s *Stage) render(in *record.Record) ([]model.Message, error) {
	var b bytes.Buffer
	if err := s.prompt.Execute(&b, s.data(in, strings.TrimSpace(s.problem(in)))); err != nil {
		return nil, fmt.Errorf("prompt: %w", err)
	}
	return []model.Message{{Role: "user", Content: strings.TrimSpace(b.String())}}, nil
}

func (s *Stage) request(prompt string) model.Request {
	return model.Request{
		Messages:        []model.Message{{Role: "user", Content: prompt}},
		N:               s.cfg.N,
		Temperature:     s.cfg.Temperature,
		TopP:            s.cfg.TopP,
		MaxTokens:       s.cfg.MaxTokens,
		ReasoningEffort: s.cfg.ReasoningEffort,
		ThinkingBudget:  s.cfg.ThinkingBudget,
	}
}

func (s *Stage) params() map[string]any {
	p := map[string]any{"n": s.cfg.N, "max_tokens": s.cfg.MaxTokens, "extract": s.extract.String(), "reference": s.cfg.Reference,
		"keep": s.cfg.Keep, "prefer": s.cfg.Prefer}
	if s.cfg.Temperature != nil {
		p["temperature"] = *s.cfg.Temperature
	}
	if s.cfg.TopP != nil {
		p["top_p"] = *s.cfg.TopP
	}
	if s.cfg.ReasoningEffort != "" {
		p["reasoning_effort"] = s.cfg.ReasoningEffort
	}
	if s.cfg.ThinkingBudget > 0 {
		p["thinking_budget"] = s.cfg.ThinkingBudget
	}
	if s.cfg.Reference == RefVote {
		p["vote_threshold"] = s.cfg.VoteThreshold
	}
	return p
}

// VerifierSpec is the verifier a problem's answers were checked with, as
// stored in Meta["verifier"] and exported with RLVR data.
func (s *Stage) VerifierSpec() map[string]any {
	v := map[string]any{"kind": s.vcfg.Kind}
	if s.vcfg.Extract != "" && s.vcfg.Extract != answer.Whole {
		v["extract"] = s.vcfg.Extract
	}
	if s.vcfg.Tolerance != 0 {
		v["tolerance"] = s.vcfg.Tolerance
	}
	if s.vcfg.RelTolerance != 0 {
		v["rel_tolerance"] = s.vcfg.RelTolerance
	}
	if s.vcfg.Pattern != "" {
		v["pattern"] = s.vcfg.Pattern
	}
	if len(s.vcfg.Command) > 0 {
		v["command"] = s.vcfg.Command
	}
	return v
}

func (s *Stage) one(ctx context.Context, env *pipeline.Env, in *record.Record, gen model.Backend, info pipeline.ModelInfo) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	prov := env.Provenance("reasoning", info, in.ID)
	prov.Params = s.params()
	prov.TemplateHash = s.hash
	problem := strings.TrimSpace(s.problem(in))
	pr := &record.Record{ID: env.Name + ":" + in.ID, Stage: env.Name, Status: record.Kept, Prov: prov,
		Meta: map[string]any{"kind": KindProblem, "problem": problem, "problem_id": in.ID, "verifier": s.VerifierSpec()}}
	spec, carried := attrs.Of(in)
	if carried {
		// Set first, so that a failed problem shows them too; the traces
		// get theirs as they are made.
		attrs.Carry(pr, in, spec)
	}
	fail := func(err error) ([]*record.Record, pipeline.UnitUsage, error) {
		return genkit.Failed(ctx, pr, usage, "reasoning: ", err)
	}
	if problem == "" {
		return fail(errors.New("the record holds no problem"))
	}
	ref := ""
	if s.cfg.Reference == RefGiven {
		ref = verify.ReferenceAnswer(s.ref(in))
		if ref == "" {
			return fail(errors.New("the record holds no reference answer"))
		}
		pr.Meta["reference"] = ref
	}
	msgs, err := s.render(in)
	if err != nil {
		return fail(err)
	}
	pr.Instruction = msgs[0].Content
	req := s.request(pr.Instruction)
	pr.Prov.RequestKeys = model.CacheKeys(info.Backend, info.Model, req)
	resp, err := gen.Generate(ctx, req)
	usage.Count(resp, err)
	if err != nil {
		return fail(fmt.Errorf("generate: %w", err))
	}
	if resp.Model != "" {
		pr.Prov.Model = resp.Model
	}
	if len(resp.Choices) == 0 {
		return fail(errors.New("the model returned no samples"))
	}
	samples := make([]sample, 0, len(resp.Choices))
	for _, c := range resp.Choices {
		sm := split(c.Text, c.Reasoning, s.extract)
		sm.finish = c.FinishReason
		samples = append(samples, sm)
	}
	if s.cfg.Reference == RefVote {
		var reason string
		ref, reason = vote(samples, s.cfg.VoteThreshold)
		pr.Meta["vote"] = reason
		if ref == "" {
			pr.Status = record.Rejected
			pr.Candidates = candidates(samples)
			pr.Decisions = []record.Decision{{Filter: "vote", Reason: reason}}
			return []*record.Record{pr}, usage, nil
		}
		pr.Meta["reference"] = ref
	}
	passed, err := s.verifyAll(ctx, pr.Instruction, ref, samples)
	if err != nil {
		// The verifier itself failed, which says nothing of this problem:
		// the stage stops with the unit undone (as the tools stage does
		// when a tool cannot run).
		return nil, usage, err
	}
	rate := float64(passed) / float64(len(samples))
	pr.Candidates = candidates(samples)
	pr.Scores = map[string]float64{"pass_rate": rate}
	pr.Meta["passed"], pr.Meta["samples"], pr.Meta["pass_rate"] = passed, len(samples), rate
	inRange := rate >= s.cfg.MinPass && rate <= s.cfg.MaxPass
	pr.Decisions = []record.Decision{{Filter: "pass_rate", Passed: inRange, Value: rate,
		Reason: fmt.Sprintf("%d of %d samples verified (pass rate %.2f; kept in [%.2f, %.2f])", passed, len(samples), rate, s.cfg.MinPass, s.cfg.MaxPass)}}
	if !inRange {
		pr.Status = record.Rejected
	}
	out := []*record.Record{pr}
	for _, t := range s.traces(env, in, pr, samples, rate, ref) {
		if carried {
			attrs.Carry(t, in, spec)
		}
		if !inRange {
			t.Status = record.Rejected
			t.Decisions = append(t.Decisions, pr.Decisions[0])
		}
		out = append(out, t)
	}
	return out, usage, nil
}

// verifyAll checks each sample's answer against ref and counts the
// verified ones; an error is the verifier's own failure.
func (s *Stage) verifyAll(ctx context.Context, prompt, ref string, samples []sample) (int, error) {
	passed := 0
	for i := range samples {
		sm := &samples[i]
		switch {
		case sm.finish == model.FinishLength:
			sm.reason = "cut at max_tokens"
		case sm.text == "" && sm.answer == "":
			sm.reason = "no answer after the reasoning"
		default:
			v, err := s.verifier.Verify(ctx, verify.Check{Prompt: prompt, Candidate: sm.text, Reference: ref})
			if err != nil {
				return 0, fmt.Errorf("reasoning: verifier: %w", err)
			}
			sm.verified, sm.reason = v.Pass, v.Reason
		}
		if sm.verified {
			passed++
		}
	}
	return passed, nil
}

// traces makes the records of the kept verified traces, each paired with a
// wrong sample of the same problem when there is one (a DPO pair).
func (s *Stage) traces(env *pipeline.Env, in, pr *record.Record, samples []sample, rate float64, ref string) []*record.Record {
	var good, wrong []int
	seen := map[string]bool{}
	for i, sm := range samples {
		switch {
		case sm.verified && sm.trace != "" && !seen[sm.trace+"\x00"+sm.text]:
			seen[sm.trace+"\x00"+sm.text] = true
			good = append(good, i)
		case !sm.verified && sm.finish != model.FinishLength && sm.text != "":
			wrong = append(wrong, i)
		}
	}
	if s.cfg.Prefer == PreferShortest {
		slices.SortStableFunc(good, func(a, b int) int { return cmp.Compare(len(samples[a].trace), len(samples[b].trace)) })
	}
	if len(good) > s.cfg.Keep {
		good = good[:s.cfg.Keep]
	}
	var out []*record.Record
	for k, i := range good {
		sm := samples[i]
		r := &record.Record{
			ID: fmt.Sprintf("%s:%s:%02d", env.Name, in.ID, i), Stage: env.Name, Status: record.Kept, Prov: pr.Prov,
			Instruction: pr.Instruction, Output: sm.text, Reasoning: sm.trace,
			Scores: map[string]float64{"pass_rate": rate, "verifier": 1},
			Meta: map[string]any{"kind": KindTrace, "problem": pr.Meta["problem"], "problem_id": in.ID, "reference": ref,
				"answer": sm.answer, "sample": i, "pass_rate": rate, "inline_trace": sm.inline,
				"trace_chars": len([]rune(sm.trace)), "trace_tokens": model.EstimateTokens(sm.trace), "verifier": pr.Meta["verifier"]},
			Decisions: []record.Decision{{Filter: "verifier", Passed: true, Value: 1, Reason: sm.reason}},
		}
		if len(wrong) > 0 {
			w := samples[wrong[k%len(wrong)]]
			r.Chosen, r.Rejected = sm.text, w.text
			r.Meta["rejected_reasoning"], r.Meta["rejected_answer"], r.Meta["rejected_sample"] = w.trace, w.answer, wrong[k%len(wrong)]
		}
		out = append(out, r)
	}
	return out
}

// candidates keeps every sample on the problem record, with its trace and
// verdict, for audit and for later pairing.
func candidates(samples []sample) []record.Candidate {
	out := make([]record.Candidate, len(samples))
	for i, sm := range samples {
		score := 0.0
		if sm.verified {
			score = 1
		}
		out[i] = record.Candidate{Text: sm.text, Reasoning: sm.trace, FinishReason: sm.finish, Scores: map[string]float64{"verifier": score}}
	}
	return out
}

// vote establishes a reference answer without a person: the answer most
// samples agree on (compared by canonical math form) when its share
// reaches threshold. Ties go to the answer seen first.
func vote(samples []sample, threshold float64) (string, string) {
	counts := map[string]int{}
	first := map[string]string{}
	var order []string
	for _, sm := range samples {
		if sm.answer == "" || sm.finish == model.FinishLength {
			continue
		}
		c := answer.Canonical(sm.answer)
		if _, ok := counts[c]; !ok {
			order = append(order, c)
			first[c] = sm.answer
		}
		counts[c]++
	}
	if len(order) == 0 {
		return "", fmt.Sprintf("no sample of %d stated an answer", len(samples))
	}
	best := order[0]
	for _, c := range order[1:] {
		if counts[c] > counts[best] {
			best = c
		}
	}
	share := float64(counts[best]) / float64(len(samples))
	reason := fmt.Sprintf("%d of %d samples agree on %s (threshold %.2f)", counts[best], len(samples), genkit.Clip(best, 60), threshold)
	if share < threshold || (threshold == 0 && counts[best] == 0) {
		return "", reason
	}
	return first[best], reason
}

var _ pipeline.Stage = (*Stage)(nil)
