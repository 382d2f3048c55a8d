package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/anthropic"
	"github.com/synthloop/synthloop/model/modeltest"
)

type memCache struct {
	mu sync.Mutex
	m  map[string][]byte
}

func (c *memCache) Get(_ context.Context, k string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok, nil
}

func (c *memCache) Put(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
	return nil
}

func openWith(t *testing.T, url string, cfg model.Config, cache model.Cache) model.Backend {
	t.Helper()
	cfg.Ref, cfg.BaseURL, cfg.MaxRetries = "anthropic/claude-sonnet-4-5", url, -1
	b, _, err := model.Open(context.Background(), "claude", cfg, model.Options{
		Getenv: func(string) string { return "ak-test-1234" },
		Sleep:  func(ctx context.Context, d time.Duration) error { return ctx.Err() },
		Cache:  cache,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var (
	weather = model.ToolCall{ID: "toolu_1", Name: "get_weather", Arguments: `{"city":"Paris"}`}
	clock   = model.ToolCall{ID: "toolu_2", Name: "get_time", Arguments: `{}`}
	toolset = []model.Tool{
		{Name: "get_weather", Description: "Weather for a city.", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)},
		{Name: "get_time"},
	}
)

func streamName(name string, stream bool) string {
	if stream {
		return name + "/stream"
	}
	return name
}

// TestThinkingAndToolUse reads thinking blocks with their signature and
// tool_use blocks with their input as arguments, streamed and not, and an
// identical second request from the cache with all of it intact.
func TestThinkingAndToolUse(t *testing.T) {
	tests := []struct {
		name   string
		choice modeltest.Choice
		want   model.Choice
	}{
		{"thinking and text", modeltest.Choice{Reasoning: "Think about ✓ the question.", Text: "Answer."},
			model.Choice{Reasoning: "Think about ✓ the question.", ReasoningSignature: modeltest.Signature("Think about ✓ the question."), Text: "Answer.", FinishReason: model.FinishStop}},
		{"thinking and tool calls", modeltest.Choice{Reasoning: "Call both.", Text: "Let me check.", ToolCalls: []model.ToolCall{weather, clock}},
			model.Choice{Reasoning: "Call both.", ReasoningSignature: modeltest.Signature("Call both."), Text: "Let me check.", ToolCalls: []model.ToolCall{weather, clock}, FinishReason: model.FinishTools}},
		{"tool call only", modeltest.Choice{ToolCalls: []model.ToolCall{weather}},
			model.Choice{ToolCalls: []model.ToolCall{weather}, FinishReason: model.FinishTools}},
	}
	for _, tt := range tests {
		for _, stream := range []bool{false, true} {
			t.Run(streamName(tt.name, stream), func(t *testing.T) {
				srv := modeltest.NewAnthropicServer(func(*modeltest.Request) modeltest.Reply {
					return modeltest.Reply{Choices: []modeltest.Choice{tt.choice}, Usage: &model.Usage{PromptTokens: 10, CompletionTokens: 40, ReasoningTokens: 25}}
				})
				defer srv.Close()
				b := openWith(t, srv.URL, model.Config{Stream: stream}, &memCache{m: map[string][]byte{}})
				req := model.Request{Messages: []model.Message{{Role: "user", Content: "weather?"}}, Tools: toolset, ThinkingBudget: 2048}
				for i := range 2 {
					res, err := b.Generate(context.Background(), req)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(res.Choices[0], tt.want) {
						t.Errorf("call %d:\n got %+v\nwant %+v", i, res.Choices[0], tt.want)
					}
					if want := (model.Usage{PromptTokens: 10, CompletionTokens: 40, ReasoningTokens: 25}); res.Usage != want {
						t.Errorf("call %d: usage %+v, want %+v", i, res.Usage, want)
					}
				}
				if srv.Requests() != 1 || srv.Log()[0].Stream != stream {
					t.Errorf("%d requests (want 1), stream %v", srv.Requests(), srv.Log()[0].Stream)
				}
			})
		}
	}
}

// TestToolConversationEncoding sends a conversation with signed thinking,
// tool calls and two tool results (one failed), and checks what the
// stand-in decoded: the thinking went back with its signature (the
// stand-in refuses it otherwise), the results went as one user turn.
func TestToolConversationEncoding(t *testing.T) {
	history := []model.Message{
		{Role: "system", Content: "Use tools."},
		{Role: "user", Content: "weather and time?"},
		{Role: "assistant", Reasoning: "Call both.", ReasoningSignature: modeltest.Signature("Call both."), ToolCalls: []model.ToolCall{weather, clock}},
		{Role: "tool", ToolCallID: "toolu_1", Content: `{"temp":21}`},
		{Role: "tool", ToolCallID: "toolu_2", Content: "no clock", IsError: true},
		{Role: "user", Content: "and tomorrow?"},
	}
	for _, tt := range []struct{ choice, want, wire string }{
		{"", "", ""},
		{"auto", "auto", `"tool_choice":{"type":"auto"}`},
		{"required", "required", `"tool_choice":{"type":"any"}`},
		{"none", "none", `"tool_choice":{"type":"none"}`},
		{"get_time", "get_time", `"tool_choice":{"name":"get_time","type":"tool"}`},
	} {
		t.Run("choice="+tt.choice, func(t *testing.T) {
			srv := modeltest.NewAnthropicServer(modeltest.Texts("Sunny."))
			defer srv.Close()
			_, err := openWith(t, srv.URL, model.Config{}, nil).Generate(context.Background(), model.Request{
				Messages: history, Tools: toolset, ToolChoice: tt.choice,
			})
			if err != nil {
				t.Fatal(err)
			}
			r := srv.Log()[0]
			wantMsgs := []model.Message{history[0], history[1], history[2], history[3], history[4], history[5]}
			if !reflect.DeepEqual(r.Messages, wantMsgs) {
				t.Errorf("messages\n got %+v\nwant %+v", r.Messages, wantMsgs)
			}
			if r.ToolChoice != tt.want || len(r.Tools) != 2 || r.Tools[0].Description != "Weather for a city." {
				t.Errorf("tool_choice %q tools %+v", r.ToolChoice, r.Tools)
			}
			var body struct {
				Messages []struct {
					Role    string            `json:"role"`
					Content []json.RawMessage `json:"content"`
				} `json:"messages"`
			}
			json.Unmarshal(r.Body, &body)
			if len(body.Messages) != 3 || body.Messages[2].Role != "user" || len(body.Messages[2].Content) != 3 {
				t.Errorf("want the two tool results and the text in one user turn: %s", r.Body)
			}
			if !strings.Contains(string(body.Messages[2].Content[1]), `"is_error":true`) {
				t.Errorf("failed tool result without is_error: %s", body.Messages[2].Content[1])
			}
			if !strings.Contains(string(r.Body), tt.wire) {
				t.Errorf("body lacks %s: %s", tt.wire, r.Body)
			}
		})
	}
	t.Run("tampered thinking refused", func(t *testing.T) {
		srv := modeltest.NewAnthropicServer(modeltest.Texts("x"))
		defer srv.Close()
		bad := append([]model.Message(nil), history...)
		bad[2].Reasoning = "Something else."
		_, err := openWith(t, srv.URL, model.Config{}, nil).Generate(context.Background(), model.Request{Messages: bad, Tools: toolset})
		var he *model.HTTPError
		if !errors.As(err, &he) || he.Status != 400 || !strings.Contains(he.Message, "signature") {
			t.Errorf("err %v, want the stand-in's 400 about the signature", err)
		}
	})
}

// TestThinkingRules checks what the backend does with the API's rules on
// thinking: adjusts max_tokens and temperature, refuses the rest with a 400
// before sending.
func TestThinkingRules(t *testing.T) {
	user := []model.Message{{Role: "user", Content: "hi"}}
	temp, topP := 0.7, 0.9
	tests := []struct {
		name    string
		req     model.Request
		drop    []string
		err     string
		maxTok  int
		budget  int
		hasTemp bool
	}{
		{"max_tokens from the budget", model.Request{Messages: user, ThinkingBudget: 2048, Temperature: &temp, TopP: &topP}, nil, "", 2048 + anthropic.DefaultMaxTokens, 2048, false},
		{"explicit max_tokens", model.Request{Messages: user, ThinkingBudget: 1024, MaxTokens: 4000}, nil, "", 4000, 1024, false},
		{"dropped", model.Request{Messages: user, ThinkingBudget: 2048, Temperature: &temp}, []string{"thinking_budget"}, "", anthropic.DefaultMaxTokens, 0, true},
		{"budget too small", model.Request{Messages: user, ThinkingBudget: 500}, nil, "at least 1024", 0, 0, false},
		{"max_tokens not above budget", model.Request{Messages: user, ThinkingBudget: 2048, MaxTokens: 2048}, nil, "must be greater than thinking_budget", 0, 0, false},
		{"structured output", model.Request{Messages: user, ThinkingBudget: 2048, JSONSchema: json.RawMessage(`{"type":"object"}`)}, nil, "cannot be combined with thinking_budget", 0, 0, false},
		{"structured output and tools", model.Request{Messages: user, Tools: toolset, JSONSchema: json.RawMessage(`{"type":"object"}`)}, nil, "cannot be combined with tools", 0, 0, false},
		{"forced tool and thinking", model.Request{Messages: user, Tools: toolset, ToolChoice: "required", ThinkingBudget: 2048}, nil, `tool_choice "required" cannot be combined with thinking_budget`, 0, 0, false},
		{"named tool and thinking", model.Request{Messages: user, Tools: toolset, ToolChoice: toolset[0].Name, ThinkingBudget: 2048}, nil, "cannot be combined with thinking_budget", 0, 0, false},
		{"auto tool choice and thinking", model.Request{Messages: user, Tools: toolset, ToolChoice: "auto", ThinkingBudget: 2048}, nil, "", 2048 + anthropic.DefaultMaxTokens, 2048, false},
		{"unknown tool choice", model.Request{Messages: user, Tools: toolset, ToolChoice: "x"}, nil, `tool_choice "x" names no tool`, 0, 0, false},
		{"empty assistant turn in history", model.Request{Messages: append(user, model.Message{Role: "assistant"}, model.Message{Role: "user", Content: "again"})}, nil, "no text and no tool calls", 0, 0, false},
		{"bad arguments in history", model.Request{Messages: append(user, model.Message{Role: "assistant", ToolCalls: []model.ToolCall{{ID: "a", Name: "b", Arguments: "[1"}}}), Tools: toolset}, nil, "not a JSON object", 0, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := modeltest.NewAnthropicServer(modeltest.Texts("ok"))
			defer srv.Close()
			_, err := openWith(t, srv.URL, model.Config{DropParams: tt.drop}, nil).Generate(context.Background(), tt.req)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) || srv.Requests() != 0 {
					t.Errorf("err %v after %d requests; want one containing %q before sending", err, srv.Requests(), tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			r := srv.Log()[0]
			if r.MaxTokens != tt.maxTok || r.ThinkingBudget != tt.budget || (r.Temperature != nil) != tt.hasTemp || (r.TopP != nil) != tt.hasTemp && tt.req.TopP != nil {
				t.Errorf("max_tokens %d budget %d temperature %v top_p %v; want %d %d temperature sent %v", r.MaxTokens, r.ThinkingBudget, r.Temperature, r.TopP, tt.maxTok, tt.budget, tt.hasTemp)
			}
		})
	}
}

// TestRedactedThinking: a redacted_thinking block is never mixed with the
// text; the choice keeps a marker and the data, and sends it back.
func TestRedactedThinking(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"m","type":"message","role":"assistant","model":"claude-sonnet-4-5","stop_reason":"end_turn","stop_sequence":null,
			"content":[{"type":"redacted_thinking","data":"ENCRYPTED=="},{"type":"text","text":"Hello."}],
			"usage":{"input_tokens":5,"output_tokens":9}}`)
	}))
	defer hs.Close()
	b := openWith(t, hs.URL, model.Config{}, nil)
	res, err := b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "hi"}}, ThinkingBudget: 1024})
	if err != nil {
		t.Fatal(err)
	}
	ch := res.Choices[0]
	if ch.Text != "Hello." || ch.Reasoning != anthropic.RedactedMarker || !strings.Contains(ch.ReasoningSignature, "ENCRYPTED==") {
		t.Fatalf("choice %+v", ch)
	}
	_, err = b.Generate(context.Background(), model.Request{Messages: []model.Message{
		{Role: "user", Content: "hi"}, {Role: "assistant", Content: ch.Text, Reasoning: ch.Reasoning, ReasoningSignature: ch.ReasoningSignature},
		{Role: "user", Content: "again"},
	}, ThinkingBudget: 1024})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(bodies[1], `{"data":"ENCRYPTED==","type":"redacted_thinking"}`) || strings.Contains(bodies[1], anthropic.RedactedMarker) {
		t.Errorf("redacted thinking not sent back as it came: %s", bodies[1])
	}
}

// TestStructuredOutputStreamed keeps the forced-tool structured output
// working when the answer is streamed.
func TestStructuredOutputStreamed(t *testing.T) {
	srv := modeltest.NewAnthropicServer(modeltest.Texts(`{"a":"because","q":"why?"}`))
	defer srv.Close()
	res, err := openWith(t, srv.URL, model.Config{Stream: true}, nil).Generate(context.Background(), model.Request{
		Messages:   []model.Message{{Role: "user", Content: "make a QA pair"}},
		JSONSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"},"a":{"type":"string"}},"required":["q","a"]}`),
	})
	if err != nil {
		t.Fatal(err)
	}
	if ch := res.Choices[0]; ch.Text != `{"a":"because","q":"why?"}` || ch.FinishReason != model.FinishStop || len(ch.ToolCalls) != 0 {
		t.Errorf("choice %+v", ch)
	}
}

// TestStreamFaultsRecovered: a streamed answer that is cut off or refused
// is retried by the layer like a whole one.
func TestStreamFaultsRecovered(t *testing.T) {
	for _, f := range []modeltest.Fault{{Kind: modeltest.Truncated}, modeltest.HTTPStatus(529), {Kind: modeltest.Reset}} {
		t.Run(f.Kind.String(), func(t *testing.T) {
			srv := modeltest.NewAnthropicServer(func(*modeltest.Request) modeltest.Reply {
				return modeltest.Reply{Choices: []modeltest.Choice{{Reasoning: "a long thought that is cut off somewhere in the middle", Text: "done"}}}
			}, modeltest.WithFaults(modeltest.FirstAttempts(1, f)))
			defer srv.Close()
			b, _, err := model.Open(context.Background(), "claude", model.Config{Ref: "anthropic/claude-sonnet-4-5", BaseURL: srv.URL, Stream: true},
				model.Options{Getenv: func(string) string { return "k" }, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
			if err != nil {
				t.Fatal(err)
			}
			res, err := b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "q"}}})
			if err != nil {
				t.Fatal(err)
			}
			if ch := res.Choices[0]; ch.Text != "done" || !strings.HasSuffix(ch.Reasoning, "middle") || srv.Requests() != 2 {
				t.Errorf("choice %+v after %d requests", ch, srv.Requests())
			}
		})
	}
}
