package faq

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/synthloop/synthloop/ingest"
)

// Entry is one FAQ question with its approved answer.
type Entry struct {
	// Key identifies the entry for resume and in record ids: source#id
	// with the entry's own id, or source#line (JSONL, CSV) or source#index
	// (YAML, from 1).
	Key      string
	Source   string
	Question string
	Answer   string
	// Extra holds the entry's other fields (a category, a URL), kept on records.
	Extra map[string]any
	// Err says why the entry could not be read; the entry becomes a failed record.
	Err string
}

// Keys names the fields of an entry in its file.
type Keys struct {
	Question, Answer, ID string
}

func (k Keys) withDefaults() Keys {
	if k.Question == "" {
		k.Question = "question"
	}
	if k.Answer == "" {
		k.Answer = "answer"
	}
	if k.ID == "" {
		k.ID = "id"
	}
	return k
}

// FAQFiles expands paths (files, folders read recursively, glob patterns)
// into FAQ files (.jsonl, .json, .yaml, .yml, .csv, .tsv), in order.
func FAQFiles(paths []string) ([]string, error) {
	files, err := ingest.Expand(paths, ingest.Kind{Match: func(p string) bool { return formatOf(p) != "" }, Want: ".jsonl, .json, .yaml, .yml, .csv or .tsv"})
	if err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	return files, nil
}

func formatOf(path string) string {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".jsonl", ".json":
		return "jsonl"
	case ".yaml", ".yml":
		return "yaml"
	case ".csv":
		return "csv"
	case ".tsv":
		return "tsv"
	}
	return ""
}

// ReadEntries reads the FAQ entries of one file. An entry that cannot be
// read (bad JSON, no question or answer) is returned with Err set, so it is
// recorded rather than dropped; the error is for a file that cannot be read
// at all.
func ReadEntries(path string, keys Keys) ([]Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("faq: %w", err)
	}
	es, err := ParseEntries(filepath.ToSlash(filepath.Clean(path)), formatOf(path), data, keys)
	if err != nil {
		return nil, fmt.Errorf("faq: %s: %w", path, err)
	}
	return es, nil
}

// ParseEntries reads entries from data in format "jsonl" (one object per
// line; a .json file holding one array of objects also reads), "yaml" (a
// list of mappings, or a mapping whose one key holds that list), "csv" or
// "tsv" (a header row naming the columns).
func ParseEntries(source, format string, data []byte, keys Keys) ([]Entry, error) {
	keys = keys.withDefaults()
	data = bytes.TrimPrefix(data, []byte("\ufeff"))
	switch format {
	case "jsonl":
		if t := bytes.TrimSpace(data); len(t) > 0 && t[0] == '[' {
			var items []map[string]any
			if err := json.Unmarshal(t, &items); err != nil {
				return nil, fmt.Errorf("a JSON array of FAQ objects: %w", err)
			}
			return fromMaps(source, items, keys), nil
		}
		return parseJSONL(source, data, keys)
	case "yaml":
		return parseYAML(source, data, keys)
	case "csv", "tsv":
		return parseCSV(source, data, keys, format == "tsv")
	}
	return nil, fmt.Errorf("unknown FAQ format %q", format)
}

func parseJSONL(source string, data []byte, keys Keys) ([]Entry, error) {
	var out []Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 64<<20)
	line := 0
	for sc.Scan() {
		line++
		t := bytes.TrimSpace(sc.Bytes())
		if len(t) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(t, &m); err != nil {
			out = append(out, Entry{Key: fmt.Sprintf("%s#%d", source, line), Source: source, Err: fmt.Sprintf("line %d: not a JSON object: %v", line, err)})
			continue
		}
		out = append(out, entry(source, strconv.Itoa(line), "line "+strconv.Itoa(line), m, keys))
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func parseYAML(source string, data []byte, keys Keys) ([]Entry, error) {
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		return nil, fmt.Errorf("YAML: %w", err)
	}
	if m, ok := v.(map[string]any); ok && len(m) == 1 {
		for _, inner := range m {
			v = inner
		}
	}
	list, ok := v.([]any)
	if !ok {
		return nil, errors.New("YAML: want a list of entries with question and answer (or a mapping whose one key holds that list)")
	}
	var out []Entry
	for i, item := range list {
		m, ok := item.(map[string]any)
		if !ok {
			out = append(out, Entry{Key: fmt.Sprintf("%s#%d", source, i+1), Source: source, Err: fmt.Sprintf("entry %d: not a mapping", i+1)})
			continue
		}
		out = append(out, entry(source, strconv.Itoa(i+1), "entry "+strconv.Itoa(i+1), m, keys))
	}
	return out, nil
}

func parseCSV(source string, data []byte, keys Keys, tsv bool) ([]Entry, error) {
	r := csv.NewReader(bytes.NewReader(data))
	if tsv {
		r.Comma = '\t'
		r.LazyQuotes = true
	}
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("CSV header: %w", err)
	}
	for i := range header {
		header[i] = strings.TrimSpace(header[i])
	}
	var out []Entry
	for {
		row, err := r.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				return nil, err
			}
			out = append(out, Entry{Key: fmt.Sprintf("%s#%d", source, pe.StartLine), Source: source, Err: fmt.Sprintf("line %d: %v", pe.StartLine, pe.Err)})
			continue
		}
		line, _ := r.FieldPos(0)
		m := map[string]any{}
		for i, v := range row {
			if i < len(header) && header[i] != "" {
				m[header[i]] = v
			}
		}
		out = append(out, entry(source, strconv.Itoa(line), "line "+strconv.Itoa(line), m, keys))
	}
}

func fromMaps(source string, items []map[string]any, keys Keys) []Entry {
	out := make([]Entry, len(items))
	for i, m := range items {
		out[i] = entry(source, strconv.Itoa(i+1), "entry "+strconv.Itoa(i+1), m, keys)
	}
	return out
}

// entry builds an Entry from a decoded object; pos names its place in the
// file for errors, and index is its key when it has no id.
func entry(source, index, pos string, m map[string]any, keys Keys) Entry {
	e := Entry{Source: source, Key: source + "#" + index}
	if id, ok := m[keys.ID]; ok && id != nil && fmt.Sprint(id) != "" {
		e.Key = source + "#" + fmt.Sprint(id)
	}
	q, qok := m[keys.Question].(string)
	a, aok := m[keys.Answer].(string)
	e.Question, e.Answer = strings.TrimSpace(q), strings.TrimSpace(a)
	switch {
	case !qok || e.Question == "":
		e.Err = fmt.Sprintf("%s: no %q text", pos, keys.Question)
	case !aok || e.Answer == "":
		e.Err = fmt.Sprintf("%s: no %q text", pos, keys.Answer)
	}
	for k, v := range m {
		if k == keys.Question || k == keys.Answer || k == keys.ID {
			continue
		}
		if e.Extra == nil {
			e.Extra = map[string]any{}
		}
		e.Extra[k] = v
	}
	return e
}
