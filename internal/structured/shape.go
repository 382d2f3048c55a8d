package structured

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"

	"github.com/synthloop/synthloop/model"
)

// ParseSetting reads the `structured:` setting of a stage that has a text
// format of its own: "" and off keep that format; auto, native and prompt
// ask for its built-in schema.
func ParseSetting(s string) (Mode, error) {
	switch Mode(s) {
	case "", Off:
		return Off, nil
	case Auto, Native, Prompt:
		return Mode(s), nil
	}
	return "", fmt.Errorf("want off, auto, native or prompt, not %q", s)
}

// OrJSONSchema is the structured setting a stage's config means when it
// also has the older json_schema switch: on, with no structured setting,
// it is native.
func OrJSONSchema(setting string, jsonSchema bool) string {
	if jsonSchema && setting == "" {
		return string(Native)
	}
	return setting
}

// Shaper asks a stage's requests for replies that fit the stage's built-in
// schema, as its `structured:` setting says, and reads them back. A nil
// Shaper is the setting off: requests go out as they are and replies are
// read by the stage's own text parser. Safe for concurrent use.
type Shaper struct {
	Schema *Schema
	gate   *Gate
}

// NewShaper returns the shaper of a stage's structured setting over its
// built-in schema, or nil when the setting is off.
func NewShaper(setting string, schema *Schema) (*Shaper, error) {
	mode, err := ParseSetting(setting)
	if err != nil {
		return nil, fmt.Errorf("structured: %w", err)
	}
	if mode == Off {
		return nil, nil
	}
	return &Shaper{Schema: schema, gate: &Gate{Mode: mode, Fallback: Off}}, nil
}

// With returns a shaper for another schema of the same stage and backend:
// it shares s's gate, so a backend that refuses schemas is probed once for
// both. It is nil when s is.
func (s *Shaper) With(schema *Schema) *Shaper {
	if s == nil {
		return nil
	}
	return &Shaper{Schema: schema, gate: s.gate}
}

// MustCompile compiles a stage's built-in schema; a schema that does not
// compile is a defect of the program, so it panics.
func MustCompile(doc, name string) *Schema {
	s, err := Compile([]byte(doc), name)
	if err != nil {
		panic(err)
	}
	return s
}

// Do runs call with req as it is to be sent and how it asks: unchanged
// (Off), with the schema natively (Native) or written into the prompt
// (Prompt). In auto mode a native request the backend refuses (HTTP 400) is
// made again Off, once for the whole stage: the first call to succeed
// settles the mode. It returns how the last call asked and its error.
func (s *Shaper) Do(ctx context.Context, req model.Request, call func(ctx context.Context, req model.Request, how Mode) error) (Mode, error) {
	if s == nil {
		return Off, call(ctx, req, Off)
	}
	return s.gate.Ask(ctx, func(ctx context.Context, how Mode) error {
		if how == Off {
			return call(ctx, req, Off)
		}
		return call(ctx, s.Schema.Request(req, how == Native), how)
	})
}

// Restate is the follow-up text after a reply asked for as how that could
// not be read: the stage's own (text) for Off, the schema's otherwise.
func (s *Shaper) Restate(how Mode, text func(problem string) string) func(problem string) string {
	if s == nil || how == Off {
		return text
	}
	return Restate
}

// Label names how a reply was asked for, for its record: native, prompt,
// or text (the backend refused the schema and the stage's own format was
// used); "" for a nil Shaper (the setting off).
func (s *Shaper) Label(how Mode) string {
	switch {
	case s == nil:
		return ""
	case how == Off:
		return "text"
	}
	return string(how)
}

// Note records in p how a reply was shaped, for the record it made:
// structured is its Label, schema the schema's hash. A nil Shaper notes
// nothing, so records made with the setting off stay as they were.
func (s *Shaper) Note(p map[string]any, how Mode) {
	if s == nil {
		return
	}
	p["structured"], p["schema"] = s.Label(how), s.Schema.Hash
}

// Parser returns how to read a reply asked for as how: the stage's own
// text parser for Off, otherwise Decode into J (which must have the
// schema's shape) and from, which turns it into what text returns.
func Parser[J, T any](s *Shaper, how Mode, text func(reply string) (T, error), from func(J) (T, error)) func(reply string) (T, error) {
	if s == nil || how == Off {
		return text
	}
	return func(reply string) (T, error) {
		j, err := Decode[J](s.Schema, reply)
		if err != nil {
			var zero T
			return zero, err
		}
		return from(j)
	}
}

// Decode checks reply against s and decodes it into a T by T's json tags.
// The schema decides what is valid; T only receives it, so a T that does
// not fit the schema is a defect and reported as such.
func Decode[T any](s *Schema, reply string) (T, error) {
	var out T
	v, err := s.Check(reply)
	if err != nil {
		return out, err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return out, fmt.Errorf("structured: %w", err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&out); err != nil {
		return out, fmt.Errorf("structured: a reply valid for schema %s does not decode: %w", s.Name, err)
	}
	return out, nil
}
