// Package load is the pipeline stage that reads existing prompts, answers or conversations from JSONL, CSV or text files into records.
package load

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/synthloop/synthloop/ingest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// Formats a file can have. Auto picks by extension: .jsonl and .json are
// JSONL, .csv and .tsv are CSV with a header row, anything else is text with
// one prompt per line.
const (
	FormatAuto  = "auto"
	FormatJSONL = "jsonl"
	FormatCSV   = "csv"
	FormatText  = "text"
)

// Config is the `with:` block of a load stage.
type Config struct {
	// Paths are files, directories (every .jsonl, .json, .csv, .tsv, .txt
	// file inside, recursively, in name order, hidden ones skipped) or glob
	// patterns. Relative
	// paths are relative to the working directory.
	Paths  []string `yaml:"paths" doc:"Files, directories or globs of .jsonl, .json, .csv, .tsv and .txt"`
	Path   string   `yaml:"path" doc:"A single path, added to paths"`
	Format string   `yaml:"format" doc:"auto, jsonl, csv or text"`
	// Fields maps record fields (instruction, input, output) to the source's
	// keys or CSV columns. Unset fields take the first key present among the
	// usual names: instruction|prompt|question|query, input|context,
	// output|answer|response|completion. A JSONL line with "messages" (OpenAI
	// chat) or "conversations" (ShareGPT) becomes a conversation record.
	Fields Fields `yaml:"fields" doc:"Maps record fields (instruction, input, output) to the source's keys or CSV columns"`
	Limit  int    `yaml:"limit" doc:"Stops after this many records (0: all)"`
	Chunk  int    `yaml:"chunk" doc:"Records committed together"`
}

// Fields names the source keys of each record field.
type Fields struct {
	Instruction string `yaml:"instruction" doc:"Source key of the instruction (default: instruction, prompt, question or query)"`
	Input       string `yaml:"input" doc:"Source key of the input (default: input or context)"`
	Output      string `yaml:"output" doc:"Source key of the output (default: output, answer, response or completion)"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config { return &Config{Format: FormatAuto, Chunk: 500} }

var defaultKeys = map[string][]string{
	"instruction": {"instruction", "prompt", "question", "query"},
	"input":       {"input", "context"},
	"output":      {"output", "answer", "response", "completion"},
}

// Validate checks the settings and that every path exists, when the config is
// loaded.
func (c *Config) Validate() error {
	_, err := c.files()
	return err
}

func (c *Config) allPaths() []string {
	ps := append([]string(nil), c.Paths...)
	if c.Path != "" {
		ps = append(ps, c.Path)
	}
	return ps
}

// files expands the configured paths into the files to read, in order.
func (c *Config) files() ([]string, error) {
	switch c.Format {
	case "", FormatAuto, FormatJSONL, FormatCSV, FormatText:
	default:
		return nil, fmt.Errorf("load: format %q, want auto, jsonl, csv or text", c.Format)
	}
	if c.Limit < 0 || c.Chunk < 0 {
		return nil, errors.New("load: limit and chunk must not be negative")
	}
	paths := c.allPaths()
	if len(paths) == 0 {
		return nil, errors.New("load: no path: set path or paths")
	}
	files, err := ingest.Expand(paths, ingest.Kind{Match: knownExt, Want: ".jsonl, .json, .csv, .tsv or .txt", AnyNamed: true})
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	return files, nil
}

func knownExt(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json", ".csv", ".tsv", ".txt":
		return true
	}
	return false
}

func (c *Config) formatOf(path string) string {
	if c.Format != "" && c.Format != FormatAuto {
		return c.Format
	}
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json":
		return FormatJSONL
	case ".csv", ".tsv":
		return FormatCSV
	}
	return FormatText
}

// Stage is the load stage.
type Stage struct {
	cfg Config
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	s := &Stage{cfg: *cfg}
	if s.cfg.Chunk == 0 {
		s.cfg.Chunk = 500
	}
	return s, nil
}

// Run reads every file and commits its records in chunks, skipping chunks
// already committed. A line that cannot be read becomes a failed record
// naming the file and line, so nothing is dropped silently. A first pass
// over the files counts their records, because a chunk's Seq depends on
// every record before it and a run knows its total from the start; each
// chunk then reads its own lines when it is committed, so JSONL and text
// files of any size load in the memory of one chunk. CSV files are read
// whole, one file at a time (a quoted field may span lines).
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	files, err := s.cfg.files()
	if err != nil {
		return err
	}
	var units []pipeline.UnitSpec
	var spans []span
	var seq int64
	for _, path := range files {
		left := -1
		if s.cfg.Limit > 0 {
			if seq >= int64(s.cfg.Limit) {
				break
			}
			left = s.cfg.Limit - int(seq)
		}
		ss, err := s.spans(path, env, left)
		if err != nil {
			return err
		}
		for i, sp := range ss {
			// Reading is cheap: in a sharded run every shard reads every
			// chunk and keeps the records whose IDs hash to it.
			units = append(units, pipeline.UnitSpec{Key: fmt.Sprintf("%s#%d", path, i), Seq: seq, Weight: sp.n, Partition: pipeline.ByRecord})
			spans = append(spans, sp)
			seq += int64(sp.n)
		}
	}
	if env.Log != nil && seq == 0 {
		env.Log.Warn("load: the files hold no records", "files", len(files))
	}
	// One chunk at a time: commits are the only work, and SQLite takes one
	// writer at a time anyway.
	e := *env
	e.Concurrency = 1
	return pipeline.RunUnits(ctx, &e, units, func(ctx context.Context, i int) ([]*record.Record, pipeline.UnitUsage, error) {
		recs, err := s.chunk(spans[i], env)
		return recs, pipeline.UnitUsage{}, err
	})
}

// span is where the records of one chunk are: lines of a file from a byte
// offset, or for CSV the records themselves.
type span struct {
	path string
	off  int64 // where the chunk's first line starts
	line int   // the number of the line before it
	n    int   // records in the chunk
	recs []*record.Record
}

// spans divides a file into chunks of at most s.cfg.Chunk records, the
// first left of them when left ≥ 0.
func (s *Stage) spans(path string, env *pipeline.Env, left int) ([]span, error) {
	if s.cfg.formatOf(path) == FormatCSV {
		recs, err := s.readCSVFile(path, env)
		if err != nil {
			return nil, err
		}
		if left >= 0 {
			recs = recs[:min(len(recs), left)]
		}
		var out []span
		for start := 0; start < len(recs); start += s.cfg.Chunk {
			chunk := recs[start:min(start+s.cfg.Chunk, len(recs))]
			out = append(out, span{path: path, n: len(chunk), recs: chunk})
		}
		return out, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	var out []span
	err = eachLine(f, 0, func(line int, off int64, _ []byte) bool {
		if left == 0 {
			return false
		}
		left--
		if len(out) == 0 || out[len(out)-1].n == s.cfg.Chunk {
			out = append(out, span{path: path, off: off, line: line - 1})
		}
		out[len(out)-1].n++
		return true
	})
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", path, err)
	}
	return out, nil
}

// chunk reads the records of one span.
func (s *Stage) chunk(sp span, env *pipeline.Env) ([]*record.Record, error) {
	if sp.recs != nil {
		return sp.recs, nil
	}
	f, err := os.Open(sp.path)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	defer f.Close()
	if _, err := f.Seek(sp.off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("load: %s: %w", sp.path, err)
	}
	recs, err := readLines(f, sp.line, sp.n, s.cfg.formatOf(sp.path), s.maker(sp.path, env), s.cfg.Fields)
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", sp.path, err)
	}
	if len(recs) != sp.n {
		return nil, fmt.Errorf("load: %s changed while loading: %d records from line %d, want %d", sp.path, len(recs), sp.line+1, sp.n)
	}
	return recs, nil
}

// maker returns the function that starts the record of a file's line.
func (s *Stage) maker(path string, env *pipeline.Env) func(line int) *record.Record {
	stage, now := env.Name, env.Now()
	return func(line int) *record.Record {
		return &record.Record{
			ID:     fmt.Sprintf("%s:%s:%d", stage, filepath.ToSlash(path), line),
			Stage:  stage,
			Status: record.Kept,
			Meta:   map[string]any{"source": filepath.ToSlash(path), "line": line},
			Prov:   record.Provenance{Generator: "load", Stage: stage, CreatedAt: now},
		}
	}
}

// readCSVFile returns the records of one CSV or TSV file.
func (s *Stage) readCSVFile(path string, env *pipeline.Env) ([]*record.Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	comma := ','
	if strings.EqualFold(filepath.Ext(path), ".tsv") {
		comma = '\t'
	}
	recs, err := readCSV(data, comma, s.maker(path, env), s.cfg.Fields)
	if err != nil {
		return nil, fmt.Errorf("load: %s: %w", path, err)
	}
	return recs, nil
}

// eachLine calls fn with each line of r that is not blank, trimmed, with
// its number (counting on from line) and its byte offset in r, until fn
// returns false. Text lines may be of any length.
func eachLine(r io.Reader, line int, fn func(line int, off int64, text []byte) bool) error {
	br := bufio.NewReaderSize(r, 1<<20)
	var off int64
	var long []byte // a line longer than the buffer, put together
	for {
		raw, err := br.ReadSlice('\n')
		if err == bufio.ErrBufferFull {
			long = append(long, raw...)
			continue
		}
		if long != nil {
			raw = append(long, raw...)
			long = nil
		}
		if len(raw) > 0 {
			line++
			if t := bytes.TrimSpace(raw); len(t) > 0 && !fn(line, off, t) {
				return nil
			}
			off += int64(len(raw))
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// readLines returns the records of the next n non-blank lines of r (all
// of them when n < 0), JSONL or text, numbering lines on from line.
func readLines(r io.Reader, line, n int, format string, mk func(int) *record.Record, f Fields) ([]*record.Record, error) {
	var out []*record.Record
	if n > 0 {
		out = make([]*record.Record, 0, n)
	}
	err := eachLine(r, line, func(line int, _ int64, t []byte) bool {
		if n >= 0 && len(out) == n {
			return false
		}
		rec := mk(line)
		if format == FormatJSONL {
			var obj map[string]any
			if err := json.Unmarshal(t, &obj); err != nil {
				fail(rec, fmt.Sprintf("line %d: not a JSON object: %v", line, err))
			} else if err := fill(rec, obj, f); err != nil {
				fail(rec, fmt.Sprintf("line %d: %v", line, err))
			}
		} else {
			rec.Instruction = string(t)
		}
		out = append(out, rec)
		return true
	})
	return out, err
}

func readCSV(data []byte, comma rune, mk func(int) *record.Record, f Fields) ([]*record.Record, error) {
	cr := csv.NewReader(bytes.NewReader(data))
	cr.Comma = comma
	cr.FieldsPerRecord = -1
	header, err := cr.Read()
	if err == io.EOF {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("header: %w", err)
	}
	var out []*record.Record
	for {
		row, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return out, err
			}
			r := mk(pe.Line)
			fail(r, err.Error())
			out = append(out, r)
			continue
		}
		line, _ := cr.FieldPos(0)
		r := mk(line)
		obj := map[string]any{}
		for i, h := range header {
			if i < len(row) {
				obj[strings.TrimSpace(h)] = row[i]
			}
		}
		if err := fill(r, obj, f); err != nil {
			fail(r, fmt.Sprintf("line %d: %v", line, err))
		}
		out = append(out, r)
	}
	return out, nil
}

func fail(r *record.Record, msg string) {
	r.Status = record.Failed
	r.Error = "load: " + msg
}

// fill sets the record's fields from one source object.
func fill(r *record.Record, obj map[string]any, f Fields) error {
	if msgs, ok, err := conversation(obj); ok {
		if err != nil {
			return err
		}
		r.Messages = msgs
		return nil
	}
	get := func(field, key string) (string, error) {
		keys := defaultKeys[field]
		if key != "" {
			keys = []string{key}
		}
		for _, k := range keys {
			v, ok := obj[k]
			if !ok || v == nil {
				continue
			}
			switch v := v.(type) {
			case string:
				return v, nil
			case float64, bool:
				return fmt.Sprint(v), nil
			default:
				return "", fmt.Errorf("field %q is %T, want a string", k, v)
			}
		}
		if key != "" {
			return "", fmt.Errorf("no field %q", key)
		}
		return "", nil
	}
	var err error
	if r.Instruction, err = get("instruction", f.Instruction); err != nil {
		return err
	}
	if r.Input, err = get("input", f.Input); err != nil {
		return err
	}
	if r.Output, err = get("output", f.Output); err != nil {
		return err
	}
	if strings.TrimSpace(r.Instruction) == "" {
		keys := defaultKeys["instruction"]
		if f.Instruction != "" {
			keys = []string{f.Instruction}
		}
		return fmt.Errorf("no prompt: none of %s is a non-empty string", strings.Join(keys, ", "))
	}
	return nil
}

// conversation reads an OpenAI "messages" or ShareGPT "conversations" list.
func conversation(obj map[string]any) ([]record.Turn, bool, error) {
	raw, ok := obj["messages"]
	share := false
	if !ok {
		if raw, ok = obj["conversations"]; !ok {
			return nil, false, nil
		}
		share = true
	}
	list, isList := raw.([]any)
	if !isList || len(list) == 0 {
		return nil, true, errors.New("messages must be a non-empty list")
	}
	roles := map[string]string{"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}
	out := make([]record.Turn, 0, len(list))
	for i, m := range list {
		mo, ok := m.(map[string]any)
		if !ok {
			return nil, true, fmt.Errorf("message %d is not an object", i)
		}
		roleKey, textKey := "role", "content"
		if share {
			roleKey, textKey = "from", "value"
		}
		role, _ := mo[roleKey].(string)
		text, ok := mo[textKey].(string)
		if !ok {
			return nil, true, fmt.Errorf("message %d: %q is not a string", i, textKey)
		}
		norm, known := roles[role]
		if !known {
			return nil, true, fmt.Errorf("message %d: unknown role %q", i, role)
		}
		out = append(out, record.Turn{Role: norm, Content: text})
	}
	return out, true, nil
}

// DeclaredFields lists the fields of the records a load stage makes: the
// record's own and the meta fields source and line.
func (c *Config) DeclaredFields([]string, bool) ([]string, bool) {
	return []string{"chosen", "id", "input", "instruction", "line", "output", "rejected", "source"}, true
}
