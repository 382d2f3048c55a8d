// Package dedup is the pipeline stage that removes duplicates, eval-set contamination, off-length and off-language records, and personal data.
package dedup

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"math"
	"os"
	"runtime/debug"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/synthloop/synthloop/dedup"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/text"
)

// What the stage compares of each record.
const (
	FieldInstruction      = "instruction"
	FieldInstructionInput = "instruction+input"
	FieldOutput           = "output"
	FieldAll              = "all"
)

// Methods of duplicate detection.
const (
	MethodExact   = "exact"   // normalised hash only
	MethodMinHash = "minhash" // normalised hash, then MinHash-LSH near duplicates
	MethodOff     = "off"
)

// PII handling.
const (
	PIIOff    = "off"
	PIIScrub  = "scrub"  // replace with placeholders, keep the record
	PIIReject = "reject" // reject records holding any
)

// Config is the stage's `with:` block; its yaml tags are the spec.
type Config struct {
	Field        string  `yaml:"field" doc:"What is compared: instruction, instruction+input, output or all (instruction, input and output)"`
	Method       string  `yaml:"method" doc:"Duplicate detection: minhash, exact or off"`
	Threshold    float64 `yaml:"threshold" doc:"Near-duplicate Jaccard threshold"`
	Permutations int     `yaml:"permutations" doc:"MinHash signature length"`
	Shingle      string  `yaml:"shingle" doc:"Shingle unit: word or char"`
	ShingleSize  int     `yaml:"shingle_size" doc:"Words or characters per shingle"`
	// Seed derives the MinHash permutations. It is the stage's own, not the
	// run's, so changing the run seed does not change which records are kept.
	Seed uint64 `yaml:"seed" doc:"Derives the MinHash permutations (the stage's own, not the run's)"`
	// Decontaminate lists eval sets: JSONL (field DecontaminateField) or plain
	// text lines. Relative paths are relative to the working directory.
	Decontaminate      []string `yaml:"decontaminate" doc:"Eval sets to decontaminate against: JSONL or text lines"`
	DecontaminateField string   `yaml:"decontaminate_field" doc:"Field of the JSONL eval sets compared"`
	NGram              int      `yaml:"ngram" doc:"Decontamination n-gram length in tokens"`
	MinChars           int      `yaml:"min_chars" doc:"Shortest kept text in characters (0: no minimum)"`
	MaxChars           int      `yaml:"max_chars" doc:"Longest kept text in characters (0: no maximum)"`
	// Language keeps only records whose compared text text.GuessLang puts in
	// one of these languages; empty keeps all.
	Language []string `yaml:"language" doc:"Keeps only records in these languages (empty: all)"`
	PII      string   `yaml:"pii" doc:"Personal data: scrub, reject or off"`
	// RougeL, when above 0, also rejects a record whose ROUGE-L F against an
	// earlier kept one exceeds it (the Self-Instruct novelty filter, 0.7 in
	// the paper), with text.CJKTokenizer so Japanese and Chinese compare too.
	// It catches paraphrases that share words but few shingles, at a higher cost.
	RougeL float64 `yaml:"rouge_l" doc:"Also rejects a ROUGE-L F above this against a kept record (0: off)"`
	// Chunk is how many records make one committed part: what a crash
	// costs at most, and what the stage holds in memory besides its indexes.
	Chunk int `yaml:"chunk" doc:"Records decided and committed together (a crash redoes at most one such part)"`
	// SpillDir holds the MinHash signatures and record IDs on disk, most of the index's
	// size; only the candidates of a shared band are read back.
	SpillDir string `yaml:"spill_dir" doc:"Directory for the MinHash signatures and record IDs, kept on disk rather than in memory (default: the system's temporary directory)"`
}

// DefaultChunk is the records of one committed part of the stage.
const DefaultChunk = 20000

// An input of bigInput records or more runs with the garbage collector's
// GOGC at bigInputGC (see Stage.Run).
const (
	bigInput   = 1_000_000
	bigInputGC = 25
)

// DefaultConfig returns the defaults.
func DefaultConfig() *Config {
	return &Config{
		Field:              FieldInstructionInput,
		Method:             MethodMinHash,
		Threshold:          dedup.DefaultThreshold,
		Permutations:       dedup.DefaultPermutations,
		Shingle:            string(dedup.Words),
		ShingleSize:        dedup.DefaultShingleSize,
		Seed:               1,
		DecontaminateField: "text",
		Chunk:              DefaultChunk,
		NGram:              dedup.DefaultNGram,
		PII:                PIIOff,
	}
}

// Validate checks the settings when the config is loaded.
func (c *Config) Validate() error {
	switch c.Field {
	case FieldInstruction, FieldInstructionInput, FieldOutput, FieldAll:
	default:
		return fmt.Errorf("dedup: field %q, want instruction, instruction+input, output or all", c.Field)
	}
	switch c.Method {
	case MethodExact, MethodMinHash, MethodOff:
	default:
		return fmt.Errorf("dedup: method %q, want exact, minhash or off", c.Method)
	}
	switch c.PII {
	case PIIOff, PIIScrub, PIIReject:
	default:
		return fmt.Errorf("dedup: pii %q, want scrub, reject or off", c.PII)
	}
	if c.MinChars < 0 || c.MaxChars < 0 || (c.MaxChars > 0 && c.MaxChars < c.MinChars) {
		return fmt.Errorf("dedup: min_chars %d, max_chars %d", c.MinChars, c.MaxChars)
	}
	if c.RougeL < 0 || c.RougeL > 1 {
		return fmt.Errorf("dedup: rouge_l %v outside [0, 1]", c.RougeL)
	}
	if c.Chunk < 0 {
		return fmt.Errorf("dedup: chunk %d < 0", c.Chunk)
	}
	if c.NGram < 1 {
		return fmt.Errorf("dedup: ngram %d < 1", c.NGram)
	}
	for _, l := range c.Language {
		if lang, err := text.ParseLang(l); err != nil || lang == "" {
			return fmt.Errorf("dedup: language %q is not a language code", l)
		}
	}
	o := c.minHashOptions()
	o.SpillDir = "" // checked here, made when the stage runs
	if _, err := dedup.NewMinHash(o); err != nil {
		return err
	}
	// Read every eval set now, so a missing file or a missing field fails the
	// config check instead of a run that has already paid for its first stages.
	for _, p := range c.Decontaminate {
		d, err := dedup.NewDecontaminator(c.NGram)
		if err != nil {
			return err
		}
		if err := d.LoadFile(p, c.DecontaminateField); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) minHashOptions() dedup.MinHashOptions {
	return dedup.MinHashOptions{
		Threshold:    c.Threshold,
		Permutations: c.Permutations,
		Unit:         dedup.Unit(c.Shingle),
		ShingleSize:  c.ShingleSize,
		Seed:         c.Seed,
		SpillDir:     c.spillDir(),
	}
}

func (c *Config) spillDir() string { return cmp.Or(c.SpillDir, os.TempDir()) }

// Stage is the dedup stage.
//
// Every record's verdict depends on the records before it, so the stage
// reads its input in Seq order and decides in that order, in parts of
// Chunk records: each part is one unit, committed once its records are
// decided, with the indexes of every earlier part in memory. A rerun skips
// the committed parts and rebuilds the indexes from their kept records
// before it goes on, so a crash costs at most one part, and the decisions
// are those of an uninterrupted run.
type Stage struct {
	cfg   Config
	langs []text.Lang
}

// New returns the stage for cfg.
func New(cfg *Config) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stage{cfg: *cfg}
	if s.cfg.Chunk == 0 {
		s.cfg.Chunk = DefaultChunk
	}
	for _, l := range cfg.Language {
		lang, _ := text.ParseLang(l)
		s.langs = append(s.langs, lang)
	}
	return s, nil
}

// wholeKey is the one unit of the stage as builds before parts wrote it: a
// stage finished that way is done.
const wholeKey = "all"

// WholeInput implements pipeline.WholeInput: which records are duplicates
// depends on all of them, so the merge of a sharded run does the stage again
// over the merged input.
func (s *Stage) WholeInput() bool { return true }

// Run implements pipeline.Stage.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	if env.Input == "" {
		return fmt.Errorf("dedup: stage %q needs an input stage", env.Name)
	}
	done, err := env.Store.DoneUnits(ctx, env.Name)
	if err != nil {
		return fmt.Errorf("dedup: %w", err)
	}
	if done[wholeKey] {
		return nil
	}
	in := partsOf(env.Store, env.Input)
	n, err := in.Count(ctx, env.Input, record.Kept)
	if err != nil {
		return fmt.Errorf("dedup: %w", err)
	}
	// Parts by position in the input: the keys of a rerun are the same as
	// long as the input and chunk are.
	var units []pipeline.UnitSpec
	// An empty input still makes one (empty) part: its done-mark is what
	// says the stage ran.
	for start := 0; start == 0 || start < n; start += s.cfg.Chunk {
		units = append(units, pipeline.UnitSpec{Key: fmt.Sprintf("%012d", start), Seq: int64(start), Weight: min(s.cfg.Chunk, n-start)})
	}
	r := &run{s: s, env: env, in: in, n: n, cur: cursor{seq: math.MinInt64}}
	defer r.close()
	if n >= bigInput {
		// The indexes are large and hold no pointers, so a collection
		// costs little however often it comes; at the default GOGC of
		// 100 the garbage of the records streaming through would be
		// let grow as large as the indexes before one, doubling the
		// stage's memory.
		defer debug.SetGCPercent(debug.SetGCPercent(bigInputGC))
	}
	return pipeline.RunUnitsInOrder(ctx, env, units,
		func(context.Context, int) (struct{}, error) { return struct{}{}, nil },
		func(ctx context.Context, i int, _ struct{}) ([]*record.Record, pipeline.UnitUsage, error) {
			out, err := r.part(ctx, units[i])
			return out, pipeline.UnitUsage{}, err
		})
}

// run is one Run's state between its parts.
type run struct {
	s    *Stage
	env  *pipeline.Env
	in   partReader
	n    int     // kept input records
	f    *filter // nil until the first part to do
	cur  cursor  // the last input record decided
	kept int
	rej  int
}

// cursor is a place in a stage's (Seq, ID) order.
type cursor struct {
	seq int64
	id  string
}

func (r *run) close() {
	if r.f == nil {
		return
	}
	if r.env.Log != nil {
		r.env.Log.Info("dedup done", "kept", r.kept, "rejected", r.rej, "pii", r.f.pii.Total(), "index_mb", r.f.bytes()>>20)
	}
	if err := r.f.close(); err != nil && r.env.Log != nil {
		r.env.Log.Warn("dedup: close index", "err", err)
	}
}

// part decides the records of unit u: the next u.Weight kept input records
// after the cursor.
func (r *run) part(ctx context.Context, u pipeline.UnitSpec) ([]*record.Record, error) {
	if r.f == nil {
		// Built only when a part is to run: a finished stage does not
		// read the decontamination files again.
		f, err := r.s.newFilter(r.env.Log, r.n)
		if err != nil {
			return nil, err
		}
		r.f = f
		if err := r.resume(ctx, u); err != nil {
			return nil, err
		}
	}
	created := r.env.Now()
	out := make([]*record.Record, 0, u.Weight)
	if u.Weight == 0 {
		return out, nil
	}
	for in, err := range r.in.RecordsAfter(ctx, r.env.Input, record.Kept, r.cur.seq, r.cur.id) {
		if err != nil {
			return nil, fmt.Errorf("dedup: %w", err)
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		rec := r.s.derive(r.env, in, created)
		if err := r.f.apply(rec); err != nil {
			return nil, err
		}
		if rec.Status == record.Kept {
			r.kept++
		} else {
			r.rej++
		}
		out = append(out, rec)
		r.cur = cursor{in.Seq, in.ID}
		if len(out) == u.Weight {
			break
		}
	}
	if len(out) != u.Weight {
		return nil, fmt.Errorf("dedup: part %s: the input %s has %d kept records there, want %d: it changed since the stage began", u.Key, r.env.Input, len(out), u.Weight)
	}
	return out, nil
}

// resume puts back the state the parts before u left: their kept records
// in the indexes, and the cursor after the last input record they decided.
func (r *run) resume(ctx context.Context, u pipeline.UnitSpec) error {
	if u.Seq == 0 {
		return nil
	}
	var last *record.Record
	n := 0
	for rec, err := range r.env.Store.Records(ctx, r.env.Name, "") {
		if err != nil {
			return fmt.Errorf("dedup: resume: %w", err)
		}
		n++
		last = rec
		if rec.Status == record.Kept {
			r.kept++
			if err := r.f.add(rec, r.s.compared(rec)); err != nil {
				return err
			}
		} else {
			r.rej++
		}
	}
	if int64(n) != u.Seq || last == nil {
		return fmt.Errorf("dedup: resume: the committed parts hold %d records, want %d (was chunk changed?): run into a new run directory", n, u.Seq)
	}
	inID := strings.TrimPrefix(last.ID, r.env.Name+":")
	in, err := r.in.Record(ctx, inID)
	if err != nil {
		return fmt.Errorf("dedup: resume: %w", err)
	}
	r.cur = cursor{in.Seq, in.ID}
	return nil
}

// derive copies in as this stage's record. The copy keeps in's Seq so the
// stage's order is its input's, and its earlier decisions so a record's
// history reads in one place.
func (s *Stage) derive(env *pipeline.Env, in *record.Record, created time.Time) *record.Record {
	r := *in
	r.ID = env.Name + ":" + in.ID
	r.Stage = env.Name
	r.Status = record.Kept
	r.Decisions = slices.Clone(in.Decisions)
	r.Messages = slices.Clone(in.Messages)
	r.Candidates = slices.Clone(in.Candidates)
	r.Meta = maps.Clone(in.Meta)
	if r.Meta == nil {
		r.Meta = map[string]any{}
	}
	r.Scores = maps.Clone(in.Scores)
	r.Usage = record.Usage{}
	r.Prov = env.Provenance("dedup", pipeline.ModelInfo{}, in.ID)
	r.Prov.TemplateHash, r.Prov.SeedIDs, r.Prov.CreatedAt = in.Prov.TemplateHash, in.Prov.SeedIDs, created
	return &r
}

// compared returns the text of r the filters look at.
func (s *Stage) compared(r *record.Record) string {
	switch s.cfg.Field {
	case FieldInstruction:
		return r.Instruction
	case FieldOutput:
		return r.Output
	case FieldAll:
		return joinNonEmpty(r.Instruction, r.Input, r.Output)
	}
	return joinNonEmpty(r.Instruction, r.Input)
}

func joinNonEmpty(parts ...string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, "\n")
}

// filter holds one run's indexes; records must be applied in Seq order.
type filter struct {
	s     *Stage
	exact *dedup.Exact
	near  *dedup.MinHash
	decon *dedup.Decontaminator
	rouge *text.Index
	ids   []string // record IDs of rouge's entries, by index ID
	pii   dedup.PIICounts
}

// newFilter returns the filters for an input of about n records.
func (s *Stage) newFilter(log *slog.Logger, n int) (*filter, error) {
	f := &filter{s: s}
	if s.cfg.Method != MethodOff {
		e, err := dedup.NewExactIn(s.cfg.spillDir(), n)
		if err != nil {
			return nil, err
		}
		f.exact = e
	}
	if s.cfg.Method == MethodMinHash {
		o := s.cfg.minHashOptions()
		o.Capacity = n
		m, err := dedup.NewMinHash(o)
		if err != nil {
			return nil, err
		}
		f.near = m
	}
	if s.cfg.RougeL > 0 {
		x, err := text.NewIndex(text.Options{Threshold: s.cfg.RougeL, TopK: 1, Mean: text.MeanNone, Tokenizer: text.CJKTokenizer{}})
		if err != nil {
			return nil, fmt.Errorf("dedup: %w", err)
		}
		f.rouge = x
	}
	if len(s.cfg.Decontaminate) > 0 {
		d, err := dedup.NewDecontaminator(s.cfg.NGram)
		if err != nil {
			return nil, err
		}
		for _, p := range s.cfg.Decontaminate {
			if err := d.LoadFile(p, s.cfg.DecontaminateField); err != nil {
				return nil, err
			}
		}
		f.decon = d
		if d.Short > 0 && log != nil {
			log.Warn("dedup: eval items shorter than the n-gram cannot collide and are skipped", "items", d.Short, "ngram", s.cfg.NGram)
		}
	}
	return f, nil
}

// apply runs the filters on r in order, cheapest and most fundamental first,
// recording a decision for each one run and stopping at the first rejection.
// PII goes first so that scrubbed text is what the rest compare; only kept
// records enter the duplicate indexes, so a rejected record never makes a
// later one a duplicate. An error is the index's own (its spill file), not
// the record's.
func (f *filter) apply(r *record.Record) error {
	if f.s.cfg.PII != PIIOff && !f.checkPII(r) {
		return nil
	}
	t := f.s.compared(r)
	if !f.checkText(r, t) {
		return nil
	}
	cfg := f.s.cfg
	norm := dedup.Normalize(t)
	if f.skips(norm) {
		// Records with nothing to compare (field: output on instruction-only
		// data) would all be duplicates of the first; min_chars is the
		// filter for empty records.
		decide(r, "dedup", true, 0, "empty "+cfg.Field+", not compared")
		return nil
	}
	if f.exact != nil {
		first, dup, err := f.exact.CheckHash(dedup.HashNormalized(norm))
		if err != nil {
			return err
		}
		if dup {
			decide(r, "dedup", false, 1, "exact duplicate of "+first)
			return nil
		}
	}
	var sig dedup.Signature
	if f.near != nil {
		sig = f.near.Signature(t)
		m, dup, err := f.near.Check(sig)
		if err != nil {
			return err
		}
		if dup {
			decide(r, "dedup", false, m.Jaccard, fmt.Sprintf("near-duplicate of %s (est. Jaccard %.2f)", m.ID, m.Jaccard))
			return nil
		}
	}
	var toks []string
	if f.rouge != nil {
		toks = text.CJKTokenizer{}.Tokens(t)
		res := f.rouge.Check(toks)
		if !res.Novel {
			decide(r, "rouge-l", false, res.Max, fmt.Sprintf("ROUGE-L %.2f with %s, above %v", res.Max, f.ids[res.Similar[0].ID], cfg.RougeL))
			return nil
		}
		decide(r, "rouge-l", true, res.Max, "")
	}
	if f.exact != nil {
		decide(r, "dedup", true, 0, "")
	}
	// Only now, with every filter passed, does the record join the indexes.
	return f.join(r.ID, t, norm, sig, toks)
}

// skips reports whether a text whose normal form is norm is kept without
// comparing it: it has nothing to compare.
func (f *filter) skips(norm string) bool {
	return (f.exact != nil || f.rouge != nil) && norm == ""
}

// join adds a kept record's compared text t, normalised norm, to the
// indexes; sig and toks are its signature and tokens when the caller has
// them already.
func (f *filter) join(id, t, norm string, sig dedup.Signature, toks []string) error {
	if f.near != nil {
		if sig == nil {
			sig = f.near.Signature(t)
		}
		if err := f.near.Add(id, sig); err != nil {
			return err
		}
	}
	if f.rouge != nil {
		if toks == nil {
			toks = text.CJKTokenizer{}.Tokens(t)
		}
		f.rouge.Add(t, toks)
		f.ids = append(f.ids, id)
	}
	if f.exact != nil {
		if _, _, err := f.exact.AddHash(id, dedup.HashNormalized(norm)); err != nil {
			return err
		}
	}
	return nil
}

// add puts back a record this stage kept in an earlier part, as apply
// left it: into the indexes unless its text was not compared.
func (f *filter) add(r *record.Record, t string) error {
	norm := dedup.Normalize(t)
	if f.skips(norm) {
		return nil
	}
	return f.join(r.ID, t, norm, nil, nil)
}

// bytes returns the memory the duplicate indexes hold.
func (f *filter) bytes() int {
	n := 0
	if f.exact != nil {
		n += f.exact.Bytes()
	}
	if f.near != nil {
		n += f.near.Bytes()
	}
	return n
}

func (f *filter) close() error {
	var errs []error
	if f.exact != nil {
		errs = append(errs, f.exact.Close())
	}
	if f.near != nil {
		errs = append(errs, f.near.Close())
	}
	return errors.Join(errs...)
}

// decide records the decision of one filter on r, rejecting r when it did
// not pass, and returns whether it passed.
func decide(r *record.Record, name string, passed bool, value float64, reason string) bool {
	r.Decisions = append(r.Decisions, record.Decision{Filter: name, Passed: passed, Reason: reason, Value: value})
	if !passed {
		r.Status = record.Rejected
	}
	return passed
}

// checkPII counts the PII in r, scrubbing it or rejecting r as the config says.
func (f *filter) checkPII(r *record.Record) bool {
	cfg := f.s.cfg
	c := f.scrub(r, cfg.PII == PIIScrub)
	f.pii = f.pii.Add(c)
	reason := ""
	if c.Total() > 0 {
		verb := "scrubbed"
		if cfg.PII == PIIReject {
			verb = "found"
		}
		reason = fmt.Sprintf("%s %d email(s), %d phone number(s), %d card number(s)", verb, c.Emails, c.Phones, c.Cards)
		r.Meta["pii"] = map[string]int{"emails": c.Emails, "phones": c.Phones, "cards": c.Cards}
	}
	return decide(r, "pii", cfg.PII == PIIScrub || c.Total() == 0, float64(c.Total()), reason)
}

// checkText runs the filters on the compared text t alone: length,
// language and contamination with the eval sets.
func (f *filter) checkText(r *record.Record, t string) bool {
	cfg := f.s.cfg
	if cfg.MinChars > 0 || cfg.MaxChars > 0 {
		n := utf8.RuneCountInString(t)
		switch {
		case n < cfg.MinChars:
			decide(r, "length", false, float64(n), fmt.Sprintf("%d characters, fewer than min_chars %d", n, cfg.MinChars))
			return false
		case cfg.MaxChars > 0 && n > cfg.MaxChars:
			decide(r, "length", false, float64(n), fmt.Sprintf("%d characters, more than max_chars %d", n, cfg.MaxChars))
			return false
		}
		decide(r, "length", true, float64(n), "")
	}
	if len(f.s.langs) > 0 {
		lang := text.GuessLang(t)
		if !slices.Contains(f.s.langs, lang) {
			decide(r, "language", false, 0, fmt.Sprintf("language %s, not one of %s", lang, strings.Join(cfg.Language, ", ")))
			return false
		}
		decide(r, "language", true, 0, string(lang))
	}
	if f.decon != nil {
		if hits := f.decon.Check(t); len(hits) > 0 {
			reason := fmt.Sprintf("%d-gram overlap with %s", cfg.NGram, hits[0])
			if len(hits) > 1 {
				reason += fmt.Sprintf(" and %d more eval item(s)", len(hits)-1)
			}
			items := make([]string, len(hits))
			for i, h := range hits {
				items[i] = fmt.Sprintf("%s:%d", h.Source, h.Item)
			}
			r.Meta["contaminated_with"] = items
			decide(r, "decontaminate", false, float64(len(hits)), reason)
			return false
		}
		decide(r, "decontaminate", true, 0, "")
	}
	return true
}

// scrub finds PII in every text field of r, replacing it when replace is set.
func (f *filter) scrub(r *record.Record, replace bool) dedup.PIICounts {
	var total dedup.PIICounts
	for _, p := range []*string{&r.Instruction, &r.Input, &r.Output, &r.Chosen, &r.Rejected} {
		s, c := dedup.Scrub(*p)
		total = total.Add(c)
		if replace {
			*p = s
		}
	}
	for i := range r.Messages {
		s, c := dedup.Scrub(r.Messages[i].Content)
		total = total.Add(c)
		if replace {
			r.Messages[i].Content = s
		}
	}
	return total
}
