package modeltest_test

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// TestWireShapes pins the JSON the stand-ins send for reasoning and tool
// calls, streamed and not, in the shapes of the providers' SDK types.
func TestWireShapes(t *testing.T) {
	reply := func(*modeltest.Request) modeltest.Reply {
		return modeltest.Reply{Choices: []modeltest.Choice{{Reasoning: "why", ToolCalls: []model.ToolCall{{ID: "c1", Name: "f", Arguments: `{"x":1}`}}}},
			Usage: &model.Usage{PromptTokens: 1, CompletionTokens: 5, ReasoningTokens: 2}}
	}
	oa := modeltest.NewServer(reply)
	defer oa.Close()
	an := modeltest.NewAnthropicServer(reply)
	defer an.Close()
	tests := []struct {
		name, url, body string
		want            []string
	}{
		{"openai", oa.URL + "/chat/completions", `{"model":"m","messages":[{"role":"user","content":"q"}]}`, []string{
			`"message":{"role":"assistant","reasoning_content":"why","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}],"content":null}`,
			`"finish_reason":"tool_calls"`,
			`"usage":{"prompt_tokens":1,"completion_tokens":5,"total_tokens":6,"completion_tokens_details":{"reasoning_tokens":2}}`,
		}},
		{"openai stream", oa.URL + "/chat/completions", `{"model":"m","stream":true,"stream_options":{"include_usage":true},"messages":[{"role":"user","content":"q"}]}`, []string{
			`"delta":{"role":"assistant"}`,
			`"delta":{"reasoning_content":"why"}`,
			`"delta":{"tool_calls":[{"index":0,"id":"c1","type":"function","function":{"name":"f","arguments":"{\"x\":1}"}}]}`,
			`"delta":{},"finish_reason":"tool_calls"`,
			`"choices":[],"usage":{`,
			"data: [DONE]\n\n",
		}},
		{"anthropic", an.URL + "/v1/messages", `{"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"user","content":"q"}]}`, []string{
			`"content":[{"signature":"` + modeltest.Signature("why") + `","thinking":"why","type":"thinking"},{"id":"c1","input":{"x":1},"name":"f","type":"tool_use"}]`,
			`"stop_reason":"tool_use"`,
			`"output_tokens_details":{"thinking_tokens":2}`,
		}},
		{"anthropic stream", an.URL + "/v1/messages", `{"model":"m","max_tokens":10,"stream":true,"messages":[{"role":"user","content":"q"}]}`, []string{
			"event: message_start\n",
			`"content_block":{"signature":"","thinking":"","type":"thinking"},"index":0,"type":"content_block_start"`,
			`"delta":{"thinking":"why","type":"thinking_delta"}`,
			`"delta":{"signature":"` + modeltest.Signature("why") + `","type":"signature_delta"}`,
			`"content_block":{"id":"c1","input":{},"name":"f","type":"tool_use"}`,
			`"delta":{"partial_json":"{\"x\":1}","type":"input_json_delta"}`,
			`"delta":{"stop_reason":"tool_use","stop_sequence":null}`,
			"event: message_stop\n",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, b, err := post(t, tt.url, tt.body)
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("%v %v: %s", err, res, b)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("body lacks %s\n%s", w, b)
				}
			}
		})
	}
}

// TestAnthropicThinkingRules: the stand-in refuses what the API refuses.
func TestAnthropicThinkingRules(t *testing.T) {
	an := modeltest.NewAnthropicServer(modeltest.Echo)
	defer an.Close()
	for _, tt := range []struct{ body, want string }{
		{`"max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":100}`, "greater than or equal to 1024"},
		{`"max_tokens":1024,"thinking":{"type":"enabled","budget_tokens":1024}`, "must be greater than `thinking.budget_tokens`"},
		{`"max_tokens":2000,"temperature":0.5,"thinking":{"type":"enabled","budget_tokens":1024}`, "temperature"},
		{`"max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"tools":[{"name":"f","input_schema":{"type":"object"}}],"tool_choice":{"type":"any"}`, "forces tool use"},
	} {
		res, b, err := post(t, an.URL+"/v1/messages", `{"model":"m",`+tt.body+`,"messages":[{"role":"user","content":"q"}]}`)
		if err != nil || res.StatusCode != 400 || !strings.Contains(string(b), tt.want) {
			t.Errorf("%s: %v %s; want a 400 about %q", tt.body, err, b, tt.want)
		}
	}
}

// FuzzStandInRequests: whatever body a client sends, the stand-ins answer
// it, with a 200 or a 400, never by dropping the connection (a panic).
func FuzzStandInRequests(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"q"}]}`,
		`{"model":"m","stream":true,"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"a","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"a","content":"r"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"f"}}}`,
		`{"model":"m","max_tokens":2000,"thinking":{"type":"enabled","budget_tokens":1024},"messages":[{"role":"assistant","content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"tool_use","id":"a","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"a","content":[{"type":"text","text":"r"}],"is_error":true}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"tool_use","input":5}]}],"tool_choice":3}`,
	} {
		f.Add(s)
	}
	oa := modeltest.NewServer(modeltest.Echo)
	defer oa.Close()
	an := modeltest.NewAnthropicServer(modeltest.Echo)
	defer an.Close()
	client := &http.Client{Timeout: 5 * time.Second}
	f.Fuzz(func(t *testing.T, body string) {
		for _, url := range []string{oa.URL + "/chat/completions", an.URL + "/v1/messages"} {
			res, err := client.Post(url, "application/json", strings.NewReader(body))
			if err != nil {
				t.Fatalf("%s %q: %v", url, body, err)
			}
			b, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil || res.StatusCode != 200 && res.StatusCode != 400 {
				t.Fatalf("%s %q: %v %d %s", url, body, err, res.StatusCode, b)
			}
		}
	})
}
