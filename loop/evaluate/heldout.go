// Package evaluate holds the loop's evaluators: `verifier` (accuracy of student and teacher on a held-out set, checked by a verifier) and `judge` (the student's pairwise win rate against the teacher, judged in both orders).
package evaluate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
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

func parseItems(name string, r io.Reader, needAnswer bool) ([]Item, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 16<<20)
	var out []Item
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		var it Item
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&it); err != nil {
			return nil, fmt.Errorf("evaluate: %s:%d: %w (want {\"prompt\", \"answer\", \"difficulty\", \"system\"})", name, line, err)
		}
		if dec.More() {
			return nil, fmt.Errorf("evaluate: %s:%d: more than one JSON value on the line", name, line)
		}
		if strings.TrimSpace(it.Prompt) == "" {
			return nil, fmt.Errorf("evaluate: %s:%d: empty prompt", name, line)
		}
		if needAnswer && it.Answer == "" {
			return nil, fmt.Errorf("evaluate: %s:%d: no answer to verify against", name, line)
		}
		if it.Difficulty < 0 {
			return nil, fmt.Errorf("evaluate: %s:%d: negative difficulty", name, line)
		}
		out = append(out, it)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("evaluate: %s:%d: %w", name, line+1, err)
	}
	if len(out) == 0 {
		return nil, errors.New("evaluate: " + name + ": no items")
	}
	return out, nil
}
