package genkit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/seeds"
)

// LoadSeeds returns the records of the built-in seed set named nameOrPath or of
// the file at that path, read by parse. A built-in task becomes a record
// with its id, position and instruction; fromTask adds what else the stage
// takes from it. Errors start with "STAGE: seeds:"; what names the seeds in
// the error for an empty file.
func LoadSeeds(stage, what, nameOrPath string, fromTask func(*record.Record, seeds.Task), parse func(io.Reader) ([]*record.Record, error)) ([]*record.Record, error) {
	if slices.Contains(seeds.Builtin, nameOrPath) {
		tasks, err := seeds.Load(nameOrPath)
		if err != nil {
			return nil, fmt.Errorf("%s: seeds: %w", stage, err)
		}
		var out []*record.Record
		for i, t := range tasks {
			r := &record.Record{ID: t.ID, Seq: int64(i + 1), Status: record.Kept, Instruction: t.Instruction}
			fromTask(r, t)
			out = append(out, r)
		}
		return out, nil
	}
	f, err := os.Open(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("%s: seeds: %w (built-in sets: %s)", stage, err, strings.Join(seeds.Builtin, ", "))
	}
	defer f.Close()
	recs, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("%s: seeds: %s: %w", stage, nameOrPath, err)
	}
	if len(recs) == 0 {
		return nil, fmt.Errorf("%s: seeds: %s: no %s", stage, nameOrPath, what)
	}
	return recs, nil
}

// SeedLine is one JSONL line of a stage's seed file.
type SeedLine interface {
	// LineID is the line's id, "" for none.
	LineID() string
}

// ParseSeeds reads one seed a non-blank line of r: JSONL when the first one
// starts with "{", plain text otherwise. Each record starts with ID "line-N"
// and its position as Seq, so units keep their keys across reruns. A plain
// line is the record's instruction. A JSONL line decodes strictly into an L
// (fields lists the valid ones for the error), whose id, when it has one,
// is the record's ID, and fill sets the rest. IDs must be unique.
func ParseSeeds[L SeedLine](r io.Reader, maxLine int, fields string, fill func(rec *record.Record, l L) error) ([]*record.Record, error) {
	var out []*record.Record
	seen := map[string]int{}
	jsonl := false
	err := seeds.EachLine(r, maxLine, func(line int, b []byte) error {
		if len(out) == 0 && b[0] == '{' {
			jsonl = true
		}
		rec := &record.Record{ID: fmt.Sprintf("line-%d", line), Seq: int64(len(out) + 1), Status: record.Kept}
		if err := fillLine(rec, b, jsonl, fields, fill); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if prev, dup := seen[rec.ID]; dup {
			return fmt.Errorf("line %d: duplicate id %q (first on line %d)", line, rec.ID, prev)
		}
		seen[rec.ID] = line
		out = append(out, rec)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func fillLine[L SeedLine](rec *record.Record, b []byte, jsonl bool, fields string, fill func(*record.Record, L) error) error {
	if !jsonl {
		rec.Instruction = string(b)
		return nil
	}
	var l L
	if err := DecodeLine(b, &l, fields); err != nil {
		return err
	}
	if id := l.LineID(); id != "" {
		rec.ID = id
	}
	return fill(rec, l)
}

// DecodeLine decodes the one JSON value of a line into v. Unknown fields are
// errors, so that a misspelt field is never silently ignored; fields lists
// the valid ones for that error.
func DecodeLine(line []byte, v any, fields string) error {
	dec := json.NewDecoder(bytes.NewReader(line))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%w (fields: %s)", err, fields)
	}
	if dec.More() {
		return errors.New("more than one JSON value")
	}
	return nil
}

// FirstOf returns the first of ss that is not blank.
func FirstOf(ss ...string) string {
	for _, s := range ss {
		if strings.TrimSpace(s) != "" {
			return s
		}
	}
	return ""
}
