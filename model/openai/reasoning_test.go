package openai_test

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/openai"
)

func rawStream(t *testing.T, baseURL string, stream bool, drop ...string) model.Backend {
	t.Helper()
	b, err := openai.New(context.Background(), model.ProviderConfig{
		Name: "t", Provider: "vllm", Model: "test-model", BaseURL: baseURL, DropParams: drop, Stream: stream,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var weatherCall = model.ToolCall{ID: "call_1", Name: "get_weather", Arguments: `{"city": "Paris", "unit":"c"}`}

// TestReplyReasoningAndToolCalls reads reasoning from both field names
// OpenAI-compatible servers use, tool calls with their arguments verbatim,
// and the reasoning token count, streamed and not.
func TestReplyReasoningAndToolCalls(t *testing.T) {
	rep := modeltest.Reply{
		Choices: []modeltest.Choice{
			{Reasoning: "The user wants the weather; ask the tool. Ünïcode ✓", ToolCalls: []model.ToolCall{weatherCall, {ID: "call_2", Name: "get_time", Arguments: `{}`}}},
			{Reasoning: "Easy.", Text: "It is sunny, I guess."},
		},
		Usage: &model.Usage{PromptTokens: 30, CompletionTokens: 50, ReasoningTokens: 20},
	}
	want := []model.Choice{
		{Reasoning: rep.Choices[0].Reasoning, ToolCalls: rep.Choices[0].ToolCalls, FinishReason: model.FinishTools},
		{Reasoning: "Easy.", Text: "It is sunny, I guess.", FinishReason: model.FinishStop},
	}
	for _, field := range []string{"reasoning_content", "reasoning"} {
		for _, stream := range []bool{false, true} {
			t.Run(field+map[bool]string{false: "", true: "/stream"}[stream], func(t *testing.T) {
				srv := modeltest.NewServer(func(*modeltest.Request) modeltest.Reply { return rep }, modeltest.WithReasoningField(field))
				defer srv.Close()
				res, err := rawStream(t, srv.URL, stream).Generate(context.Background(), model.Request{
					Messages: []model.Message{{Role: "user", Content: "weather in Paris?"}}, N: 2,
				})
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(res.Choices, want) {
					t.Errorf("choices\n got %+v\nwant %+v", res.Choices, want)
				}
				if res.Usage != *rep.Usage {
					t.Errorf("usage %+v, want %+v", res.Usage, *rep.Usage)
				}
				if got := srv.Log()[0].Stream; got != stream {
					t.Errorf("stream sent %v, want %v", got, stream)
				}
				if stream && !strings.Contains(string(srv.Log()[0].Body), `"include_usage":true`) {
					t.Errorf("a streamed request must ask for usage: %s", srv.Log()[0].Body)
				}
			})
		}
	}
}

// TestToolRequestEncoding checks the wire request of a multi-turn tool
// conversation as the stand-in decoded it: tools, each tool choice,
// reasoning_effort, assistant tool calls and tool results; and that earlier
// reasoning stays out of the request.
func TestToolRequestEncoding(t *testing.T) {
	tools := []model.Tool{
		{Name: "get_weather", Description: "Weather for a city.", Parameters: json.RawMessage(`{"type":"object","properties":{"city":{"type":"string"}},"required":["city"]}`)},
		{Name: "get_time"},
	}
	history := []model.Message{
		{Role: "system", Content: "Use tools."},
		{Role: "user", Content: "weather in Paris?"},
		{Role: "assistant", Reasoning: "SECRET-THOUGHT", ToolCalls: []model.ToolCall{weatherCall}},
		{Role: "tool", ToolCallID: "call_1", Content: `{"temp": 21}`},
		{Role: "assistant", Content: "Checking the time too.", ToolCalls: []model.ToolCall{{ID: "call_2", Name: "get_time", Arguments: "{}"}}},
		{Role: "tool", ToolCallID: "call_2", Content: "no clock", IsError: true},
	}
	tests := []struct {
		choice, wantChoice, effort string
		drop                       []string
		wantEffort                 string
	}{
		{"", "", "high", nil, "high"},
		{"auto", "auto", "low", []string{"reasoning_effort"}, ""},
		{"none", "none", "", nil, ""},
		{"required", "required", "", nil, ""},
		{"get_time", "get_time", "", nil, ""},
	}
	for _, tt := range tests {
		t.Run("choice="+tt.choice, func(t *testing.T) {
			srv := modeltest.NewServer(modeltest.Texts("It is 21°C."))
			defer srv.Close()
			_, err := rawStream(t, srv.URL, false, tt.drop...).Generate(context.Background(), model.Request{
				Messages: history, Tools: tools, ToolChoice: tt.choice, ReasoningEffort: tt.effort,
			})
			if err != nil {
				t.Fatal(err)
			}
			r := srv.Log()[0]
			if r.ToolChoice != tt.wantChoice || r.ReasoningEffort != tt.wantEffort {
				t.Errorf("tool_choice %q reasoning_effort %q; want %q %q", r.ToolChoice, r.ReasoningEffort, tt.wantChoice, tt.wantEffort)
			}
			if len(r.Tools) != 2 || r.Tools[0].Name != "get_weather" || r.Tools[0].Description != "Weather for a city." || r.Tools[1].Name != "get_time" {
				t.Fatalf("tools %+v", r.Tools)
			}
			var p1, p2 any
			json.Unmarshal(r.Tools[0].Parameters, &p1)
			json.Unmarshal(tools[0].Parameters, &p2)
			if !reflect.DeepEqual(p1, p2) {
				t.Errorf("parameters %s", r.Tools[0].Parameters)
			}
			wantMsgs := []model.Message{
				history[0], history[1],
				{Role: "assistant", ToolCalls: []model.ToolCall{weatherCall}},
				history[3],
				history[4],
				{Role: "tool", ToolCallID: "call_2", Content: "no clock"}, // the API has no error flag
			}
			if !reflect.DeepEqual(r.Messages, wantMsgs) {
				t.Errorf("messages\n got %+v\nwant %+v", r.Messages, wantMsgs)
			}
			if strings.Contains(string(r.Body), "SECRET-THOUGHT") {
				t.Errorf("reasoning of an earlier turn was sent: %s", r.Body)
			}
		})
	}
}

func TestToolRequestErrors(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo)
	defer srv.Close()
	b := rawStream(t, srv.URL, false)
	user := []model.Message{{Role: "user", Content: "x"}}
	for _, tt := range []struct {
		name string
		req  model.Request
		want string
	}{
		{"unknown tool choice", model.Request{Messages: user, Tools: []model.Tool{{Name: "a"}}, ToolChoice: "b"}, `tool_choice "b" names no tool`},
		{"bad parameters", model.Request{Messages: user, Tools: []model.Tool{{Name: "a", Parameters: json.RawMessage(`[1]`)}}}, "not a JSON Schema object"},
		{"tool turn without id", model.Request{Messages: append(user, model.Message{Role: "tool", Content: "r"})}, "needs the tool_call_id"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			_, err := b.Generate(context.Background(), tt.req)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %v, want one containing %q", err, tt.want)
			}
		})
	}
	if srv.Requests() != 0 {
		t.Errorf("%d requests sent for bad requests", srv.Requests())
	}
}

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

// TestReasoningThroughLayerAndCache goes through model.Open: think tags in
// the text are split by the layer, and an identical second request is
// answered from the cache with its reasoning and tool calls intact.
func TestReasoningThroughLayerAndCache(t *testing.T) {
	for _, tt := range []struct {
		name   string
		choice modeltest.Choice
		want   model.Choice
	}{
		{"think tags", modeltest.Choice{Text: "<think>\nsum it\n</think>\n\n42"}, model.Choice{Reasoning: "sum it", Text: "42", FinishReason: model.FinishStop}},
		{"opened by the template", modeltest.Choice{Text: "sum it</think>42"}, model.Choice{Reasoning: "sum it", Text: "42", FinishReason: model.FinishStop}},
		{"field wins over tags", modeltest.Choice{Reasoning: "real", Text: "<think>x</think>42"}, model.Choice{Reasoning: "real", Text: "<think>x</think>42", FinishReason: model.FinishStop}},
		{"tool calls", modeltest.Choice{Reasoning: "call it", ToolCalls: []model.ToolCall{weatherCall}}, model.Choice{Reasoning: "call it", ToolCalls: []model.ToolCall{weatherCall}, FinishReason: model.FinishTools}},
	} {
		for _, stream := range []bool{false, true} {
			t.Run(tt.name+map[bool]string{false: "", true: "/stream"}[stream], func(t *testing.T) {
				srv := modeltest.NewServer(func(*modeltest.Request) modeltest.Reply {
					return modeltest.Reply{Choices: []modeltest.Choice{tt.choice}}
				})
				defer srv.Close()
				b, _, err := model.Open(context.Background(), "t", model.Config{Ref: "vllm/test-model", BaseURL: srv.URL, Stream: stream},
					model.Options{Cache: &memCache{m: map[string][]byte{}}, Getenv: func(string) string { return "" }})
				if err != nil {
					t.Fatal(err)
				}
				req := model.Request{Messages: []model.Message{{Role: "user", Content: "6*7?"}}, Tools: []model.Tool{{Name: "get_weather"}}}
				for i := range 2 {
					res, err := b.Generate(context.Background(), req)
					if err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(res.Choices[0], tt.want) || res.Cached != (i == 1) {
						t.Errorf("call %d: %+v cached %v; want %+v", i, res.Choices[0], res.Cached, tt.want)
					}
				}
				if srv.Requests() != 1 {
					t.Errorf("%d requests, want 1", srv.Requests())
				}
			})
		}
	}
}

// TestStreamFaultsRecovered: a streamed answer that is cut off, refused
// with 429 or malformed is retried by the layer like a whole one.
func TestStreamFaultsRecovered(t *testing.T) {
	for _, f := range []modeltest.Fault{{Kind: modeltest.Truncated}, modeltest.RateLimited("0"), {Kind: modeltest.Malformed}, {Kind: modeltest.Reset}} {
		t.Run(f.Kind.String(), func(t *testing.T) {
			srv := modeltest.NewServer(func(*modeltest.Request) modeltest.Reply {
				return modeltest.Reply{Choices: []modeltest.Choice{{Reasoning: "a long thought that is cut off somewhere in the middle", Text: "done"}}}
			}, modeltest.WithFaults(modeltest.FirstAttempts(1, f)))
			defer srv.Close()
			b, _, err := model.Open(context.Background(), "t", model.Config{Ref: "vllm/test-model", BaseURL: srv.URL, Stream: true},
				model.Options{Getenv: func(string) string { return "" }, Sleep: func(ctx context.Context, _ time.Duration) error { return ctx.Err() }})
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
