// Package mcpclient connects to an MCP server over stdio or streamable HTTP, through the official MCP Go SDK, and lists and calls its tools.
package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Server says how to reach an MCP server: a command that speaks MCP on its
// stdin and stdout, or the URL of a streamable HTTP endpoint.
type Server struct {
	Name    string   // names the server in errors
	Command []string // program and arguments, for stdio
	// Env is added to the command's environment, which is otherwise the
	// caller's: servers commonly read their keys from it.
	Env     map[string]string
	URL     string            // streamable HTTP endpoint
	Headers map[string]string // sent with every HTTP request (e.g. Authorization)
	// HTTPClient is used for URL; nil means http.DefaultClient.
	HTTPClient *http.Client
}

// Tool is a tool the server offers.
type Tool struct {
	Name        string
	Description string
	InputSchema json.RawMessage // a JSON Schema object
}

// Result is what a call returned: its content as text, and whether the
// tool reported an error (the model sees that, it is not a failed call).
type Result struct {
	Text    string
	IsError bool
}

// Session is a connection to one server. Safe for concurrent use; Close
// ends it (and a stdio server's process).
type Session struct {
	name string
	cs   *mcp.ClientSession
}

// version is what this client says it is in the MCP handshake.
const version = "v1"

// Connect starts or dials the server and completes the MCP handshake.
func Connect(ctx context.Context, s Server) (*Session, error) {
	name := s.Name
	if name == "" {
		name = strings.Join(append(s.Command, s.URL), " ")
	}
	var t mcp.Transport
	switch {
	case len(s.Command) > 0 && s.URL != "":
		return nil, fmt.Errorf("mcpclient: server %s: set command or url, not both", name)
	case len(s.Command) > 0:
		cmd := exec.Command(s.Command[0], s.Command[1:]...)
		cmd.Env = os.Environ()
		keys := make([]string, 0, len(s.Env))
		for k := range s.Env {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			cmd.Env = append(cmd.Env, k+"="+s.Env[k])
		}
		// The server's log goes where ours does; its stdout is the protocol.
		cmd.Stderr = os.Stderr
		t = &mcp.CommandTransport{Command: cmd, TerminateDuration: 2 * time.Second}
	case s.URL != "":
		hc := s.HTTPClient
		if hc == nil {
			hc = http.DefaultClient
		}
		if len(s.Headers) > 0 {
			c := *hc
			c.Transport = headerTransport{base: hc.Transport, headers: s.Headers}
			hc = &c
		}
		t = &mcp.StreamableClientTransport{Endpoint: s.URL, HTTPClient: hc, DisableStandaloneSSE: true}
	default:
		return nil, fmt.Errorf("mcpclient: server %s: command or url is required", name)
	}
	c := mcp.NewClient(&mcp.Implementation{Name: "synthloop", Version: version}, nil)
	cs, err := c.Connect(ctx, t, nil)
	if err != nil {
		return nil, fmt.Errorf("mcpclient: server %s: connect: %w", name, err)
	}
	return &Session{name: name, cs: cs}, nil
}

type headerTransport struct {
	base    http.RoundTripper
	headers map[string]string
}

func (h headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range h.headers {
		r.Header.Set(k, v)
	}
	base := h.base
	if base == nil {
		base = http.DefaultTransport
	}
	return base.RoundTrip(r)
}

// ListTools returns every tool the server offers, all pages of them.
func (s *Session) ListTools(ctx context.Context) ([]Tool, error) {
	var out []Tool
	for t, err := range s.cs.Tools(ctx, nil) {
		if err != nil {
			return nil, fmt.Errorf("mcpclient: server %s: list tools: %w", s.name, err)
		}
		schema, err := json.Marshal(t.InputSchema)
		if err != nil {
			return nil, fmt.Errorf("mcpclient: server %s: tool %s: input schema: %w", s.name, t.Name, err)
		}
		if string(schema) == "null" {
			schema = []byte(`{"type":"object"}`)
		}
		out = append(out, Tool{Name: t.Name, Description: t.Description, InputSchema: schema})
	}
	return out, nil
}

// CallTool calls the tool name with args, a JSON object. A tool that
// reports an error is a Result with IsError; the error is for a call that
// did not get a result (the server unreachable, a protocol error, an
// unknown tool).
func (s *Session) CallTool(ctx context.Context, name string, args json.RawMessage) (Result, error) {
	if len(args) == 0 {
		args = json.RawMessage(`{}`)
	}
	res, err := s.cs.CallTool(ctx, &mcp.CallToolParams{Name: name, Arguments: args})
	if err != nil {
		return Result{}, fmt.Errorf("mcpclient: server %s: call %s: %w", s.name, name, err)
	}
	return Result{Text: Text(res), IsError: res.IsError}, nil
}

// Close ends the session.
func (s *Session) Close() error {
	if err := s.cs.Close(); err != nil && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("mcpclient: server %s: close: %w", s.name, err)
	}
	return nil
}

// Text renders a call's result for a model: its text parts in order, other
// parts named by their kind, and the structured content as JSON when there
// is no text.
func Text(res *mcp.CallToolResult) string {
	var parts []string
	for _, c := range res.Content {
		switch c := c.(type) {
		case *mcp.TextContent:
			parts = append(parts, c.Text)
		case *mcp.ImageContent:
			parts = append(parts, fmt.Sprintf("[image %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.AudioContent:
			parts = append(parts, fmt.Sprintf("[audio %s, %d bytes]", c.MIMEType, len(c.Data)))
		case *mcp.ResourceLink:
			parts = append(parts, fmt.Sprintf("[resource %s]", c.URI))
		case *mcp.EmbeddedResource:
			if c.Resource != nil && c.Resource.Text != "" {
				parts = append(parts, c.Resource.Text)
			} else if c.Resource != nil {
				parts = append(parts, fmt.Sprintf("[resource %s]", c.Resource.URI))
			}
		}
	}
	if len(parts) == 0 && res.StructuredContent != nil {
		if b, err := json.Marshal(res.StructuredContent); err == nil {
			parts = append(parts, string(b))
		}
	}
	return strings.Join(parts, "\n")
}
