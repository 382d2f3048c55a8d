// Package evol is the Evol-Instruct stage (Xu et al., 2023, WizardLM): instructions are rewritten generation after generation into harder ones (in-depth) or new, rarer ones (in-breadth), answered, and failed evolutions are eliminated with their reasons.
package evol

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/text"
)

// Meta keys of the stage's records: the lineage of every evolution.
const (
	MetaGeneration = "generation"         // 0 for the original, 1.. for evolutions
	MetaOperation  = "operation"          // an Op*, or "original"
	MetaDirection  = "direction"          // "depth", "breadth" or "original"
	MetaParentID   = "parent_id"          // the record the instruction was evolved from
	MetaRootID     = "root_id"            // the input instruction the chain started from
	MetaParent     = "parent_instruction" // the text it was evolved from
)

// Stage is the evol stage.
type Stage struct {
	s       *settings
	ps      *prompts
	verdict *structured.Shaper // nil: the Verdict: line
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	ps, err := loadPrompts(s.Prompts, s.Language)
	if err != nil {
		return nil, err
	}
	verdict, err := structured.NewShaper(s.Structured, verdictSchema)
	if err != nil {
		return nil, fmt.Errorf("evol: %w", err)
	}
	return &Stage{s: s, ps: ps, verdict: verdict}, nil
}

// Streams implements pipeline.Streaming when the stage evolves every kept
// record of the previous stage (no seeds, no limit): a chain depends on its
// instruction alone.
func (st *Stage) Streams() bool { return st.s.Seeds == "" && st.s.Limit == 0 }

// Run evolves every kept record of the input stage, or every seed, one unit
// per instruction holding its whole chain of generations.
func (st *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	var seedRecs []*record.Record
	if st.s.Seeds != "" {
		var err error
		if seedRecs, err = loadSeeds(st.s.Seeds); err != nil {
			return err
		}
	}
	each, err := genkit.Each(env, seedRecs, st.s.Limit, "evol: no instructions: set seeds, or put the stage after one that makes instructions")
	if err != nil {
		return err
	}
	open := func(name string) (genkit.Backend, error) { return genkit.Open(env, "evol", name) }
	var bs chainBackends
	if bs.evolve, err = open(st.s.Model); err != nil {
		return err
	}
	if bs.answer, err = open(st.s.AnswerModel); err != nil {
		return err
	}
	if st.s.JudgeEqual {
		if bs.judge, err = open(st.s.JudgeModel); err != nil {
			return err
		}
	}
	return each(ctx, func(ctx context.Context, rec *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		c := &chain{st: st, env: env, in: rec, bs: bs, rng: genkit.UnitRand("evol", st.s.Seed, env, rec.ID)}
		return c.run(ctx)
	})
}

type chainBackends struct{ evolve, answer, judge genkit.Backend }

// draw picks an operation by weight.
func (s *settings) draw(r *rand.Rand) string {
	x := r.Float64() * s.total
	for i, w := range s.weights {
		if x < w {
			return s.ops[i]
		}
		x -= w
	}
	return s.ops[len(s.ops)-1]
}

// chain is the work of one unit: one input instruction through every generation.
type chain struct {
	st    *Stage
	env   *pipeline.Env
	in    *record.Record
	bs    chainBackends
	rng   *rand.Rand
	usage pipeline.UnitUsage
}

func (c *chain) run(ctx context.Context) ([]*record.Record, pipeline.UnitUsage, error) {
	s := c.st.s
	ops := make([]string, s.Generations)
	for g := range ops {
		ops[g] = s.draw(c.rng)
	}
	var out []*record.Record
	if s.IncludeOriginal {
		r, err := c.original(ctx)
		if err != nil {
			return nil, c.usage, err
		}
		out = append(out, r)
	}
	base, parentID := genkit.TaskText(c.in), c.in.ID
	for g, op := range ops {
		r, err := c.generation(ctx, g+1, op, base, parentID)
		if err != nil {
			return nil, c.usage, err
		}
		out = append(out, r)
		// A failed evolution is put back: the next generation evolves the
		// same instruction again, as in the paper.
		if r.Status == record.Kept {
			base, parentID = r.Instruction, r.ID
		}
	}
	return out, c.usage, nil
}

func (c *chain) prov(b genkit.Backend, parentID string) record.Provenance {
	s := c.st.s
	params := map[string]any{"temperature": s.temperature, "max_tokens": s.MaxTokens, "answer_model": s.AnswerModel}
	if s.TopP != nil {
		params["top_p"] = *s.TopP
	}
	if s.JudgeEqual {
		params["judge_model"] = s.JudgeModel
		params["judge_template_hash"] = c.st.ps.equal.Hash
	}
	p := c.env.Provenance("evol", b.Info, parentID)
	p.Params = params
	return p
}

// original is generation 0: the input instruction with its output, or with
// the model's answer when it has none (then checked like any answer).
func (c *chain) original(ctx context.Context) (*record.Record, error) {
	r := &record.Record{
		ID: fmt.Sprintf("%s:%s:g0", c.env.Name, c.in.ID), Status: record.Kept,
		Instruction: c.in.Instruction, Input: c.in.Input, Output: c.in.Output,
		Meta: map[string]any{MetaGeneration: 0, MetaOperation: "original", MetaDirection: "original", MetaParentID: c.in.ID, MetaRootID: c.in.ID},
	}
	r.Prov = c.prov(c.bs.answer, c.in.ID)
	if strings.TrimSpace(r.Output) != "" {
		// Copied, not generated: no model to name.
		r.Prov.Backend, r.Prov.Model, r.Prov.Params = "", "", nil
		return r, nil
	}
	if err := c.answer(ctx, r, genkit.TaskText(c.in)); err != nil {
		return nil, err
	}
	return r, nil
}

// generation evolves base with op, checks the evolution, answers it and
// checks the answer. Checks run cheapest first and stop at the first
// failure, so an eliminated evolution costs no answer.
func (c *chain) generation(ctx context.Context, g int, op, base, parentID string) (*record.Record, error) {
	s := c.st.s
	r := &record.Record{
		ID: fmt.Sprintf("%s:%s:g%d", c.env.Name, c.in.ID, g), Status: record.Kept,
		Meta: map[string]any{MetaGeneration: g, MetaOperation: op, MetaDirection: Direction(op), MetaParentID: parentID, MetaRootID: c.in.ID, MetaParent: base},
	}
	r.Prov = c.prov(c.bs.evolve, parentID)
	r.Prov.Params["operation"] = op
	text, p, err := c.st.ps.evolve(op, base)
	if err != nil {
		return nil, err
	}
	r.Prov.TemplateHash = p.Hash
	choice, _, err := c.bs.evolve.Call(ctx, c.request(text, false), &r.Prov.RequestKeys, &c.usage)
	if err != nil {
		return c.failed(ctx, r, "evolve", err)
	}
	evolved := cleanEvolved(choice.Text)
	r.Instruction = evolved
	switch {
	case choice.FinishReason == model.FinishLength:
		return reject(r, FilterEvolution, "the evolving reply was cut off at max_tokens", 0), nil
	case evolved == "":
		return reject(r, FilterEvolution, "the evolving reply is empty", 0), nil
	}
	pass(r, FilterEvolution, 0)
	if ph := leak(s.leaks, base, evolved); ph != "" {
		return reject(r, FilterLeak, fmt.Sprintf("copies %q from the evolving prompt", ph), 0), nil
	}
	pass(r, FilterLeak, 0)
	n := newWords(base, evolved)
	if s.MinNewWords > 0 && n < s.MinNewWords {
		return reject(r, FilterNoNewInfo, fmt.Sprintf("adds %d words its parent does not have (want at least %d)", n, s.MinNewWords), float64(n)), nil
	}
	pass(r, FilterNoNewInfo, float64(n))
	if s.JudgeEqual {
		same, reason, err := c.equal(ctx, r, base, evolved)
		switch {
		case errors.Is(err, errNoVerdict):
			c.usage.Errors++
			r.Status, r.Error = record.Failed, "evol: equality judge: "+err.Error()
			return r, nil
		case err != nil:
			return c.failed(ctx, r, "equality judge", err)
		case same:
			msg := "the judge finds it asks for nothing its parent does not"
			if reason != "" {
				msg += ": " + oneLine(reason)
			}
			return reject(r, FilterEqual, msg, 0), nil
		}
		pass(r, FilterEqual, 0)
	}
	if err := c.answer(ctx, r, evolved); err != nil {
		return nil, err
	}
	return r, nil
}

// answer asks the answer model for r's output and checks it, setting r's
// status. Only an error that must not be recorded (pipeline.MustReturn) is
// returned.
func (c *chain) answer(ctx context.Context, r *record.Record, task string) error {
	s := c.st.s
	choice, _, err := c.bs.answer.Call(ctx, c.request(task, true), &r.Prov.RequestKeys, &c.usage)
	if err != nil {
		_, err = c.failed(ctx, r, "answer", err)
		return err
	}
	a := strings.TrimSpace(choice.Text)
	r.Output = a
	if choice.FinishReason == model.FinishLength {
		reject(r, FilterTruncated, "the answer was cut off at max_tokens", 0)
		return nil
	}
	pass(r, FilterTruncated, 0)
	words := text.WordCount(a, s.lang)
	if m := refusal(s.refusals, a, words, s.RefusalMaxWords); m != "" {
		reject(r, FilterRefusal, fmt.Sprintf("the answer says %q in %d words (a refusal or a request for clarification)", m, words), float64(words))
		return nil
	}
	pass(r, FilterRefusal, 0)
	switch {
	case a == "":
		reject(r, FilterDegenerate, "the answer is empty", 0)
	case words < s.MinAnswerWords:
		reject(r, FilterDegenerate, fmt.Sprintf("the answer has %d words (want at least %d)", words, s.MinAnswerWords), float64(words))
	case contentWords(a) == 0:
		reject(r, FilterDegenerate, "the answer is only punctuation and stop words", float64(words))
	default:
		pass(r, FilterDegenerate, float64(words))
	}
	return nil
}

// equal asks the judge whether evolved asks for anything base does not.
// A reply without a verdict line gets up to JudgeRetries follow-ups.
func (c *chain) equal(ctx context.Context, r *record.Record, base, evolved string) (same bool, reason string, err error) {
	s := c.st.s
	text, err := c.st.ps.equal.Render(equalData{Before: base, After: evolved})
	if err != nil {
		return false, "", err
	}
	zero := 0.0
	req := model.Request{Messages: []model.Message{{Role: "user", Content: text}}, Temperature: &zero, MaxTokens: 256}
	var choice model.Choice
	sh := c.st.verdict
	how, err := sh.Do(ctx, req, func(ctx context.Context, shaped model.Request, _ structured.Mode) error {
		var err error
		req = shaped
		choice, _, err = c.bs.judge.Call(ctx, shaped, &r.Prov.RequestKeys, &c.usage)
		return err
	})
	if err != nil {
		return false, "", err
	}
	if sh != nil {
		if r.Prov.Params == nil {
			r.Prov.Params = map[string]any{}
		}
		sh.Note(r.Prov.Params, how)
	}
	parse, restate := parseVerdict, func(string) string {
		return "Your reply has no verdict line. Answer again and end with exactly one line: \"Verdict: SAME\" or \"Verdict: DIFFERENT\"."
	}
	if sh != nil && how != structured.Off {
		parse, restate = parseShapedVerdict, structured.Restate
	}
	for attempt := 0; ; attempt++ {
		same, reason, perr := parse(choice.Text)
		if perr == nil {
			return same, reason, nil
		}
		if attempt >= s.JudgeRetries || strings.TrimSpace(choice.Text) == "" {
			return false, "", perr
		}
		c.usage.Errors++
		req.Messages = append(req.Messages[:1:1],
			model.Message{Role: "assistant", Content: choice.Text},
			model.Message{Role: "user", Content: restate(perr.Error())})
		if choice, _, err = c.bs.judge.Call(ctx, req, &r.Prov.RequestKeys, &c.usage); err != nil {
			return false, "", err
		}
	}
}

// request builds a one-turn request at the stage's decoding; the system
// prompt, when set, goes to answers only.
func (c *chain) request(task string, answer bool) model.Request {
	s := c.st.s
	t := s.temperature
	var msgs []model.Message
	if answer && s.System != "" {
		msgs = append(msgs, model.Message{Role: "system", Content: s.System})
	}
	msgs = append(msgs, model.Message{Role: "user", Content: task})
	return model.Request{Messages: msgs, Temperature: &t, TopP: s.TopP, MaxTokens: s.MaxTokens, CacheBreakpoints: model.SystemBreakpoint(msgs)}
}

// failed records a permanent model failure on r, or returns a failure that
// must not be recorded (pipeline.MustReturn).
func (c *chain) failed(ctx context.Context, r *record.Record, step string, err error) (*record.Record, error) {
	if pipeline.MustReturn(ctx, err) {
		return nil, err
	}
	c.usage.Errors++
	r.Status, r.Error = record.Failed, fmt.Sprintf("evol: %s: %v", step, err)
	return r, nil
}

func pass(r *record.Record, filter string, v float64) {
	r.Decisions = append(r.Decisions, record.Decision{Filter: filter, Passed: true, Value: v})
}

func reject(r *record.Record, filter, reason string, v float64) *record.Record {
	r.Status = record.Rejected
	r.Decisions = append(r.Decisions, record.Decision{Filter: filter, Reason: reason, Value: v})
	return r
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

var _ pipeline.Stage = (*Stage)(nil)
