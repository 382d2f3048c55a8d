// Package problems is the problems stage: Self-Instruct for problems. The teacher is shown k seed problems and asked for new ones of the same kind (math word problems or function-writing tasks); new problems are kept when they are novel against the seeds and every problem kept before.
package problems

import (
	"cmp"
	"context"
	"embed"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/seeds"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/text"
)

// The prompts end with "Problem N:" so that the model continues the list;
// the header is English in every language since the reply parser and
// model/scripted key on it.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var funcs = template.FuncMap{"add": func(a, b int) int { return a + b }}

// Domains.
const (
	Math = "math" // word problems with one answer, established by vote (a reasoning stage)
	Code = "code" // function-writing problems, established by generated tests (a codet stage)
)

// Meta["kind"] of the records.
const (
	KindProblem = "problem_text" // one invented problem, not yet with an answer
	KindBatch   = "batch"        // a reply that gave no problems, or failed
)

// Config is the `with:` block of a problems stage.
type Config struct {
	Model    string `yaml:"model" doc:"Invents the problems (required)"`
	Domain   string `yaml:"domain" doc:"math (word problems with one answer) or code (one function each)"`
	Seeds    string `yaml:"seeds" doc:"A file of seed problems: one a line, or JSONL with problem (or question, instruction) and id; empty: the input stage's kept records. With a seeds file, the input stage's records (a sample stage's, say) give each prompt its attributes"`
	Problem  string `yaml:"problem" doc:"Where an input record's problem is: instruction (default), input, output or meta.KEY"`
	Language string `yaml:"language" doc:"Language of the built-in prompt: en or ja"`
	Prompt   string `yaml:"prompt" doc:"A prompt template file in place of the built-in one, over .Shown (the seed problems), .Count, .Next, .Language, and the attributes as .Attributes (a list of .Name, .Value) and .Attr (by name)"`
	CodeLang string `yaml:"code_language" doc:"With domain: code, the language the functions are asked in (a codet stage runs Python)"`
	// Attributes names the meta fields of the input records that prompts
	// are conditioned on when those records do not declare their own (a
	// sample stage's records declare their columns).
	Attributes []string `yaml:"attributes" doc:"With seeds and an input stage: the input records' meta fields each prompt is conditioned on (default: the columns a sample stage's records declare)"`

	Target     int      `yaml:"target" doc:"Problems to keep"`
	Shown      int      `yaml:"shown" doc:"Seed problems shown per prompt (k)"`
	PerPrompt  int      `yaml:"per_prompt" doc:"New problems asked for per prompt"`
	MaxBatches int      `yaml:"max_batches" doc:"Prompts sent at most (0: 4 × target / per_prompt)"`
	Novelty    float64  `yaml:"novelty_threshold" doc:"A problem whose ROUGE-L F against a seed or a kept problem is above this is rejected"`
	MinWords   int      `yaml:"min_words" doc:"Shorter problems are rejected"`
	MaxWords   int      `yaml:"max_words" doc:"Longer problems are rejected"`
	Temp       *float64 `yaml:"temperature" doc:"Sampling temperature"`
	MaxTokens  int      `yaml:"max_tokens" doc:"Bounds each reply"`
	Structured string   `yaml:"structured" doc:"The reply as JSON that fits a built-in schema ({problems: [...]}, at most per_prompt): off (the Problem N: list), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt)"`
	Seed       int64    `yaml:"seed" doc:"Varies which seeds each prompt shows, and the order it takes the input records' attributes in (0: the run's seed)"`
}

// DefaultConfig returns the defaults: 3 seeds shown, 5 problems asked per
// prompt, the Self-Instruct novelty threshold 0.7.
func DefaultConfig() *Config {
	t := 1.0
	return &Config{Domain: Math, Problem: "instruction", CodeLang: "Python", Target: 50, Shown: 3, PerPrompt: 5,
		Novelty: 0.7, MinWords: 5, MaxWords: 300, Temp: &t, MaxTokens: 2048}
}

// Validate checks the settings when the config is loaded.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// UsedFields are the attributes named in the settings, which the prompts
// read from the input records: the config check finds a misspelt one when
// the input stage declares its fields (a sample stage does).
func (c *Config) UsedFields() []string {
	if c.Seeds == "" {
		return nil // the input records are the seeds
	}
	return c.Attributes
}

var _ pipeline.FieldUser = (*Config)(nil)

// Stage is the problems stage.
type Stage struct {
	cfg     Config
	prompt  *prompt.Template
	tok     text.Tokenizer
	lang    text.Lang
	problem func(*record.Record) string
	shape   *structured.Shaper // nil: the Problem N: list
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	if c.Model == "" {
		return nil, errors.New("problems: model: required (name of a backend in the models section)")
	}
	if c.Domain != Math && c.Domain != Code {
		return nil, fmt.Errorf("problems: domain %q (want math or code)", c.Domain)
	}
	if c.Target <= 0 || c.Shown <= 0 || c.PerPrompt <= 0 || c.MaxBatches < 0 || c.MaxTokens < 0 || c.MinWords < 0 || c.MaxWords < 0 {
		return nil, errors.New("problems: target, shown and per_prompt must be positive; max_batches, max_tokens, min_words, max_words not negative")
	}
	if c.Novelty <= 0 || c.Novelty > 1 {
		return nil, fmt.Errorf("problems: novelty_threshold %v (want (0, 1])", c.Novelty)
	}
	if c.MaxBatches == 0 {
		c.MaxBatches = max(4*c.Target/c.PerPrompt, 4)
	}
	lang, err := genkit.Language("problems", c.Language, "")
	if err != nil {
		return nil, err
	}
	s := &Stage{cfg: c, lang: lang}
	if c.Prompt != "" {
		s.prompt, err = prompt.Load(os.DirFS(filepath.Dir(c.Prompt)), filepath.Base(c.Prompt), funcs)
	} else {
		s.prompt, err = prompt.ForLanguage(templateFS, c.Domain, string(lang), funcs)
	}
	if err != nil {
		return nil, fmt.Errorf("problems: prompt: %w", err)
	}
	if s.shape, err = structured.NewShaper(c.Structured, problemsSchema(c.PerPrompt)); err != nil {
		return nil, fmt.Errorf("problems: %w", err)
	}
	if s.tok, err = text.TokenizerFor(lang); err != nil {
		return nil, fmt.Errorf("problems: %w", err)
	}
	if c.Problem == "instruction" || c.Problem == "" {
		s.problem = func(r *record.Record) string { return r.Instruction }
	} else if s.problem, err = bestofn.Reference(c.Problem); err != nil {
		return nil, fmt.Errorf("problems: problem: %w", err)
	}
	return s, nil
}

// seed is a problem shown to the teacher.
type seed struct{ id, text string }

// seedLine is a JSONL line of a seed file.
type seedLine struct {
	ID          string `json:"id"`
	Problem     string `json:"problem"`
	Question    string `json:"question"`
	Instruction string `json:"instruction"`
	Answer      any    `json:"answer"` // read and ignored: the seeds of a reasoning set carry answers
}

func (l seedLine) LineID() string { return l.ID }

// ParseSeeds reads a seed file of the problems stage: one problem a line,
// or JSONL with problem (or question, instruction), id and answer (read
// and ignored).
func ParseSeeds(r io.Reader) ([]*record.Record, error) {
	return genkit.ParseSeeds(r, 1<<20, "id, problem, question, instruction, answer", func(rec *record.Record, l seedLine) error {
		rec.Instruction = genkit.FirstOf(l.Problem, l.Question, l.Instruction)
		if strings.TrimSpace(rec.Instruction) == "" {
			return errors.New("no problem (give problem, question or instruction)")
		}
		return nil
	})
}

// seeds returns the seed problems: the seed file's, or the input stage's.
func (s *Stage) seeds(ctx context.Context, env *pipeline.Env) ([]seed, error) {
	var recs []*record.Record
	var err error
	if s.cfg.Seeds != "" {
		recs, err = genkit.LoadSeeds("problems", "problems", s.cfg.Seeds, func(*record.Record, seeds.Task) {}, ParseSeeds)
	} else {
		recs, err = genkit.Inputs(ctx, env, nil, 0, "problems: needs seeds: a seeds file, or an input stage holding seed problems")
	}
	if err != nil {
		return nil, err
	}
	var out []seed
	get := s.problem
	if s.cfg.Seeds != "" {
		get = func(r *record.Record) string { return r.Instruction }
	}
	for _, r := range recs {
		if t := strings.TrimSpace(get(r)); t != "" {
			out = append(out, seed{r.ID, t})
		}
	}
	if len(out) == 0 {
		return nil, errors.New("problems: no seed problems")
	}
	return out, nil
}

// batch is one prompt: which seeds it shows, the record whose attributes
// it asks for (nil: none), and the request.
type batch struct {
	n       int
	seedIDs []string
	attr    *attributed
	req     model.Request
}

type promptData struct {
	Shown      []string
	Count      int
	Next       int
	Language   string
	Attributes []attrs.Pair
	Attr       map[string]string
}

// attributed is an input record whose attributes condition prompts.
type attributed struct {
	rec  *record.Record
	spec attrs.Spec
}

// ownMeta are the meta fields the stage sets, which no attribute may be
// named.
var ownMeta = []string{"batch", "domain", "kind", "response", "solution_cut", "max_similarity"}

// attributeInputs returns the input records that condition the prompts,
// in the order batches take them: a permutation from the seed, taken
// round-robin so that each input is asked for as evenly as the batches
// allow. None without a seeds file (the input records are the seeds then),
// and none when the input records declare no attributes and attributes:
// names none (the input stage was not read before it could give them).
func (s *Stage) attributeInputs(ctx context.Context, env *pipeline.Env) ([]attributed, error) {
	if s.cfg.Seeds == "" || env.Input == "" {
		return nil, nil
	}
	recs, err := pipeline.KeptInput(ctx, env, 0)
	if err != nil {
		return nil, fmt.Errorf("problems: read %s: %w", env.Input, err)
	}
	if len(recs) == 0 && len(s.cfg.Attributes) > 0 {
		return nil, fmt.Errorf("problems: attributes: the input stage %s has no kept records to draw them from", env.Input)
	}
	if len(recs) == 0 {
		return nil, nil
	}
	if _, ok := attrs.Of(recs[0]); !ok && len(s.cfg.Attributes) == 0 {
		return nil, nil
	}
	out := make([]attributed, 0, len(recs))
	for _, i := range genkit.UnitRand("problems", s.cfg.Seed, env, "attributes").Perm(len(recs)) {
		r := recs[i]
		spec, ok := attrs.Of(r)
		if len(s.cfg.Attributes) > 0 {
			spec, ok = attrs.Named(s.cfg.Attributes), true
		}
		if !ok {
			return nil, fmt.Errorf("problems: input record %s declares no attributes: draw the inputs with a sample stage, or name their meta fields in attributes:", r.ID)
		}
		if c := attrs.Clash(spec, ownMeta...); c != "" {
			return nil, fmt.Errorf("problems: attribute %q is also a meta field of the stage's records: rename the column", c)
		}
		out = append(out, attributed{r, spec})
	}
	return out, nil
}

// request builds prompt b. Its seeds are drawn from the unit's own
// randomness, so the prompt is the same in any run that has the same seeds,
// whatever came before it; the prompts do not show earlier machine problems
// (unlike Self-Instruct's), which keeps every prompt independent of the
// replies and lets them go out concurrently.
func (s *Stage) request(env *pipeline.Env, seeds []seed, inputs []attributed, b int) (*batch, error) {
	r := genkit.UnitRand("problems", s.cfg.Seed, env, batchKey(b))
	k := min(s.cfg.Shown, len(seeds))
	bt := &batch{n: b}
	var shown []string
	for _, i := range r.Perm(len(seeds))[:k] {
		shown = append(shown, oneLine(seeds[i].text))
		bt.seedIDs = append(bt.seedIDs, seeds[i].id)
	}
	data := promptData{Shown: shown, Count: s.cfg.PerPrompt, Next: k + 1, Language: s.cfg.CodeLang}
	if len(inputs) > 0 {
		bt.attr = &inputs[b%len(inputs)]
		data.Attributes = attrs.Pairs(bt.attr.rec, bt.attr.spec)
		data.Attr = attrs.Map(data.Attributes)
	}
	p, err := s.prompt.Render(data)
	if err != nil {
		return nil, err
	}
	bt.req = model.Request{Messages: []model.Message{{Role: "user", Content: p}}, Temperature: s.cfg.Temp, MaxTokens: s.cfg.MaxTokens}
	return bt, nil
}

var spaces = regexp.MustCompile(`[ \t]*\n[ \t\n]*`)

// oneLine writes a multi-line problem on one line for the numbered list.
func oneLine(s string) string { return spaces.ReplaceAllString(strings.TrimSpace(s), " ") }

func batchKey(b int) string { return fmt.Sprintf("batch-%06d", b) }

// Run sends prompts until target problems are kept or max_batches are
// spent. Replies are filtered in batch order against a novelty index of the
// seeds and every problem kept before, so the result does not depend on
// which reply came first; a rerun replays the committed batches' problems
// into the index and asks only for the rest.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	seeds, err := s.seeds(ctx, env)
	if err != nil {
		return err
	}
	inputs, err := s.attributeInputs(ctx, env)
	if err != nil {
		return err
	}
	b, err := genkit.Open(env, "problems", s.cfg.Model)
	if err != nil {
		return err
	}
	idx, err := text.NewIndex(text.Options{Threshold: s.cfg.Novelty, TopK: 1, Mean: text.MeanNone, Tokenizer: s.tok})
	if err != nil {
		return fmt.Errorf("problems: %w", err)
	}
	for _, sd := range seeds {
		idx.AddText(sd.text)
	}
	stored, err := s.committed(ctx, env)
	if err != nil {
		return err
	}
	kept, replayed := 0, 0
	replay := func(upTo int) {
		for replayed < len(stored) && stored[replayed].batch < upTo {
			idx.AddText(stored[replayed].text)
			kept++
			replayed++
		}
	}
	units := make([]pipeline.UnitSpec, s.cfg.MaxBatches)
	for i := range units {
		units[i] = pipeline.UnitSpec{Key: batchKey(i), Seq: int64(i) * 1000}
	}
	err = pipeline.RunUnitsInOrder(ctx, env, units,
		func(ctx context.Context, i int) (*answered, error) {
			if keptBefore(stored, i) >= s.cfg.Target {
				// Committed batches before this one reach the target (a
				// rerun of a finished stage): nothing to ask.
				return nil, pipeline.ErrEnough
			}
			bt, err := s.request(env, seeds, inputs, i)
			if err != nil {
				return nil, err
			}
			a := &answered{batch: bt}
			a.how, a.err = s.shape.Do(ctx, bt.req, func(ctx context.Context, req model.Request, _ structured.Mode) error {
				var err error
				a.choice, a.model, err = b.Call(ctx, req, &a.keys, &a.usage)
				return err
			})
			if a.err != nil && pipeline.MustReturn(ctx, a.err) {
				return nil, a.err
			}
			return a, nil
		},
		func(ctx context.Context, i int, a *answered) ([]*record.Record, pipeline.UnitUsage, error) {
			replay(i)
			if kept >= s.cfg.Target {
				return nil, pipeline.UnitUsage{}, pipeline.ErrEnough
			}
			recs := s.process(env, b.Info, a, idx)
			for _, r := range recs {
				if r.Status == record.Kept {
					kept++
				}
			}
			return recs, a.usage, nil
		})
	if err != nil {
		return fmt.Errorf("problems: %w", err)
	}
	if replay(len(units)); kept < s.cfg.Target && env.Log != nil {
		env.Log.Warn("problems: max_batches reached before target", "stage", env.Name, "kept", kept, "target", s.cfg.Target)
	}
	if len(inputs) > 0 && env.Log != nil {
		if cov, err := Coverage(ctx, env.Store, env.Name); err == nil {
			env.Log.Info("problems: coverage of the kept problems", "stage", env.Name, "report", cov.String())
		}
	}
	return nil
}

// Coverage is how evenly a problems stage's kept problems cover the
// attributes their prompts asked for; no records when none did.
func Coverage(ctx context.Context, st pipeline.Store, stage string) (attrs.Coverage, error) {
	return attrs.Summarize(ctx, st, stage, func(r *record.Record) bool { return r.Meta["kind"] == KindProblem })
}

// answered is a batch's reply.
type answered struct {
	batch  *batch
	choice model.Choice
	model  string
	err    error
	keys   []string
	usage  pipeline.UnitUsage
	how    structured.Mode // how the reply was asked for (structured)
}

type storedProblem struct {
	batch int
	text  string
}

// keptBefore counts the stored problems of batches before b.
func keptBefore(stored []storedProblem, b int) int {
	n := 0
	for _, p := range stored {
		if p.batch < b {
			n++
		}
	}
	return n
}

// committed reads the problems earlier runs kept, in batch order.
func (s *Stage) committed(ctx context.Context, env *pipeline.Env) ([]storedProblem, error) {
	var out []storedProblem
	for r, err := range env.Store.Records(ctx, env.Name, record.Kept) {
		if err != nil {
			return nil, fmt.Errorf("problems: read %s: %w", env.Name, err)
		}
		out = append(out, storedProblem{int(r.Seq / 1000), r.Instruction})
	}
	return out, nil
}

// process turns a reply into records: each problem kept or rejected with
// the decision of every filter; a reply with none is one rejected record.
func (s *Stage) process(env *pipeline.Env, info pipeline.ModelInfo, a *answered, idx *text.Index) []*record.Record {
	bt := a.batch
	var parents []string
	if bt.attr != nil {
		parents = []string{bt.attr.rec.ID}
	}
	prov := env.Provenance("problems", info, parents...)
	prov.SeedIDs, prov.TemplateHash, prov.RequestKeys = bt.seedIDs, s.prompt.Hash, a.keys
	prov.Params = map[string]any{"domain": s.cfg.Domain, "shown": len(bt.seedIDs), "per_prompt": s.cfg.PerPrompt, "max_tokens": s.cfg.MaxTokens}
	if s.cfg.Temp != nil {
		prov.Params["temperature"] = *s.cfg.Temp
	}
	s.shape.Note(prov.Params, a.how)
	if a.model != "" {
		prov.Model = a.model
	}
	rec := func(i int) *record.Record {
		r := &record.Record{ID: fmt.Sprintf("%s:%s:%02d", env.Name, batchKey(bt.n), i), Stage: env.Name, Seq: int64(bt.n)*1000 + int64(i),
			Prov: prov, Meta: map[string]any{"batch": bt.n, "domain": s.cfg.Domain}}
		if bt.attr != nil {
			attrs.Carry(r, bt.attr.rec, bt.attr.spec)
		}
		return r
	}
	whole := func(status record.Status, d record.Decision, errText string) []*record.Record {
		r := rec(0)
		r.Status, r.Error, r.Meta["kind"] = status, errText, KindBatch
		if a.choice.Text != "" {
			r.Meta["response"] = a.choice.Text
		}
		if d.Filter != "" {
			r.Decisions = []record.Decision{d}
		}
		return []*record.Record{r}
	}
	if a.err != nil {
		return whole(record.Failed, record.Decision{}, "problems: generate: "+a.err.Error())
	}
	items := parseProblems(a.choice.Text, len(bt.seedIDs)+1)
	if s.shape != nil && a.how != structured.Off {
		var err error
		if items, err = parseShaped(s.shape.Schema, a.choice.Text, len(bt.seedIDs)+1); err != nil {
			return whole(record.Rejected, record.Decision{Filter: "parse", Reason: "the reply does not fit the schema: " + err.Error()}, "")
		}
	} else if a.choice.FinishReason == model.FinishLength && len(items) > 0 {
		// The last problem was cut mid-sentence: the ones before it are whole.
		items = items[:len(items)-1]
	}
	if len(items) == 0 {
		return whole(record.Rejected, record.Decision{Filter: "parse", Reason: fmt.Sprintf("no problems in the reply (finish reason %q)", a.choice.FinishReason)}, "")
	}
	var out []*record.Record
	for i, it := range items {
		r := rec(i)
		r.Instruction = it.Text
		r.Meta["kind"] = KindProblem
		if it.Cut {
			r.Meta["solution_cut"] = true
		}
		r.Decisions = s.check(it.Text)
		if passed(r.Decisions) {
			res := idx.CheckText(it.Text)
			d := record.Decision{Filter: "novelty", Passed: res.Novel, Value: res.Max,
				Reason: fmt.Sprintf("max ROUGE-L %.3f against the seeds and kept problems (threshold %v)", res.Max, s.cfg.Novelty)}
			if !res.Novel && len(res.Similar) > 0 {
				d.Reason += fmt.Sprintf("; closest %q", genkit.Clip(res.Similar[0].Text, 80))
			}
			r.Decisions = append(r.Decisions, d)
			r.Meta["max_similarity"] = res.Max
		}
		r.Status = record.Rejected
		if passed(r.Decisions) {
			r.Status = record.Kept
			idx.AddText(it.Text)
		}
		out = append(out, r)
	}
	return out
}

// functionRe finds a function named with its parameters: name(…).
var functionRe = regexp.MustCompile(`\b[A-Za-z_][A-Za-z0-9_]*\([^()]*\)`)

// check applies the filters that need nothing but the problem: length, and
// for code a named function the tests can call.
func (s *Stage) check(p string) []record.Decision {
	words := text.WordCount(p, s.lang)
	ds := []record.Decision{{Filter: "length", Passed: words >= s.cfg.MinWords && (s.cfg.MaxWords == 0 || words <= s.cfg.MaxWords), Value: float64(words),
		Reason: fmt.Sprintf("%d words (kept in [%d, %d])", words, s.cfg.MinWords, s.cfg.MaxWords)}}
	if s.cfg.Domain == Code {
		fn := functionRe.FindString(p)
		ds = append(ds, record.Decision{Filter: "function", Passed: fn != "", Reason: cmp.Or(fn, "names no function with its parameters")})
	}
	return ds
}

func passed(ds []record.Decision) bool {
	for _, d := range ds {
		if !d.Passed {
			return false
		}
	}
	return true
}

var _ pipeline.Stage = (*Stage)(nil)
