// Package faq is the FAQ expansion stage: each FAQ entry becomes paraphrased customer questions, answers checked against the entry by a grounding judge, and multi-turn support dialogues.
package faq

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/synthloop/synthloop/grounding"
	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// Config is the `with:` block of a faq stage.
type Config struct {
	Model string `yaml:"model" doc:"Paraphrases and answers and, without grounding_model, judges (required)"`
	// Paths are FAQ files (.jsonl, .json, .yaml, .yml, .csv, .tsv), folders
	// or glob patterns. Without paths the stage reads the kept records of
	// the stage before it: instruction (or the first user turn) is the
	// question, output (or the first assistant turn) the answer.
	Paths []string `yaml:"paths" doc:"FAQ files (.jsonl, .json, .yaml, .csv, .tsv), folders or globs (none: the previous stage)"`
	Path  string   `yaml:"path" doc:"A single path, added to paths"`
	// QuestionKey, AnswerKey and IDKey name the entry fields in the files
	// ("question", "answer", "id"); the id, when present, keys the entry.
	QuestionKey     string `yaml:"question_key" doc:"Entry field holding the question"`
	AnswerKey       string `yaml:"answer_key" doc:"Entry field holding the answer"`
	IDKey           string `yaml:"id_key" doc:"Entry field holding the id that keys the entry"`
	Paraphrases     int    `yaml:"paraphrases" doc:"Ways to ask each question requested; each opens one dialogue"`
	IncludeOriginal bool   `yaml:"include_original" doc:"Also opens a dialogue with the FAQ's own question"`
	// Turns is the number of customer messages per dialogue (2): the opening
	// question, then follow-ups the FAQ answer also answers.
	Turns int `yaml:"turns" doc:"Customer messages per dialogue"`
	// System is the support assistant's persona: the start of the answering
	// prompt and, when set, the dialogues' system turn.
	System string `yaml:"system" doc:"The support assistant's persona, also the dialogues' system turn"`
	// Prompts replaces embedded prompts with the user's template files:
	// paraphrase, answer, retry (docs/PROMPTS.md).
	Prompts prompt.Files `yaml:"prompts" doc:"Your own template files by kind: paraphrase, answer, retry (docs/PROMPTS.md)"`
	// Temperature of the paraphrase request (0.9: varied wording) and
	// AnswerTemperature of the answers (0.3: faithful to the entry).
	Temperature       *float64 `yaml:"temperature" doc:"Temperature of the paraphrase request"`
	AnswerTemperature *float64 `yaml:"answer_temperature" doc:"Temperature of the answers"`
	MaxTokens         int      `yaml:"max_tokens" doc:"Bounds each reply"`
	Structured        string   `yaml:"structured" doc:"The paraphrase reply as JSON validated against a built-in schema ({questions, follow_ups}): off (the JSON the prompt describes, read as is), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt)"`
	JSONSchema        bool     `yaml:"json_schema" doc:"The same as structured: native (kept for older configs)"`
	// ParseRetries bounds the follow-ups that ask the model to restate a
	// paraphrase reply that is not the JSON asked for (1); -1 means none.
	ParseRetries int `yaml:"parse_retries" doc:"Follow-ups asking to restate a paraphrase reply that is not JSON (-1: none)"`
	// The grounding check of every answer against its entry: grounding_model,
	// grounding_threshold (4 of 5), grounding_samples (1), ...
	grounding.Config `yaml:",inline"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config {
	t, at := 0.9, 0.3
	return &Config{
		QuestionKey: "question", AnswerKey: "answer", IDKey: "id", Paraphrases: 3, IncludeOriginal: true, Turns: 2,
		Temperature: &t, AnswerTemperature: &at, MaxTokens: 512, ParseRetries: 1, Config: grounding.DefaultConfig(),
	}
}

// Validate checks the settings when the config is loaded; the files are read
// when the stage runs, before any request.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// Stage is the faq stage.
type Stage struct {
	cfg   Config
	ps    *prompts
	shape *structured.Shaper // nil: structured off
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	c := *cfg
	switch {
	case c.Model == "":
		return nil, errors.New("faq: model: required (name of a backend in the models section)")
	case c.Paraphrases < 0 || c.Paraphrases > 50:
		return nil, fmt.Errorf("faq: paraphrases: %d; want 0 to 50", c.Paraphrases)
	case c.Paraphrases == 0 && !c.IncludeOriginal:
		return nil, errors.New("faq: paraphrases is 0 and include_original false: no dialogue would open")
	case c.Turns < 1 || c.Turns > 20:
		return nil, fmt.Errorf("faq: turns: %d; want 1 to 20 customer messages", c.Turns)
	case c.MaxTokens < 0 || c.ParseRetries < -1:
		return nil, errors.New("faq: max_tokens must not be negative, parse_retries not below -1")
	}
	if err := c.Config.Validate(); err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	if err := c.Prompts.Check(kinds); err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	ps, err := loadPrompts(c.Prompts)
	if err != nil {
		return nil, err
	}
	shape, err := structured.NewShaper(structured.OrJSONSchema(c.Structured, c.JSONSchema), paraphraseSchema(c.Turns > 1))
	if err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	return &Stage{cfg: c, ps: ps, shape: shape}, nil
}

func (s *Stage) keys() Keys {
	return Keys{Question: s.cfg.QuestionKey, Answer: s.cfg.AnswerKey, ID: s.cfg.IDKey}
}

// Streams implements pipeline.Streaming when the entries come from the
// previous stage: an entry's expansion depends on that entry alone.
func (s *Stage) Streams() bool { return len(s.cfg.Paths) == 0 && s.cfg.Path == "" }

// Run expands every entry not yet committed, env.Concurrency entries at a
// time: from the files when paths are set, else from the input stage.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	var entries []Entry
	paths := s.cfg.Paths
	if s.cfg.Path != "" {
		paths = append(slices.Clone(paths), s.cfg.Path)
	}
	if len(paths) > 0 {
		var err error
		if entries, err = s.readEntries(paths); err != nil {
			return err
		}
	} else if env.Input == "" {
		return errors.New("faq: paths: required when the stage is first (or read the entries with a load stage before it)")
	}
	b, err := genkit.Open(env, "faq", s.cfg.Model)
	if err != nil {
		return err
	}
	chk, err := s.cfg.Config.NewChecker(bestofn.Opener(env), s.cfg.Model)
	if err != nil {
		return fmt.Errorf("faq: %w", err)
	}
	if len(paths) == 0 {
		return pipeline.ForEachKept(ctx, env, func(ctx context.Context, in *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
			out, u, err := s.expand(ctx, env, fromRecord(in), b, chk)
			for _, r := range out {
				r.Prov.ParentIDs = []string{in.ID}
			}
			return out, u, err
		})
	}
	// A unit's key holds a hash of the entry's text: an edited entry is
	// expanded again on a rerun.
	units := make([]pipeline.UnitSpec, len(entries))
	for i, e := range entries {
		h := sha256.Sum256([]byte(e.Question + "\x00" + e.Answer))
		units[i] = pipeline.UnitSpec{Key: e.Key + "@" + hex.EncodeToString(h[:6]), Seq: int64(i+1) * 1000}
	}
	return pipeline.RunUnits(ctx, env, units, func(ctx context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.expand(ctx, env, entries[i], b, chk)
	})
}

func (s *Stage) readEntries(paths []string) ([]Entry, error) {
	files, err := FAQFiles(paths)
	if err != nil {
		return nil, err
	}
	var entries []Entry
	seen := map[string]int{}
	for _, f := range files {
		es, err := ReadEntries(f, s.keys())
		if err != nil {
			return nil, err
		}
		for _, e := range es {
			// Keys must be unique: they are the units' keys.
			if n := seen[e.Key]; n > 0 {
				e.Err = fmt.Sprintf("duplicate id: %s is already an entry", e.Key)
				e.Key = fmt.Sprintf("%s~%d", e.Key, n+1)
			}
			seen[e.Key]++
			entries = append(entries, e)
		}
	}
	if len(entries) == 0 {
		return nil, fmt.Errorf("faq: the files hold no entries: %s", strings.Join(files, ", "))
	}
	return entries, nil
}

// fromRecord reads an entry from a record of the stage before.
func fromRecord(in *record.Record) Entry {
	e := Entry{Key: in.ID, Source: in.Stage, Question: strings.TrimSpace(in.Instruction), Answer: strings.TrimSpace(in.Output)}
	for _, t := range in.Messages {
		if t.Role == "user" && e.Question == "" {
			e.Question = strings.TrimSpace(t.Content)
		}
		if t.Role == "assistant" && e.Answer == "" {
			e.Answer = strings.TrimSpace(t.Content)
		}
	}
	if e.Question == "" || e.Answer == "" {
		e.Err = "the record has no question (instruction) or no answer (output)"
	}
	return e
}

// opener is how a dialogue starts.
type opener struct {
	text string
	kind string // "original" or "paraphrase"
	dup  string // why it is not used, when it repeats another
}

// expand turns one entry into its dialogues.
func (s *Stage) expand(ctx context.Context, env *pipeline.Env, e Entry, b genkit.Backend, chk *grounding.Checker) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	prov := env.Provenance("faq", b.Info)
	prov.TemplateHash = s.ps.answer.Hash
	prov.Params = map[string]any{"paraphrases": s.cfg.Paraphrases, "turns": s.cfg.Turns, "include_original": s.cfg.IncludeOriginal,
		"temperature": temp(s.cfg.Temperature, 0.9), "answer_temperature": temp(s.cfg.AnswerTemperature, 0.3),
		"max_tokens": s.cfg.MaxTokens, "grounding_threshold": s.cfg.Threshold}
	meta := func() map[string]any {
		m := map[string]any{"faq_id": e.Key, "faq_source": e.Source, "faq_question": e.Question, "faq_answer": e.Answer}
		if len(e.Extra) > 0 {
			m["faq_extra"] = e.Extra
		}
		return m
	}
	base := env.Name + ":" + e.Key
	if e.Err != "" {
		return []*record.Record{{ID: base, Status: record.Failed, Error: "faq: " + e.Err, Meta: meta(), Prov: prov}}, usage, nil
	}
	follow := s.cfg.Turns - 1
	var para Paraphrases
	var keys []string
	if s.cfg.Paraphrases > 0 || follow > 0 {
		asked, how, err := s.paraphrase(ctx, b, e, &usage)
		s.shape.Note(prov.Params, how)
		para, keys = asked.Value, asked.Keys
		if err != nil {
			m := meta()
			if asked.Failed(ctx, err, m, &usage) {
				return nil, usage, err
			}
			p := prov
			p.RequestKeys, p.TemplateHash = keys, s.ps.paraphrase.Hash
			return []*record.Record{{ID: base, Status: record.Failed, Error: "faq: " + err.Error(), Meta: m, Prov: p}}, usage, nil
		}
		if s.cfg.Paraphrases == 0 {
			para.Questions = nil // asked for one only because the reply's form wants a list
		}
	}
	openers := s.openers(e, para.Questions)
	followUps := dedupe(para.FollowUps)
	recs := make([]*record.Record, len(openers))
	var wg sync.WaitGroup
	errs := make([]error, len(openers))
	usages := make([]pipeline.UnitUsage, len(openers))
	used := 0
	for j, o := range openers {
		r := &record.Record{ID: fmt.Sprintf("%s:%d", base, j), Meta: meta(), Prov: prov}
		r.Prov.RequestKeys = append([]string(nil), keys...)
		r.Meta["opener"] = o.kind
		recs[j] = r
		if o.dup != "" {
			r.Instruction = o.text
			r.Status = record.Rejected
			r.Decisions = []record.Decision{{Filter: "paraphrase", Reason: o.dup}}
			continue
		}
		var fus []string
		for t := range follow {
			if len(followUps) > 0 {
				fus = append(fus, followUps[(used*follow+t)%len(followUps)])
			}
		}
		used++
		wg.Go(func() { errs[j] = s.dialogue(ctx, b, chk, e, o.text, fus, r, &usages[j]) })
	}
	wg.Wait()
	var stop error
	for j, r := range recs {
		usage.Add(usages[j])
		if err := errs[j]; err != nil {
			if pipeline.MustReturn(ctx, err) {
				stop = err
				continue
			}
			usage.Errors++
			r.Status, r.Error = record.Failed, "faq: "+err.Error()
		}
	}
	if stop != nil {
		return nil, usage, stop
	}
	return recs, usage, nil
}

func temp(t *float64, def float64) float64 {
	if t != nil {
		return *t
	}
	return def
}

// paraphrase asks for the paraphrases (at least one, which the form of the
// reply needs) and follow-ups of e, following up on a reply that does not
// parse while ParseRetries lasts.
func (s *Stage) paraphrase(ctx context.Context, b genkit.Backend, e Entry, u *pipeline.UnitUsage) (genkit.Asked[Paraphrases], structured.Mode, error) {
	want := s.cfg.Turns > 1
	text, err := s.ps.paraphrasePrompt(e, max(s.cfg.Paraphrases, 1), s.followUpCount())
	if err != nil {
		return genkit.Asked[Paraphrases]{}, structured.Off, err
	}
	a := genkit.Ask[Paraphrases]{
		Request: model.Request{
			Messages:    []model.Message{{Role: "user", Content: text}},
			Temperature: s.cfg.Temperature,
			MaxTokens:   s.cfg.MaxTokens,
		},
		Parse:   func(reply string) (Paraphrases, error) { return ParseParaphrases(reply, want) },
		Retries: s.cfg.ParseRetries,
		Restate: func(problem string) string { return s.ps.retryText(problem, s.followUpCount()) },
		What:    "paraphrase reply",
	}
	return genkit.Shaped(ctx, b, u, s.shape, a, func(raw json.RawMessage) (Paraphrases, error) { return ParseParaphrases(string(raw), want) })
}

// followUpCount is how many follow-ups are asked for: enough that the
// dialogues need not share them.
func (s *Stage) followUpCount() int {
	n := s.cfg.Paraphrases
	if s.cfg.IncludeOriginal {
		n++
	}
	return (s.cfg.Turns - 1) * n
}

// openers lists the dialogues' first questions: the original (when
// included), then the paraphrases; one that repeats the original or an
// earlier paraphrase (after normalisation) is kept with the reason, unused.
func (s *Stage) openers(e Entry, paraphrases []string) []opener {
	var out []opener
	seen := map[string]int{}
	if s.cfg.IncludeOriginal {
		out = append(out, opener{text: e.Question, kind: "original"})
	}
	seen[grounding.Normalize(e.Question)] = -1
	for i, p := range paraphrases {
		if i >= s.cfg.Paraphrases {
			break // more than asked for: the first ones count
		}
		p = strings.TrimSpace(p)
		o := opener{text: p, kind: "paraphrase"}
		n := grounding.Normalize(p)
		switch prev, ok := seen[n]; {
		case p == "":
			o.dup = "an empty paraphrase"
		case ok && prev < 0:
			o.dup = "the same as the FAQ question"
		case ok:
			o.dup = fmt.Sprintf("the same as paraphrase %d", prev+1)
		default:
			seen[n] = i
		}
		out = append(out, o)
	}
	return out
}

func dedupe(qs []string) []string {
	var out []string
	seen := map[string]bool{}
	for _, q := range qs {
		q = strings.TrimSpace(q)
		if n := grounding.Normalize(q); q != "" && !seen[n] {
			seen[n] = true
			out = append(out, q)
		}
	}
	return out
}

// dialogue plays one support conversation into r: each customer message is
// answered with the entry as reference, and each answer is checked against
// the entry before the next message; the first answer that fails ends the
// dialogue, which is then rejected (or failed, when the judge gave no score).
// The error is a model failure.
func (s *Stage) dialogue(ctx context.Context, b genkit.Backend, chk *grounding.Checker, e Entry, first string, followUps []string, r *record.Record, u *pipeline.UnitUsage) error {
	system, err := s.ps.answerSystem(e, s.cfg.System)
	if err != nil {
		return err
	}
	var turns []record.Turn
	if s.cfg.System != "" {
		turns = append(turns, record.Turn{Role: "system", Content: s.cfg.System})
	}
	var judgments []any
	minScore, sum := float64(grounding.MaxScore), 0.0
	defer func() {
		r.Messages = turns
		if len(judgments) > 0 {
			r.Meta["judgments"] = judgments
			r.Meta["grounding_template_hash"] = grounding.TemplateHash()
		}
	}()
	for t, q := range append([]string{first}, followUps...) {
		turns = append(turns, record.Turn{Role: "user", Content: q})
		req := model.Request{
			Messages:    []model.Message{{Role: "system", Content: system}},
			Temperature: s.cfg.AnswerTemperature,
			MaxTokens:   s.cfg.MaxTokens,
		}
		for _, tu := range turns {
			if tu.Role != "system" {
				req.Messages = append(req.Messages, model.Message{Role: tu.Role, Content: tu.Content})
			}
		}
		choice, _, err := b.Call(ctx, req, &r.Prov.RequestKeys, u)
		if err != nil && !errors.Is(err, genkit.ErrNoChoices) {
			return fmt.Errorf("generate: %w", err)
		}
		reply, finish := strings.TrimSpace(choice.Text), choice.FinishReason
		label := fmt.Sprintf("turn %d: ", t+1)
		switch {
		case reply == "":
			r.Status = record.Rejected
			r.Decisions = append(r.Decisions, record.Decision{Filter: "answer", Reason: label + "empty answer"})
			return nil
		case finish == model.FinishLength:
			r.Status = record.Rejected
			r.Decisions = append(r.Decisions, record.Decision{Filter: "answer", Reason: fmt.Sprintf("%sthe answer was cut at max_tokens %d", label, s.cfg.MaxTokens)})
			return nil
		}
		turns = append(turns, record.Turn{Role: "assistant", Content: reply})
		if t == 0 {
			r.Instruction, r.Output = q, reply
		}
		v, err := chk.CheckAnswer(ctx, grounding.Item{Question: q, Evidence: Evidence(e), Answer: reply})
		if v.Judgment != nil {
			u.Add(v.Judgment.Usage)
			r.Prov.RequestKeys = append(r.Prov.RequestKeys, v.Judgment.RequestKeys...)
			judgments = append(judgments, v.Judgment)
		}
		if err != nil {
			return fmt.Errorf("grounding: %w", err)
		}
		for _, d := range v.Decisions {
			if d.Reason != "" {
				d.Reason = label + d.Reason
			}
			r.Decisions = append(r.Decisions, d)
		}
		if v.NoScore != "" {
			r.Status, r.Error = record.Failed, "faq: "+label+v.NoScore
			return nil
		}
		if !v.Passed {
			r.Status = record.Rejected
			return nil
		}
		score := v.Judgment.Score
		minScore = min(minScore, score)
		sum += score
		r.Scores = map[string]float64{"grounding": minScore, "grounding_mean": sum / float64(t+1)}
	}
	r.Status = record.Kept
	return nil
}

var _ pipeline.Stage = (*Stage)(nil)

// The grounding judge's prompts are also this stage's, under grounding_prompts:.
func init() { prompt.DeclareSet("faq", grounding.PromptSet) }
