// Package structured asks models for JSON replies that validate against a JSON Schema: natively where the backend takes the schema, in the prompt where it refuses it, and validated either way.
package structured

import (
	"bytes"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"

	"github.com/goccy/go-yaml"
	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/model"
)

// The instructions are files so they are reviewed as prompts; their hash is
// part of the Schema's, which stages record on every record it shaped.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var (
	askPrompt     = prompt.Must(templateFS, "ask")
	restatePrompt = prompt.Must(templateFS, "restate")
)

// Schema is a compiled JSON Schema for a reply.
type Schema struct {
	// JSON is the schema as sent to a backend, compact.
	JSON json.RawMessage
	// Name labels the schema for the APIs that want one.
	Name string
	// Properties are the top-level properties of an object schema, sorted;
	// nil when the schema does not describe an object.
	Properties []string
	// Hash identifies the schema and the instructions that ask for it.
	Hash string

	s *jsonschema.Schema
}

// Load reads a schema from a stage setting: a mapping written in the config
// (decoded YAML), a string holding the schema as JSON, or a string naming a
// .json, .yaml or .yml file.
func Load(v any, name string) (*Schema, error) {
	switch x := v.(type) {
	case nil:
		return nil, errors.New("schema: empty")
	case string:
		if strings.HasPrefix(strings.TrimSpace(x), "{") {
			return Compile([]byte(x), name)
		}
		b, err := os.ReadFile(x)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		if ext := strings.ToLower(filepath.Ext(x)); ext == ".yaml" || ext == ".yml" {
			return FromYAML(b, name)
		}
		return Compile(b, name)
	case map[string]any:
		b, err := json.Marshal(x)
		if err != nil {
			return nil, fmt.Errorf("schema: %w", err)
		}
		return Compile(b, name)
	}
	return nil, fmt.Errorf("schema: want a mapping (the JSON Schema written in YAML) or a file name, got %T", v)
}

// FromYAML compiles a schema written in YAML.
func FromYAML(b []byte, name string) (*Schema, error) {
	v, err := decodeYAML(b)
	if err != nil {
		return nil, fmt.Errorf("schema: not YAML: %w", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("schema: want a mapping at the top, got %T", v)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	return Compile(j, name)
}

// decodeYAML decodes b; a panic of the YAML library (seen under fuzzing
// with odd tags) is an error: a schema file must never crash the program.
func decodeYAML(b []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("cannot decode (%v)", r)
		}
	}()
	err = yaml.Unmarshal(b, &v)
	return v, err
}

// Compile compiles a JSON Schema document. A $ref to anything outside the
// document is an error: nothing is fetched while a run validates.
func Compile(doc []byte, name string) (*Schema, error) {
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		return nil, fmt.Errorf("schema: not JSON: %w", err)
	}
	top, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("schema: want an object at the top, got %s", kind(v))
	}
	comp := jsonschema.NewCompiler()
	comp.UseLoader(noLoader{})
	if err := comp.AddResource("schema.json", v); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	s, err := comp.Compile("schema.json")
	if err != nil {
		return nil, fmt.Errorf("schema: %s", oneLine(err.Error()))
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, doc); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	if name == "" {
		name = "reply"
	}
	out := &Schema{JSON: buf.Bytes(), Name: name, s: s}
	if props, ok := top["properties"].(map[string]any); ok && (top["type"] == nil || top["type"] == "object") {
		out.Properties = make([]string, 0, len(props))
		for k := range props {
			out.Properties = append(out.Properties, k)
		}
		sort.Strings(out.Properties)
	}
	h := sha256.Sum256([]byte(string(out.JSON) + "\x00" + askPrompt.Hash + "\x00" + restatePrompt.Hash))
	out.Hash = hex.EncodeToString(h[:])
	return out, nil
}

type noLoader struct{}

func (noLoader) Load(url string) (any, error) {
	return nil, fmt.Errorf("external reference %s is not loaded; write it into the schema", url)
}

func kind(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case nil:
		return "null"
	}
	return fmt.Sprintf("%T", v)
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// Check reads reply as one JSON value (one Markdown code fence around it is
// allowed: models add one even when told not to) and validates it. It
// returns the value as encoding/json decodes it (numbers as float64), or an
// error that says what is wrong, for the record and for the follow-up.
func (s *Schema) Check(reply string) (any, error) {
	var raw json.RawMessage
	if err := prompt.DecodeJSON(reply, &raw); err != nil {
		return nil, err
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	if err := s.s.Validate(doc); err != nil {
		msg := oneLine(err.Error())
		if r := []rune(msg); len(r) > 500 {
			msg = string(r[:499]) + "…"
		}
		return nil, errors.New(msg)
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("not JSON: %v", err)
	}
	return v, nil
}

// Request returns req asking for a reply that fits s: natively (the
// request's JSONSchema), or with the schema and the instruction to follow
// it appended to the last user message.
func (s *Schema) Request(req model.Request, native bool) model.Request {
	if native {
		req.JSONSchema, req.SchemaName = s.JSON, s.Name
		return req
	}
	req.Messages = slices.Clone(req.Messages)
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			req.Messages[i].Content = askPrompt.MustRender(struct{ Prompt, Schema string }{req.Messages[i].Content, string(s.JSON)})
			break
		}
	}
	return req
}

// Restate is the follow-up that asks again after a reply with problem.
func Restate(problem string) string {
	return restatePrompt.MustRender(struct{ Problem string }{problem})
}

// Mode is how a stage asks for structured replies.
type Mode string

const (
	// Auto asks natively until the backend refuses a request that carries a
	// schema (HTTP 400), then falls back for the rest of the stage: to
	// Prompt for a stage with no other format, to Off for a stage with a
	// text format of its own.
	Auto Mode = "auto"
	// Native always sends the schema with the request.
	Native Mode = "native"
	// Prompt always writes the schema into the prompt.
	Prompt Mode = "prompt"
	// Off sends no schema: the stage asks for and parses its own text format.
	Off Mode = "off"
)

// ParseMode reads a stage's mode setting; "" is Auto.
func ParseMode(s string) (Mode, error) {
	switch Mode(s) {
	case "", Auto:
		return Auto, nil
	case Native, Prompt:
		return Mode(s), nil
	}
	return "", fmt.Errorf("want auto, native or prompt, not %q", s)
}

// Gate decides once per stage, in Auto mode, whether the backend takes the
// schema natively. The first request probes while later ones wait for its
// answer, so a backend that refuses schemas is refused once, not once per
// concurrent unit (which could trip the run's breaker). Safe for concurrent
// use; the zero value is in Auto mode and falls back to Prompt.
type Gate struct {
	Mode Mode
	// Fallback is how Auto asks once the backend has refused a schema:
	// Prompt ("") or Off.
	Fallback Mode

	mu      sync.Mutex
	decided bool
	native  bool
}

// Do runs call with native true or false as the mode and what the gate
// learnt say, and returns whether the last call was native and its error.
// In Auto mode, a call that the backend refused (Refused) is made again
// with native false, and the first call to succeed settles the mode.
func (g *Gate) Do(ctx context.Context, call func(ctx context.Context, native bool) error) (bool, error) {
	how, err := g.Ask(ctx, func(ctx context.Context, how Mode) error { return call(ctx, how == Native) })
	return how == Native, err
}

// Ask runs call with how the request is to be asked: Native, Prompt or
// Off, as the mode and what the gate learnt say, and returns how the last
// call asked and its error. In Auto mode, a call the backend refused
// (Refused) is made again as the Fallback says, and the first call to
// succeed settles the mode.
func (g *Gate) Ask(ctx context.Context, call func(ctx context.Context, how Mode) error) (Mode, error) {
	switch g.Mode {
	case Native, Prompt, Off:
		return g.Mode, call(ctx, g.Mode)
	}
	fallback := Prompt
	if g.Fallback == Off {
		fallback = Off
	}
	g.mu.Lock()
	if g.decided {
		how := fallback
		if g.native {
			how = Native
		}
		g.mu.Unlock()
		return how, call(ctx, how)
	}
	defer g.mu.Unlock()
	err := call(ctx, Native)
	if err == nil {
		g.decided, g.native = true, true
		return Native, nil
	}
	if !Refused(err) {
		return Native, err
	}
	err = call(ctx, fallback)
	if err == nil {
		g.decided, g.native = true, false
	}
	return fallback, err
}

// Native reports what the gate has settled: whether the schema goes with
// the request, and whether that is settled yet.
func (g *Gate) Native() (native, decided bool) {
	if g.Mode != Auto && g.Mode != "" {
		return g.Mode == Native, true
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.native, g.decided
}

// Refused reports whether err is a backend's refusal of the request itself
// (HTTP 400), which for a request with a schema means it takes no schema.
func Refused(err error) bool {
	var me *model.Error
	if errors.As(err, &me) && me.Status == 400 {
		return true
	}
	var he *model.HTTPError
	return errors.As(err, &he) && he.Status == 400
}
