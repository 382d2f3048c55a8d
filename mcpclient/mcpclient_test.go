package mcpclient

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// serverEnv, when set, makes the test binary an MCP server on stdio, so the
// stdio transport is tested against a real server process.
const serverEnv = "SYNTHLOOP_MCPCLIENT_TEST_SERVER"

func TestMain(m *testing.M) {
	if os.Getenv(serverEnv) != "" {
		if err := testServer().Run(context.Background(), &mcp.StdioTransport{}); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

type addArgs struct {
	A float64 `json:"a" jsonschema:"the first number"`
	B float64 `json:"b" jsonschema:"the second number"`
}

type divArgs struct {
	A float64 `json:"a"`
	B float64 `json:"b"`
}

// testServer offers add, which answers, and divide, which reports an
// error for a zero divisor.
func testServer() *mcp.Server {
	s := mcp.NewServer(&mcp.Implementation{Name: "calc", Version: "v1"}, nil)
	mcp.AddTool(s, &mcp.Tool{Name: "add", Description: "Adds two numbers"}, func(_ context.Context, _ *mcp.CallToolRequest, in addArgs) (*mcp.CallToolResult, any, error) {
		b, _ := json.Marshal(in.A + in.B)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}, nil, nil
	})
	mcp.AddTool(s, &mcp.Tool{Name: "divide", Description: "Divides a by b"}, func(_ context.Context, _ *mcp.CallToolRequest, in divArgs) (*mcp.CallToolResult, any, error) {
		if in.B == 0 {
			return nil, nil, errors.New("division by zero")
		}
		b, _ := json.Marshal(in.A / in.B)
		return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: string(b)}}}, nil, nil
	})
	return s
}

// sessions connects to the test server both ways: over streamable HTTP
// (an httptest server) and over stdio (this test binary re-executed).
func sessions(t *testing.T) map[string]*Session {
	t.Helper()
	srv := testServer()
	hs := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return srv }, nil))
	t.Cleanup(hs.Close)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Session{}
	for name, s := range map[string]Server{
		"http":  {Name: "calc-http", URL: hs.URL, Headers: map[string]string{"X-Test": "1"}},
		"stdio": {Name: "calc-stdio", Command: []string{exe, "-test.run=^$"}, Env: map[string]string{serverEnv: "1"}},
	} {
		sess, err := Connect(context.Background(), s)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		t.Cleanup(func() {
			if err := sess.Close(); err != nil {
				t.Errorf("%s: %v", name, err)
			}
		})
		out[name] = sess
	}
	return out
}

func TestListAndCall(t *testing.T) {
	ctx := context.Background()
	for name, s := range sessions(t) {
		t.Run(name, func(t *testing.T) {
			tools, err := s.ListTools(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(tools) != 2 || tools[0].Name != "add" || tools[0].Description != "Adds two numbers" {
				t.Fatalf("tools = %+v", tools)
			}
			var schema struct {
				Type       string                     `json:"type"`
				Properties map[string]json.RawMessage `json:"properties"`
			}
			if err := json.Unmarshal(tools[0].InputSchema, &schema); err != nil || schema.Type != "object" || len(schema.Properties) != 2 {
				t.Errorf("add's schema %s: %v", tools[0].InputSchema, err)
			}
			for _, tc := range []struct {
				tool, args, want string
				isError          bool
			}{
				{"add", `{"a":2,"b":3.5}`, "5.5", false},
				{"divide", `{"a":1,"b":4}`, "0.25", false},
				{"divide", `{"a":1,"b":0}`, "division by zero", true},
				// The server validates the arguments against its schema.
				{"add", `{"a":"two","b":1}`, "", true},
			} {
				got, err := s.CallTool(ctx, tc.tool, json.RawMessage(tc.args))
				if err != nil {
					t.Fatalf("CallTool(%s, %s): %v", tc.tool, tc.args, err)
				}
				if got.IsError != tc.isError || !strings.Contains(got.Text, tc.want) {
					t.Errorf("CallTool(%s, %s) = %+v, want %q (error %v)", tc.tool, tc.args, got, tc.want, tc.isError)
				}
			}
			if _, err := s.CallTool(ctx, "nope", nil); err == nil || !strings.Contains(err.Error(), "call nope") {
				t.Errorf("an unknown tool: %v", err)
			}
		})
	}
}

func TestConnectErrors(t *testing.T) {
	for _, tc := range []struct {
		s    Server
		want string
	}{
		{Server{Name: "x"}, "command or url is required"},
		{Server{Name: "x", Command: []string{"a"}, URL: "http://b"}, "not both"},
		{Server{Name: "x", Command: []string{"/nonexistent/mcp-server"}}, "server x: connect"},
	} {
		if _, err := Connect(context.Background(), tc.s); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Connect(%+v) = %v, want %q", tc.s, err, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	res := &mcp.CallToolResult{Content: []mcp.Content{
		&mcp.TextContent{Text: "a"}, &mcp.ImageContent{MIMEType: "image/png", Data: []byte("xy")}, &mcp.ResourceLink{URI: "file:///r"},
	}}
	if got := Text(res); got != "a\n[image image/png, 2 bytes]\n[resource file:///r]" {
		t.Errorf("Text = %q", got)
	}
	if got := Text(&mcp.CallToolResult{StructuredContent: map[string]int{"n": 1}}); got != `{"n":1}` {
		t.Errorf("Text of structured content = %q", got)
	}
}
