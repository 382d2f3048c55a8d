package evol

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

// loadSeeds reads the instructions to evolve from a built-in seed set or a
// file; see Config.Seeds. Records get the seed's id (or "line-N") as ID and
// their position as Seq, so units keep their keys across reruns.
func loadSeeds(nameOrPath string) ([]*record.Record, error) {
	if slices.Contains(seeds.Builtin, nameOrPath) {
		tasks, err := seeds.Load(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("evol: seeds: %w", err)
		}
		var out []*record.Record
		for i, t := range tasks {
			r := &record.Record{ID: t.ID, Seq: int64(i + 1), Status: record.Kept, Instruction: t.Instruction}
			if len(t.Instances) > 0 {
				r.Input, r.Output = t.Instances[0].Input, t.Instances[0].Output
			}
			out = append(out, r)
		}
		return out, nil
	}
	f, err := os.Open(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("evol: seeds: %w (built-in sets: %s)", err, strings.Join(seeds.Builtin, ", "))
	}
	defer f.Close()
	recs, err := parseSeeds(f)
	if err != nil {
		return nil, fmt.Errorf("evol: seeds: %s: %w", nameOrPath, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("evol: seeds: %s: no instructions", nameOrPath)
	}
	return recs, nil
}

// seedLine is one JSONL line: a Self-Instruct seed task, or an instruction
// with an optional input and output. Unknown fields are errors, so that a
// misspelt field is never silently ignored.
type seedLine struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	Instruction      string           `json:"instruction"`
	Prompt           string           `json:"prompt"`
	Input            string           `json:"input"`
	Output           string           `json:"output"`
	Instances        []seeds.Instance `json:"instances"`
	IsClassification bool             `json:"is_classification"`
}

// parseSeeds reads JSONL when the first non-blank line starts with "{", and
// one instruction per non-blank line otherwise.
func parseSeeds(r io.Reader) ([]*record.Record, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 4<<20)
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
				return nil, fmt.Errorf("line %d: %w (fields: id, instruction or prompt, input, output, instances)", line, err)
			}
			if dec.More() {
				return nil, fmt.Errorf("line %d: more than one JSON value", line)
			}
			r.Instruction, r.Input, r.Output = s.Instruction, s.Input, s.Output
			if r.Instruction == "" {
				r.Instruction = s.Prompt
			}
			if len(s.Instances) > 0 && r.Input == "" && r.Output == "" {
				r.Input, r.Output = s.Instances[0].Input, s.Instances[0].Output
			}
			if s.ID != "" {
				r.ID = s.ID
			}
		} else {
			r.Instruction = string(b)
		}
		if strings.TrimSpace(r.Instruction) == "" {
			return nil, fmt.Errorf("line %d: no instruction", line)
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
