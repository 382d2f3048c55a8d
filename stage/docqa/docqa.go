// Package docqa is the document-grounded QA stage: it reads documents, chunks them, asks a model for question-and-answer pairs with a quoted evidence span per chunk, and keeps the pairs that pass the grounding check.
package docqa

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
	"github.com/synthloop/synthloop/ingest"
	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/bestofn"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/text"
)

// Config is the `with:` block of a docqa stage.
type Config struct {
	Model string `yaml:"model" doc:"Writes the pairs and, without grounding_model, judges them (required)"`
	// Paths are files, folders (read recursively) or glob patterns of .txt,
	// .md, .html, .pdf, .docx, .pptx and .xlsx documents, relative to the
	// working directory.
	Paths []string `yaml:"paths" doc:"Files, folders or globs of .txt, .md, .html, .pdf, .docx, .pptx and .xlsx documents"`
	Path  string   `yaml:"path" doc:"A single path, added to paths"`
	PDF   string   `yaml:"pdf" doc:"PDF text extractor: auto (in process, pdftotext from poppler-utils for a PDF it reads no text from or would garble), go (in process only) or pdftotext"`
	// ChunkTokens (400) and ChunkOverlap (50) size the chunks, in tokens of
	// Tokenizer: "cjk" (default: words, and CJK characters one each),
	// "kagome" (Japanese morphemes) or "rouge" (ASCII words only).
	ChunkTokens  int    `yaml:"chunk_tokens" doc:"Chunk size in tokens"`
	ChunkOverlap int    `yaml:"chunk_overlap" doc:"Tokens shared by neighbouring chunks"`
	Tokenizer    string `yaml:"tokenizer" doc:"Chunking tokens: cjk, kagome or rouge"`
	// MinChunkTokens skips chunks with fewer tokens (20): a stray heading or
	// page footer has no facts to ask about. A skipped chunk is recorded.
	MinChunkTokens int      `yaml:"min_chunk_tokens" doc:"Skips chunks with fewer tokens (a stray heading has no facts)"`
	Pairs          int      `yaml:"pairs" doc:"Pairs asked for per chunk"`
	Temperature    *float64 `yaml:"temperature" doc:"Temperature of the generation requests"`
	MaxTokens      int      `yaml:"max_tokens" doc:"Bounds each generation reply"`
	System         string   `yaml:"system" doc:"An optional system prompt for the generation requests"`
	// Prompts replaces embedded prompts with the user's template files:
	// generate, retry (docs/PROMPTS.md).
	Prompts prompt.Files `yaml:"prompts" doc:"Your own template files by kind: generate, retry (docs/PROMPTS.md)"`
	// Structured asks for the reply's schema with the request, or in the
	// prompt; off, the prompt's own description of the JSON is all.
	Structured string `yaml:"structured" doc:"The reply as JSON validated against a built-in schema ({pairs: [{question, answer, evidence}]}): off (the JSON the prompt describes, read as is), auto (the schema sent with each request until the backend refuses it, then off), native, or prompt (the schema written into the prompt)"`
	// JSONSchema is the older spelling of structured: native.
	JSONSchema bool `yaml:"json_schema" doc:"The same as structured: native (kept for older configs)"`
	// ParseRetries bounds the follow-ups that ask the model to restate a
	// reply that is not the JSON asked for (1); -1 means none.
	ParseRetries int `yaml:"parse_retries" doc:"Follow-ups asking to restate a reply that is not the JSON asked for (-1: none)"`
	// WithContext puts the chunk in each record's Input, for training a
	// reader that answers from retrieved text; off, the records are
	// closed-book question and answer.
	WithContext bool `yaml:"with_context" doc:"Puts the chunk in each record's input (else closed-book)"`
	// The grounding check: grounding_model, grounding_threshold (4 of 5),
	// grounding_samples (1), min_evidence_chars (8), ...
	grounding.Config `yaml:",inline"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config {
	t := 0.7
	return &Config{
		PDF: ingest.PDFAuto, ChunkTokens: 400, ChunkOverlap: 50, Tokenizer: text.TokenizerCJK, MinChunkTokens: 20,
		Pairs: 3, Temperature: &t, MaxTokens: 1024, ParseRetries: 1, Config: grounding.DefaultConfig(),
	}
}

// Validate checks the settings when the config is loaded. The paths are
// checked when the stage runs, before any request: they are relative to the
// directory the run starts in.
func (c *Config) Validate() error {
	_, err := New(c)
	return err
}

// Stage is the docqa stage.
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
		return nil, errors.New("docqa: model: required (name of a backend in the models section)")
	case len(c.Paths) == 0 && c.Path == "":
		return nil, errors.New("docqa: paths: required (files or folders of .txt, .md, .html, .pdf, .docx, .pptx or .xlsx documents)")
	case c.Pairs < 1 || c.Pairs > 100:
		return nil, fmt.Errorf("docqa: pairs: %d; want 1 to 100 per chunk", c.Pairs)
	case c.ChunkTokens < 1 || c.ChunkOverlap < 0 || c.ChunkOverlap >= c.ChunkTokens:
		return nil, fmt.Errorf("docqa: chunk_tokens %d, chunk_overlap %d: want chunk_tokens ≥ 1 and 0 ≤ chunk_overlap < chunk_tokens", c.ChunkTokens, c.ChunkOverlap)
	case c.MinChunkTokens < 0 || c.MaxTokens < 0 || c.ParseRetries < -1:
		return nil, errors.New("docqa: min_chunk_tokens and max_tokens must not be negative; parse_retries not below -1")
	}
	switch c.Tokenizer {
	case text.TokenizerCJK, text.TokenizerKagome, text.TokenizerRouge:
	default:
		return nil, fmt.Errorf("docqa: tokenizer %q (want cjk, kagome or rouge)", c.Tokenizer)
	}
	if err := (ingest.Options{PDF: c.PDF}).Validate(); err != nil {
		return nil, fmt.Errorf("docqa: %w", err)
	}
	if err := c.Config.Validate(); err != nil {
		return nil, fmt.Errorf("docqa: %w", err)
	}
	if err := c.Prompts.Check(kinds); err != nil {
		return nil, fmt.Errorf("docqa: %w", err)
	}
	ps, err := loadPrompts(c.Prompts)
	if err != nil {
		return nil, err
	}
	shape, err := structured.NewShaper(structured.OrJSONSchema(c.Structured, c.JSONSchema), pairsSchema)
	if err != nil {
		return nil, fmt.Errorf("docqa: %w", err)
	}
	return &Stage{cfg: c, ps: ps, shape: shape}, nil
}

// unit is one chunk to ask about, or a document that could not be read.
type unit struct {
	key   string
	seq   int64
	chunk ingest.Chunk
	parts int    // chunks in the chunk's document
	doc   string // the document, for a read failure
	err   error  // why the document could not be read
}

// Run reads and chunks the documents, then asks for the pairs of every chunk
// not yet committed, env.Concurrency chunks at a time. A document that cannot
// be read becomes a failed record and the run goes on; a path that does not
// exist stops the stage before any request is made.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	units, err := s.units(ctx)
	if err != nil {
		return err
	}
	b, err := genkit.Open(env, "docqa", s.cfg.Model)
	if err != nil {
		return err
	}
	chk, err := s.cfg.Config.NewChecker(bestofn.Opener(env), s.cfg.Model)
	if err != nil {
		return fmt.Errorf("docqa: %w", err)
	}
	if env.Log != nil {
		env.Log.Info("docqa: documents chunked", "units", len(units))
	}
	specs := make([]pipeline.UnitSpec, len(units))
	for i, u := range units {
		specs[i] = pipeline.UnitSpec{Key: u.key, Seq: u.seq}
	}
	return pipeline.RunUnits(ctx, env, specs, func(ctx context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
		return s.one(ctx, env, units[i], b, chk)
	})
}

// units lists the work: every chunk of every document, in file order.
func (s *Stage) units(ctx context.Context) ([]unit, error) {
	paths := s.cfg.Paths
	if s.cfg.Path != "" {
		paths = append(slices.Clone(paths), s.cfg.Path)
	}
	files, err := ingest.Files(paths)
	if err != nil {
		return nil, fmt.Errorf("docqa: %w", err)
	}
	chunker, err := ingest.NewChunker(s.cfg.ChunkTokens, s.cfg.ChunkOverlap, s.cfg.Tokenizer)
	if err != nil {
		return nil, fmt.Errorf("docqa: %w", err)
	}
	var units []unit
	for _, f := range files {
		doc, err := ingest.Read(ctx, f, ingest.Options{PDF: s.cfg.PDF})
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			units = append(units, unit{key: "document:" + doc.Source, doc: doc.Source, err: err})
			continue
		}
		chunks := chunker.Split(doc)
		if len(chunks) == 0 {
			units = append(units, unit{key: "document:" + doc.Source, doc: doc.Source, err: errors.New("the document has no text")})
			continue
		}
		for _, c := range chunks {
			// The key holds the text's hash: an edited document is asked
			// about again on a rerun, an unchanged one is not.
			h := sha256.Sum256([]byte(c.Text))
			units = append(units, unit{key: c.ID + "@" + hex.EncodeToString(h[:6]), chunk: c, parts: len(chunks)})
		}
	}
	for i := range units {
		units[i].seq = int64(i+1) * 1000
	}
	return units, nil
}

// one asks for the pairs of one chunk and checks each.
func (s *Stage) one(ctx context.Context, env *pipeline.Env, u unit, b genkit.Backend, chk *grounding.Checker) ([]*record.Record, pipeline.UnitUsage, error) {
	var usage pipeline.UnitUsage
	prov := env.Provenance("docqa", b.Info)
	prov.TemplateHash = s.ps.generate.Hash
	prov.Params = map[string]any{"pairs": s.cfg.Pairs, "temperature": *s.temperature(), "max_tokens": s.cfg.MaxTokens,
		"chunk_tokens": s.cfg.ChunkTokens, "chunk_overlap": s.cfg.ChunkOverlap, "tokenizer": s.cfg.Tokenizer,
		"grounding_threshold": s.cfg.Threshold}
	c := u.chunk
	meta := func() map[string]any {
		m := map[string]any{"source": c.Source, "chunk_id": c.ID, "chunk_index": c.Index, "chunk_start": c.Start,
			"chunk_end": c.End, "chunk_tokens": c.Tokens}
		if c.Location != "" {
			m["location"] = c.Location
		}
		return m
	}
	if u.err != nil {
		return []*record.Record{{
			ID: env.Name + ":" + u.doc, Seq: u.seq, Status: record.Failed, Error: "docqa: " + u.err.Error(),
			Meta: map[string]any{"source": u.doc}, Prov: prov,
		}}, usage, nil
	}
	if c.Tokens < s.cfg.MinChunkTokens {
		return []*record.Record{{
			ID: env.Name + ":" + c.ID, Seq: u.seq, Status: record.Rejected, Input: c.Text, Meta: meta(), Prov: prov,
			Decisions: []record.Decision{{Filter: "chunk", Value: float64(c.Tokens),
				Reason: fmt.Sprintf("%d tokens, fewer than min_chunk_tokens %d: not asked about", c.Tokens, s.cfg.MinChunkTokens)}},
		}}, usage, nil
	}
	asked, how, err := s.generate(ctx, b, c, u.parts, &usage)
	s.shape.Note(prov.Params, how)
	pairs, keys := asked.Value, asked.Keys
	prov.RequestKeys = keys
	if asked.Model != "" {
		prov.Model = asked.Model
	}
	if err != nil {
		m := meta()
		if asked.Failed(ctx, err, m, &usage) {
			return nil, usage, err
		}
		return []*record.Record{{
			ID: env.Name + ":" + c.ID, Seq: u.seq, Status: record.Failed, Error: "docqa: " + err.Error(), Input: c.Text, Meta: m, Prov: prov,
		}}, usage, nil
	}
	if len(pairs) > s.cfg.Pairs {
		pairs = pairs[:s.cfg.Pairs] // more than asked for: the first ones count
	}
	recs := s.pairRecords(env, u, pairs, keys, prov, meta)
	verdicts, errs := ground(ctx, chk, c, recs, pairs)
	if err := settle(ctx, c, recs, verdicts, errs, &usage); err != nil {
		return nil, usage, err
	}
	return recs, usage, nil
}

// pairRecords makes a record of each pair. A pair with an empty field, or
// with a question asked before in this chunk, is rejected at once: it is
// not worth a grounding check.
func (s *Stage) pairRecords(env *pipeline.Env, u unit, pairs []Pair, keys []string, prov record.Provenance, meta func() map[string]any) []*record.Record {
	c := u.chunk
	recs := make([]*record.Record, len(pairs))
	seen := map[string]int{}
	for i, p := range pairs {
		r := &record.Record{
			ID: fmt.Sprintf("%s:%s:%d", env.Name, c.ID, i), Seq: u.seq + int64(i),
			Instruction: strings.TrimSpace(p.Question), Output: strings.TrimSpace(p.Answer), Meta: meta(), Prov: prov,
		}
		r.Prov.RequestKeys = append([]string(nil), keys...)
		r.Meta["evidence"] = p.Evidence
		if s.cfg.WithContext {
			r.Input = c.Text
		}
		recs[i] = r
		switch q := grounding.Normalize(r.Instruction); {
		case r.Instruction == "" || r.Output == "":
			r.Status = record.Rejected
			r.Decisions = []record.Decision{{Filter: "parse", Reason: "the pair has no question or no answer"}}
		case seen[q] > 0:
			r.Status = record.Rejected
			r.Decisions = []record.Decision{{Filter: "duplicate", Reason: fmt.Sprintf("the same question as pair %d of this chunk", seen[q])}}
		default:
			seen[q] = i + 1
		}
	}
	return recs
}

// ground checks every record not yet rejected against the chunk, all at
// once: the quote of its pair's evidence, then its answer by the judge.
func ground(ctx context.Context, chk *grounding.Checker, c ingest.Chunk, recs []*record.Record, pairs []Pair) ([]grounding.Verdict, []error) {
	verdicts := make([]grounding.Verdict, len(recs))
	errs := make([]error, len(recs))
	var wg sync.WaitGroup
	for i, r := range recs {
		if r.Status != "" {
			continue
		}
		wg.Go(func() {
			verdicts[i], errs[i] = chk.CheckQuote(ctx, c.Text, grounding.Item{Question: r.Instruction, Evidence: pairs[i].Evidence, Answer: r.Output})
		})
	}
	wg.Wait()
	return verdicts, errs
}

// settle writes each record's verdict on it: the judgment and its cost on
// every judged record, and a status on those not rejected before. An error
// that must not be recorded (pipeline.MustReturn) is returned: a transient
// one on any record leaves the whole unit for a rerun.
func settle(ctx context.Context, c ingest.Chunk, recs []*record.Record, verdicts []grounding.Verdict, errs []error, usage *pipeline.UnitUsage) error {
	for i, r := range recs {
		v, err := verdicts[i], errs[i]
		if v.Judgment != nil {
			usage.Add(v.Judgment.Usage)
			r.Prov.RequestKeys = append(r.Prov.RequestKeys, v.Judgment.RequestKeys...)
			r.Meta["judgment"] = v.Judgment
			r.Meta["grounding_template_hash"] = grounding.TemplateHash()
			if v.Judgment.OK() {
				r.Scores = map[string]float64{"grounding": v.Judgment.Score}
			}
		}
		if r.Status != "" {
			continue
		}
		r.Decisions = v.Decisions
		if v.Found {
			r.Meta["evidence_start"], r.Meta["evidence_end"] = c.Start+v.Start, c.Start+v.End
			if loc := c.Locate(c.Start+v.Start, c.Start+v.End); loc != "" {
				r.Meta["evidence_location"] = loc // the page, slide or sheet to cite
			}
		}
		switch {
		case err != nil:
			if pipeline.MustReturn(ctx, err) {
				return err
			}
			usage.Errors++
			r.Status, r.Error = record.Failed, "docqa: grounding: "+err.Error()
		case v.NoScore != "":
			r.Status, r.Error = record.Failed, "docqa: "+v.NoScore
		case v.Passed:
			r.Status = record.Kept
		default:
			r.Status = record.Rejected
		}
	}
	return nil
}

func (s *Stage) temperature() *float64 {
	if s.cfg.Temperature != nil {
		return s.cfg.Temperature
	}
	t := 0.7
	return &t
}

// generate asks for the pairs of c, following up on a reply that does not
// parse while ParseRetries lasts.
func (s *Stage) generate(ctx context.Context, b genkit.Backend, c ingest.Chunk, parts int, u *pipeline.UnitUsage) (genkit.Asked[[]Pair], structured.Mode, error) {
	var msgs []model.Message
	if s.cfg.System != "" {
		msgs = append(msgs, model.Message{Role: "system", Content: s.cfg.System})
	}
	text, err := s.ps.prompt(c, parts, s.cfg.Pairs)
	if err != nil {
		return genkit.Asked[[]Pair]{}, structured.Off, err
	}
	a := genkit.Ask[[]Pair]{
		Request: model.Request{
			Messages:    append(msgs, model.Message{Role: "user", Content: text}),
			Temperature: s.temperature(),
			MaxTokens:   s.cfg.MaxTokens,
		},
		Parse:   ParseReply,
		Retries: s.cfg.ParseRetries,
		Restate: func(problem string) string { return s.ps.retryText(problem, s.cfg.Pairs) },
		What:    "reply",
		CutHint: "; raise max_tokens or lower pairs",
	}
	return genkit.Shaped(ctx, b, u, s.shape, a, func(raw json.RawMessage) ([]Pair, error) { return ParseReply(string(raw)) })
}

var _ pipeline.Stage = (*Stage)(nil)

// The grounding judge's prompts are also this stage's, under grounding_prompts:.
func init() { prompt.DeclareSet("docqa", grounding.PromptSet) }
