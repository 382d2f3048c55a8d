package tools

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/synthloop/synthloop/mcpclient"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/verify"
)

// MCPSession is what the stage needs of a connected MCP server.
// *mcpclient.Session implements it. Calls may come from several units at
// once, so implementations must be safe for concurrent use.
type MCPSession interface {
	ListTools(ctx context.Context) ([]mcpclient.Tool, error)
	CallTool(ctx context.Context, name string, args json.RawMessage) (mcpclient.Result, error)
}

// result is what a tool call returned to the model.
type result struct {
	Text    string
	IsError bool
}

// executor runs calls of one tool whose arguments have been checked. The
// error is for a failure that is not the call's: a tool that cannot run at
// all, a server that is unreachable, a model that failed.
type executor interface {
	call(ctx context.Context, u *unit, t *tool, args json.RawMessage) (result, error)
}

// tool is one tool of the toolset: what the model is shown, the schema its
// arguments are checked against, and how a call is executed.
type tool struct {
	def    model.Tool
	schema verify.Verifier
	exec   executor
	source string // "command", "simulated" or "mcp:SERVER", for the record
}

// toolset is the stage's tools by name, in the order the model sees them.
type toolset struct {
	list   []*tool
	byName map[string]*tool
}

func (ts *toolset) add(t *tool) error {
	if ts.byName == nil {
		ts.byName = map[string]*tool{}
	}
	if prev, dup := ts.byName[t.def.Name]; dup {
		return fmt.Errorf("tools: two tools are named %s (%s and %s)", t.def.Name, prev.source, t.source)
	}
	ts.byName[t.def.Name] = t
	ts.list = append(ts.list, t)
	return nil
}

func (ts *toolset) defs() []model.Tool {
	out := make([]model.Tool, len(ts.list))
	for i, t := range ts.list {
		out[i] = t.def
	}
	return out
}

// newTool compiles schema, the JSON Schema of the tool's arguments.
func newTool(name, desc string, schema json.RawMessage, exec executor, source string) (*tool, error) {
	if err := isObjectSchema(schema); err != nil {
		return nil, fmt.Errorf("tools: tool %s: parameters: %w", name, err)
	}
	v, err := verify.New(&verify.Config{Kind: verify.JSONSchema, Schema: string(schema)})
	if err != nil {
		return nil, fmt.Errorf("tools: tool %s: parameters: %w", name, err)
	}
	return &tool{def: model.Tool{Name: name, Description: desc, Parameters: schema}, schema: v, exec: exec, source: source}, nil
}

// isObjectSchema checks that schema describes an object, as every
// provider's tool calling requires of the arguments.
func isObjectSchema(schema json.RawMessage) error {
	var s struct {
		Type any `json:"type"`
	}
	if err := json.Unmarshal(schema, &s); err != nil {
		return fmt.Errorf("not a JSON object: %w", err)
	}
	if s.Type != "object" {
		return fmt.Errorf(`type is %v, want "object"`, s.Type)
	}
	return nil
}

// Kinds of invalid call, in Meta and in Decisions.
const (
	InventedTool     = "invented_tool"
	InvalidArguments = "invalid_arguments"
)

// ParseArguments reads a tool call's arguments: one JSON object and nothing
// after it. Empty arguments are the empty object, as providers send them
// for a tool without parameters. It returns the object compacted.
func ParseArguments(s string) (json.RawMessage, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return json.RawMessage(`{}`), nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("the arguments are not JSON: %v", err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, errors.New("the arguments have text after the JSON object")
	}
	if _, ok := v.(map[string]any); !ok {
		return nil, fmt.Errorf("the arguments are a JSON %s, not an object", jsonKind(v))
	}
	var b bytes.Buffer
	if err := json.Compact(&b, []byte(s)); err != nil {
		return nil, fmt.Errorf("the arguments are not JSON: %v", err)
	}
	return b.Bytes(), nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	}
	return "value"
}

// checkCall returns the arguments of a valid call, or the kind of problem
// and the error message the model is shown instead of a result.
func (ts *toolset) checkCall(ctx context.Context, c model.ToolCall) (args json.RawMessage, kind, problem string, err error) {
	t, ok := ts.byName[c.Name]
	if !ok {
		names := make([]string, len(ts.list))
		for i, t := range ts.list {
			names[i] = t.def.Name
		}
		return nil, InventedTool, fmt.Sprintf("error: there is no tool named %q; the tools are: %s", c.Name, strings.Join(names, ", ")), nil
	}
	args, perr := ParseArguments(c.Arguments)
	if perr != nil {
		return nil, InvalidArguments, fmt.Sprintf("error: %s: %v", c.Name, perr), nil
	}
	v, err := t.schema.Verify(ctx, verify.Check{Candidate: string(args)})
	if err != nil {
		return nil, "", "", err
	}
	if !v.Pass {
		return nil, InvalidArguments, fmt.Sprintf("error: %s: the arguments do not match the tool's parameters: %s", c.Name, schemaReason(v.Reason)), nil
	}
	return args, "", "", nil
}

// commandExec runs a call in the sandbox, the arguments on stdin.
type commandExec struct{ sb *verify.Sandbox }

// maxResult bounds a command tool's output the model is shown.
const maxResult = 16 << 10

func (e commandExec) call(ctx context.Context, _ *unit, t *tool, args json.RawMessage) (result, error) {
	out, err := e.sb.Run(ctx, string(args), verify.File{Env: "SYNTHLOOP_TOOL_FILE", Name: "tool.txt", Content: t.def.Name})
	if err != nil {
		return result{}, fmt.Errorf("tools: tool %s: %w", t.def.Name, err)
	}
	switch {
	case out.TimedOut:
		return result{Text: "error: the tool timed out", IsError: true}, nil
	case out.ExitCode != 0:
		msg := strings.TrimSpace(out.Stderr)
		if msg == "" {
			msg = strings.TrimSpace(out.Stdout)
		}
		if msg == "" {
			msg = out.Status
		}
		return result{Text: "error: " + msg, IsError: true}, nil
	}
	return result{Text: strings.TrimSpace(out.Stdout)}, nil
}

// mcpExec calls the tool on its MCP server.
type mcpExec struct {
	server string
	sess   MCPSession
}

func (e mcpExec) call(ctx context.Context, _ *unit, t *tool, args json.RawMessage) (result, error) {
	r, err := e.sess.CallTool(ctx, t.def.Name, args)
	if err != nil {
		return result{}, fmt.Errorf("tools: mcp server %s: %w", e.server, err)
	}
	return result{Text: r.Text, IsError: r.IsError}, nil
}

// schemaReason drops the schema's location from a validation message
// ("jsonschema validation failed with 'file:///cwd/schema.json#' - at
// ..."): it names a file the model never saw, and it would put the working
// directory into the next request and so into its cache key.
func schemaReason(s string) string {
	if _, rest, ok := strings.Cut(s, "' - "); ok && strings.HasPrefix(s, "jsonschema validation failed with '") {
		return rest
	}
	return s
}
