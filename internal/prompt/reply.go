package prompt

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// DecodeJSON reads a reply that was asked to be one JSON object into v,
// strictly: unknown keys and text after the object are errors, so a reply
// that drifted from the prompt is retried rather than half-read. One
// Markdown code fence around the whole reply is allowed, since models add
// one even when told not to.
func DecodeJSON(reply string, v any) error {
	body, err := unfence(reply)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("not the JSON object asked for: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("text after the JSON object")
	}
	return nil
}

// unfence returns the reply without surrounding whitespace and without one
// Markdown code fence (``` or ```json) around the whole of it.
func unfence(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", errors.New("the reply is empty")
	}
	if !strings.HasPrefix(s, "```") {
		return s, nil
	}
	first, rest, ok := strings.Cut(s, "\n")
	if lang := strings.TrimSpace(strings.TrimPrefix(first, "```")); !ok || (lang != "" && !strings.EqualFold(lang, "json")) {
		return "", errors.New("the reply is a code block that is not JSON")
	}
	body, ok := strings.CutSuffix(strings.TrimSpace(rest), "```")
	if !ok {
		return "", errors.New("the reply's code block is not closed")
	}
	return strings.TrimSpace(body), nil
}
