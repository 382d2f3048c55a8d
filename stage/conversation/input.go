package conversation

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/seeds"
)

// loadSeeds reads the topics of Config.Seeds. Records get the seed's id (or
// "line-N") as ID and their position as Seq, so units keep their keys
// across reruns.
func loadSeeds(nameOrPath string) ([]*record.Record, error) {
	if slices.Contains(seeds.Builtin, nameOrPath) {
		tasks, err := seeds.Load(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("conversation: seeds: %w", err)
		}
		var out []*record.Record
		for i, t := range tasks {
			r := &record.Record{ID: t.ID, Seq: int64(i + 1), Status: record.Kept, Instruction: t.Instruction}
			if len(t.Instances) > 0 {
				r.Input = t.Instances[0].Input
			}
			out = append(out, r)
		}
		return out, nil
	}
	f, err := os.Open(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("conversation: seeds: %w (built-in sets: %s)", err, strings.Join(seeds.Builtin, ", "))
	}
	defer f.Close()
	recs, err := parseSeeds(f)
	if err != nil {
		return nil, fmt.Errorf("conversation: seeds: %s: %w", nameOrPath, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("conversation: seeds: %s: no topics", nameOrPath)
	}
	return recs, nil
}

// seedLine is one JSONL line. Unknown fields are errors, so that a misspelt
// field is never silently ignored.
type seedLine struct {
	ID          string `json:"id"`
	Topic       string `json:"topic"`
	Instruction string `json:"instruction"`
	Prompt      string `json:"prompt"`
	Input       string `json:"input"`
	Document    string `json:"document"`
	Text        string `json:"text"`
}

// parseSeeds reads JSONL when the first non-blank line starts with "{", and
// one topic per non-blank line otherwise. A JSONL line's document goes to
// Meta["text"], where document_field auto finds it.
func parseSeeds(r io.Reader) ([]*record.Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	var out []*record.Record
	seen := map[string]int{}
	jsonl := false
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		if len(out) == 0 && b[0] == '{' {
			jsonl = true
		}
		r := &record.Record{ID: fmt.Sprintf("line-%d", line), Seq: int64(len(out) + 1), Status: record.Kept}
		if jsonl {
			var s seedLine
			dec := json.NewDecoder(bytes.NewReader(b))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&s); err != nil {
				return nil, fmt.Errorf("line %d: %w (fields: id, topic or instruction or prompt, input, document or text)", line, err)
			}
			if dec.More() {
				return nil, fmt.Errorf("line %d: more than one JSON value", line)
			}
			r.Instruction = firstOf(s.Topic, s.Instruction, s.Prompt)
			r.Input = s.Input
			if doc := firstOf(s.Document, s.Text); doc != "" {
				r.Meta = map[string]any{"text": doc}
			}
			if s.ID != "" {
				r.ID = s.ID
			}
			if strings.TrimSpace(r.Instruction) == "" && r.Meta == nil {
				return nil, fmt.Errorf("line %d: no topic and no document", line)
			}
		} else {
			r.Instruction = string(b)
		}
		if prev, dup := seen[r.ID]; dup {
			return nil, fmt.Errorf("line %d: duplicate id %q (first on line %d)", line, r.ID, prev)
		}
		seen[r.ID] = line
		out = append(out, r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func firstOf(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}

// topicRecords turns inline topics into input records.
func topicRecords(topics []string) []*record.Record {
	var out []*record.Record
	for i, t := range topics {
		out = append(out, &record.Record{ID: fmt.Sprintf("topic-%d", i+1), Seq: int64(i + 1), Status: record.Kept, Instruction: t})
	}
	return out
}

// document returns the document of an input record by document_field.
func document(r *record.Record, field string) string {
	meta := func(k string) string {
		s, _ := r.Meta[k].(string)
		return s
	}
	switch {
	case field == "instruction":
		return r.Instruction
	case field == "input":
		return r.Input
	case field == "output":
		return r.Output
	case strings.HasPrefix(field, "meta."):
		return meta(field[5:])
	}
	return firstOf(meta("text"), meta("chunk"), meta("document"), r.Input, r.Instruction)
}
