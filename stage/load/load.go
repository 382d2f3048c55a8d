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
// naming the file and line, so nothing is dropped silently. The files are
// read whole before the first commit: a chunk's Seq depends on every record
// before it, and a run knows its total from the start.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	files, err := s.cfg.files()
	if err != nil {
		return err
	}
	var units []pipeline.UnitSpec
	var chunks [][]*record.Record
	var seq int64
	for _, path := range files {
		if s.cfg.Limit > 0 && seq >= int64(s.cfg.Limit) {
			break
		}
		recs, err := s.read(path, env)
		if err != nil {
			return err
		}
		if s.cfg.Limit > 0 {
			recs = recs[:min(len(recs), s.cfg.Limit-int(seq))]
		}
		for start := 0; start < len(recs); start += s.cfg.Chunk {
			chunk := recs[start:min(start+s.cfg.Chunk, len(recs))]
			// Reading is cheap: in a sharded run every shard reads every
			// chunk and keeps the records whose IDs hash to it.
			units = append(units, pipeline.UnitSpec{Key: fmt.Sprintf("%s#%d", path, start/s.cfg.Chunk), Seq: seq, Weight: len(chunk), Partition: pipeline.ByRecord})
			chunks = append(chunks, chunk)
			seq += int64(len(chunk))
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
		return chunks[i], pipeline.UnitUsage{}, nil
	})
}

// read returns the records of one file.
func (s *Stage) read(path string, env *pipeline.Env) ([]*record.Record, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("load: %w", err)
	}
	stage, now := env.Name, env.Now()
	mk := func(line int) *record.Record {
		return &record.Record{
			ID:     fmt.Sprintf("%s:%s:%d", stage, filepath.ToSlash(path), line),
			Stage:  stage,
			Status: record.Kept,
			Meta:   map[string]any{"source": filepath.ToSlash(path), "line": line},
			Prov:   record.Provenance{Generator: "load", Stage: stage, CreatedAt: now},
		}
	}
	switch s.cfg.formatOf(path) {
	case FormatJSONL:
		return readJSONL(data, mk, s.cfg.Fields), nil
	case FormatCSV:
		comma := ','
		if strings.EqualFold(filepath.Ext(path), ".tsv") {
			comma = '\t'
		}
		recs, err := readCSV(data, comma, mk, s.cfg.Fields)
		if err != nil {
			return nil, fmt.Errorf("load: %s: %w", path, err)
		}
		return recs, nil
	default:
		return readText(data, mk), nil
	}
}

func readText(data []byte, mk func(int) *record.Record) []*record.Record {
	var out []*record.Record
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		t := strings.TrimSpace(sc.Text())
		if t == "" {
			continue
		}
		r := mk(line)
		r.Instruction = t
		out = append(out, r)
	}
	return out
}

func readJSONL(data []byte, mk func(int) *record.Record, f Fields) []*record.Record {
	var out []*record.Record
	line := 0
	for raw := range bytes.Lines(data) {
		line++
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		r := mk(line)
		var obj map[string]any
		if err := json.Unmarshal(raw, &obj); err != nil {
			fail(r, fmt.Sprintf("line %d: not a JSON object: %v", line, err))
		} else if err := fill(r, obj, f); err != nil {
			fail(r, fmt.Sprintf("line %d: %v", line, err))
		}
		out = append(out, r)
	}
	return out
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
