package openai

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"

	sdk "github.com/openai/openai-go/v3"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

func ptr[T any](v T) *T { return &v }

// TestDirectRequestMatchesSDK: the direct path's body is, as JSON, the
// body the SDK builds from the same request, for every provider and drop.
func TestDirectRequestMatchesSDK(t *testing.T) {
	msgs := []model.Message{{Role: "system", Content: "be brief"}, {Role: "developer", Content: "dev"}, {Role: "user", Content: "hi ✓"},
		{Role: "assistant", Content: "hello", Reasoning: "not sent"}, {Role: "assistant"}, {Role: "user", Content: "again"}}
	full := model.Request{
		Messages: msgs, N: 3, Temperature: ptr(0.7), TopP: ptr(0.5), MaxTokens: 256, Stop: []string{"16.", "\n\n"},
		Seed: ptr(int64(9)), PresencePenalty: ptr(2.0), ReasoningEffort: "low",
		JSONSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"},"a":{"type":"string"}},"required":["q"],"additionalProperties":false}`), SchemaName: "a task!",
	}
	loose := full
	loose.JSONSchema = json.RawMessage(`{"type":"object"}`)
	loose.N = 1
	for _, tt := range []struct {
		name     string
		provider string
		drop     []string
		req      model.Request
	}{
		{"minimal", "vllm", nil, model.Request{Messages: msgs[2:3]}},
		{"openai full", "openai", nil, full},
		{"vllm full", "vllm", nil, full},
		{"not strict, n 1", "vllm", nil, loose},
		{"drops", "openai", []string{"temperature", "top_p", "seed", "presence_penalty", "stop", "max_tokens", "reasoning_effort"}, full},
	} {
		t.Run(tt.name, func(t *testing.T) {
			b := &Backend{pc: model.ProviderConfig{Provider: tt.provider, Model: "m", DropParams: tt.drop}}
			if !b.directable(tt.req) {
				t.Fatal("not directable")
			}
			p, err := b.params(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			w, err := b.wireRequest(tt.req)
			if err != nil {
				t.Fatal(err)
			}
			if got, want := jsonValue(t, w), jsonValue(t, p); !reflect.DeepEqual(got, want) {
				t.Errorf("direct body\n got %v\nwant %v", got, want)
			}
		})
	}
}

func jsonValue(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDirectable(t *testing.T) {
	user := []model.Message{{Role: "user", Content: "x"}}
	for _, tt := range []struct {
		name   string
		stream bool
		req    model.Request
		want   bool
	}{
		{"plain", false, model.Request{Messages: user}, true},
		{"streamed", true, model.Request{Messages: user}, false},
		{"tools", false, model.Request{Messages: user, Tools: []model.Tool{{Name: "f"}}}, false},
		{"tool choice", false, model.Request{Messages: user, ToolChoice: "auto"}, false},
		{"tool turn", false, model.Request{Messages: append(user, model.Message{Role: "tool", ToolCallID: "1"})}, false},
		{"assistant calls", false, model.Request{Messages: append(user, model.Message{Role: "assistant", ToolCalls: []model.ToolCall{{ID: "1", Name: "f"}}})}, false},
		{"unknown role", false, model.Request{Messages: []model.Message{{Role: "function"}}}, false},
	} {
		b := &Backend{pc: model.ProviderConfig{Stream: tt.stream}}
		if got := b.directable(tt.req); got != tt.want {
			t.Errorf("%s: directable = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// replyBodies are chat completion bodies in the shapes servers send.
var replyBodies = []string{
	`{"id":"x","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}`,
	`{"model":"m","choices":[{"index":1,"message":{"content":"b"},"finish_reason":"length"},{"index":0,"message":{"content":"a","reasoning_content":"think"},"finish_reason":"stop"}],"usage":{"prompt_tokens":30,"completion_tokens":9,"prompt_tokens_details":{"cached_tokens":20},"completion_tokens_details":{"reasoning_tokens":4}}}`,
	`{"model":"m","choices":[{"index":0,"message":{"content":null,"refusal":"no"},"finish_reason":"stop"}]}`,
	`{"model":"m","choices":[{"index":0,"message":{"content":"","reasoning":"r","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{\"a\":1}"}},{"id":"c2","type":"custom","custom":{"name":"g","input":"x"}}]},"finish_reason":"tool_calls"}]}`,
	`{"model":"m","choices":[{"index":0,"message":{"content":"x","reasoning_content":"","reasoning":"second"},"finish_reason":"eos","logprobs":null}]}`,
	`{"model":"m","choices":[]}`,
	`{"choices":[{"message":{"content":"no index, no finish"}}],"usage":null}`,
}

// TestDecodeReplyMatchesSDK: the direct path reads every body as the SDK
// path reads it.
func TestDecodeReplyMatchesSDK(t *testing.T) {
	for _, body := range replyBodies {
		var c sdk.ChatCompletion
		if err := json.Unmarshal([]byte(body), &c); err != nil {
			t.Fatalf("sdk: %v", err)
		}
		want := convert(&c, nil)
		got, err := decodeReply([]byte(body))
		if err != nil {
			t.Fatalf("%s: %v", body, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s\n got %+v\nwant %+v", body, got, want)
		}
	}
	for _, bad := range []string{``, `{"choices": [ {"message": <html>`, `[1]`, `{"choices":{"a":1}}`} {
		if _, err := decodeReply([]byte(bad)); err == nil || !errorsIsMalformed(err) {
			t.Errorf("%q: error %v, want ErrMalformedResponse", bad, err)
		}
	}
}

// FuzzDecodeReply: any body is decoded or refused as malformed, never a
// panic, and a decoded reply has one choice per choice sent. The decoder
// reads any body as encoding/json reads it.
func FuzzDecodeReply(f *testing.F) {
	for _, b := range replyBodies {
		f.Add([]byte(b))
	}
	f.Add([]byte(`{"Model":"m","CHOICES":[{"message":{"content":"a\ud800"},"finish_reason":"stop"}],"model":"n"}`))
	f.Add([]byte(`{"choices":[{"index":1.5}],"usage":{"prompt_tokens":"3"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var got, want reply
		gerr, werr := unmarshalV1(data, &got), json.Unmarshal(data, &want)
		if (gerr == nil) != (werr == nil) || gerr == nil && !reflect.DeepEqual(got, want) {
			t.Fatalf("decoded %+v, %v; encoding/json: %+v, %v", got, gerr, want, werr)
		}
		r, err := decodeReply(data)
		if err != nil {
			if !errorsIsMalformed(err) {
				t.Fatalf("error %v is not ErrMalformedResponse", err)
			}
			return
		}
		var doc struct {
			Choices []json.RawMessage `json:"choices"`
		}
		if json.Unmarshal(data, &doc) == nil && len(doc.Choices) != len(r.Choices) {
			t.Fatalf("%d choices sent, %d decoded", len(doc.Choices), len(r.Choices))
		}
	})
}

func errorsIsMalformed(err error) bool { return errors.Is(err, model.ErrMalformedResponse) }

// BenchmarkGenerateInstant compares the two request paths against a
// local server that answers at once: the CPU per request that the direct
// path saves.
func BenchmarkGenerateInstant(b *testing.B) {
	srv := modeltest.NewServer(modeltest.Texts("A short answer."))
	defer srv.Close()
	req := model.Request{Messages: []model.Message{{Role: "user", Content: "Task 1: explain tides at level 3 of 5."}}, MaxTokens: 64}
	for _, path := range []string{"sdk", "direct"} {
		b.Run(path, func(b *testing.B) {
			be, err := New(context.Background(), model.ProviderConfig{Provider: "vllm", Model: "m", BaseURL: srv.URL})
			if err != nil {
				b.Fatal(err)
			}
			bk := be.(*Backend)
			b.ReportAllocs()
			for b.Loop() {
				var err error
				if path == "direct" {
					_, err = bk.generateDirect(context.Background(), req)
				} else {
					_, err = bk.generateSDK(context.Background(), req)
				}
				if err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
