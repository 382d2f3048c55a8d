// Package seeds reads Self-Instruct seed task sets in the paper's JSONL format and embeds our own English and Japanese sets.
package seeds

import (
	"bufio"
	"bytes"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf8"
)

// Instance is one worked example of a task.
type Instance struct {
	Input  string `json:"input" doc:"the instance's input (may be empty)"`
	Output string `json:"output" doc:"the instance's output"`
}

// Task is one seed task, as in the Self-Instruct seed_tasks.jsonl format.
type Task struct {
	ID               string     `json:"id" doc:"the seed task's id"`
	Name             string     `json:"name" doc:"the seed task's short name"`
	Instruction      string     `json:"instruction" doc:"the task's instruction"`
	Instances        []Instance `json:"instances" doc:"the task's worked examples"`
	IsClassification bool       `json:"is_classification" doc:"whether the answer is one of a fixed set of labels"`
}

//go:embed en.jsonl ja.jsonl
var builtin embed.FS

// Builtin lists the names of the embedded seed sets.
var Builtin = []string{"en", "ja"}

// maxLine bounds one JSONL line; a seed task is a few KB, so 4 MB is generous
// while still refusing to read an arbitrary binary file into memory.
const maxLine = 4 << 20

// Parse reads tasks, one JSON object per line. Blank lines are skipped. Every
// task needs an id, an instruction and at least one instance with an output;
// ids must be unique. Unknown fields are errors, so a misspelt field is never
// silently ignored. Errors name the line and the field.
func Parse(r io.Reader) ([]Task, error) {
	tasks, err := parse(r)
	if err != nil {
		return nil, fmt.Errorf("seeds: %w", err)
	}
	return tasks, nil
}

func parse(r io.Reader) ([]Task, error) {
	var tasks []Task
	seen := map[string]int{}
	err := EachLine(r, maxLine, func(line int, b []byte) error {
		t, err := parseLine(b)
		if err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		if prev, dup := seen[t.ID]; dup {
			return fmt.Errorf("line %d: field \"id\": duplicate id %q (first on line %d)", line, t.ID, prev)
		}
		seen[t.ID] = line
		tasks = append(tasks, t)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(tasks) == 0 {
		return nil, errors.New("no tasks")
	}
	return tasks, nil
}

// EachLine calls fn with the number and the trimmed bytes of every non-blank
// line of r, stopping at fn's first error, which it returns as is. Seed files
// are written by hand, so a leading byte-order mark is dropped; a line longer
// than maxLine is an error rather than an unbounded read.
func EachLine(r io.Reader, maxLine int, fn func(line int, b []byte) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, min(64<<10, maxLine)), maxLine)
	line := 0
	for sc.Scan() {
		line++
		b := sc.Bytes()
		if line == 1 {
			// Editors on Windows often save JSONL with a byte-order mark.
			b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
		}
		b = bytes.TrimSpace(b)
		if len(b) == 0 {
			continue
		}
		if !utf8.Valid(b) {
			// Decoding would turn the bad bytes into U+FFFD silently, and
			// the data would carry them into every prompt.
			return fmt.Errorf("line %d: not valid UTF-8 (byte %d); save the file as UTF-8", line, invalidAt(b)+1)
		}
		if err := fn(line, b); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return fmt.Errorf("line %d: longer than %d bytes, the most a line may have", line+1, maxLine)
		}
		return fmt.Errorf("after line %d: %w", line, err)
	}
	return nil
}

// invalidAt is the offset of the first byte of b that is not valid UTF-8.
func invalidAt(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n <= 1 {
			return i
		}
		i += n
	}
	return len(b)
}

// presence tracks which required fields a line had, since a zero value and a
// missing field look the same after decoding into Task.
type presence struct {
	IsClassification *bool `json:"is_classification"`
}

func parseLine(b []byte) (Task, error) {
	var t Task
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&t); err != nil {
		return t, describeJSONError(err)
	}
	if dec.More() {
		return t, errors.New("more than one JSON value on the line")
	}
	var p presence
	_ = json.Unmarshal(b, &p) // b already decoded once; the same bytes cannot fail here
	switch {
	case strings.TrimSpace(t.ID) == "":
		return t, errors.New("field \"id\": missing or empty")
	case strings.TrimSpace(t.Instruction) == "":
		return t, fmt.Errorf("task %q: field \"instruction\": missing or empty", t.ID)
	case len(t.Instances) == 0:
		return t, fmt.Errorf("task %q: field \"instances\": needs at least one instance", t.ID)
	case p.IsClassification == nil:
		return t, fmt.Errorf("task %q: field \"is_classification\": missing", t.ID)
	}
	for i, in := range t.Instances {
		if strings.TrimSpace(in.Output) == "" {
			return t, fmt.Errorf("task %q: field \"instances[%d].output\": missing or empty", t.ID, i)
		}
	}
	return t, nil
}

// describeJSONError names the field where encoding/json can tell us one.
func describeJSONError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		return fmt.Errorf("field %q: want %s, got JSON %s", te.Field, te.Type, te.Value)
	}
	if msg := err.Error(); strings.HasPrefix(msg, "json: unknown field ") {
		return fmt.Errorf("field %s: unknown (valid: id, name, instruction, instances, is_classification)", strings.TrimPrefix(msg, "json: unknown field "))
	}
	return fmt.Errorf("invalid JSON: %w", err)
}

// Load returns a built-in set by name ("en", "ja") or reads the JSONL file at path.
func Load(nameOrPath string) ([]Task, error) {
	for _, n := range Builtin {
		if nameOrPath == n {
			b, err := builtin.ReadFile(n + ".jsonl")
			if err != nil {
				return nil, fmt.Errorf("seeds: built-in %q: %w", n, err)
			}
			tasks, err := parse(bytes.NewReader(b))
			if err != nil {
				return nil, fmt.Errorf("seeds: built-in %q: %w", n, err)
			}
			return tasks, nil
		}
	}
	f, err := os.Open(nameOrPath)
	if err != nil {
		return nil, fmt.Errorf("seeds: %w (built-in sets: %s)", err, strings.Join(Builtin, ", "))
	}
	defer f.Close()
	tasks, err := parse(f)
	if err != nil {
		return nil, fmt.Errorf("seeds: %s: %w", nameOrPath, err)
	}
	return tasks, nil
}
