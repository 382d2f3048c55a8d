// Package evaluate holds the loop's evaluators: `verifier` (accuracy of student and teacher on a held-out set, checked by a verifier) and `judge` (the student's pairwise win rate against the teacher, judged in both orders).
package evaluate

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/synthloop/synthloop/seeds"
)

// Item is one held-out example: a prompt, its expected answer (needed by
// the verifier evaluator), and optionally a difficulty and a system prompt.
// In the file it is one JSON object per line:
//
//	{"prompt": "12+34=", "answer": "46", "difficulty": 2}
type Item struct {
	Prompt     string `json:"prompt" yaml:"prompt"`
	Answer     string `json:"answer,omitempty" yaml:"answer"`
	Difficulty int    `json:"difficulty,omitempty" yaml:"difficulty"`
	System     string `json:"system,omitempty" yaml:"system"`
}

// ReadItems reads a held-out JSONL file. Errors name the file and line.
// needAnswer requires every item to have an answer.
func ReadItems(path string, needAnswer bool) ([]Item, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("evaluate: %w", err)
	}
	defer f.Close()
	return parseItems(path, f, needAnswer)
}

// parseItems reads the items with the seed files' line reader: held-out
// files are hand-written JSONL too (a byte-order mark is dropped, bytes
// that are not UTF-8 are an error rather than silently replaced).
func parseItems(name string, r io.Reader, needAnswer bool) ([]Item, error) {
	var out []Item
	var itemErr error // an item's own error, already naming file and line
	err := seeds.EachLine(r, 16<<20, func(line int, b []byte) error {
		it, err := parseItem(b, needAnswer)
		if err != nil {
			itemErr = fmt.Errorf("evaluate: %s:%d: %w", name, line, err)
			return itemErr
		}
		out = append(out, it)
		return nil
	})
	switch {
	case itemErr != nil:
		return nil, itemErr
	case err != nil:
		return nil, fmt.Errorf("evaluate: %s: %w", name, err)
	case len(out) == 0:
		return nil, errors.New("evaluate: " + name + ": no items")
	}
	return out, nil
}

// parseItem reads one line's item.
func parseItem(b []byte, needAnswer bool) (Item, error) {
	var it Item
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&it); err != nil {
		return it, fmt.Errorf("%w (want {\"prompt\", \"answer\", \"difficulty\", \"system\"})", err)
	}
	switch {
	case dec.More():
		return it, errors.New("more than one JSON value on the line")
	case strings.TrimSpace(it.Prompt) == "":
		return it, errors.New("empty prompt")
	case needAnswer && it.Answer == "":
		return it, errors.New("no answer to verify against")
	case it.Difficulty < 0:
		return it, errors.New("negative difficulty")
	}
	return it, nil
}
