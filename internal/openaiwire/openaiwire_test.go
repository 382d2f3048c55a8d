package openaiwire_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/openaiwire"
)

func TestChatRequestDecode(t *testing.T) {
	tests := []struct {
		name, body string
		text       string   // the first message's Content.Text()
		parts      []string // its part types
		stop       openaiwire.Stop
		err        string
	}{
		{"string content", `{"messages":[{"role":"user","content":"hi"}]}`, "hi", []string{"text"}, nil, ""},
		{"text parts", `{"messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}]}`, "ab", []string{"text", "text"}, nil, ""},
		{"image part kept by type", `{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}},{"type":"text","text":"b"}]}]}`, "b", []string{"image_url", "text"}, nil, ""},
		{"null content", `{"messages":[{"role":"assistant","content":null}]}`, "", []string{"text"}, nil, ""},
		{"bad content", `{"messages":[{"role":"user","content":5}]}`, "", nil, nil, "content must be a string or a list of text parts"},
		{"one stop", `{"messages":[{"role":"user","content":"x"}],"stop":"\n"}`, "x", []string{"text"}, openaiwire.Stop{"\n"}, ""},
		{"stop list", `{"messages":[{"role":"user","content":"x"}],"stop":["a","b"]}`, "x", []string{"text"}, openaiwire.Stop{"a", "b"}, ""},
		{"null stop", `{"messages":[{"role":"user","content":"x"}],"stop":null}`, "x", []string{"text"}, nil, ""},
		{"bad stop", `{"messages":[{"role":"user","content":"x"}],"stop":3}`, "", nil, nil, "stop must be a string or a list of strings"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var req openaiwire.ChatRequest
			err := json.Unmarshal([]byte(tt.body), &req)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var types []string
			for _, p := range req.Messages[0].Content {
				types = append(types, p.Type)
			}
			if got := req.Messages[0].Content.Text(); got != tt.text || !reflect.DeepEqual(types, tt.parts) || !reflect.DeepEqual(req.Stop, tt.stop) {
				t.Errorf("text %q parts %v stop %q; want %q %v %q", got, types, req.Stop, tt.text, tt.parts, tt.stop)
			}
		})
	}
}

// TestResponsesEncode pins the JSON the SDKs parse: null logprobs and
// param, an empty choices list rather than null, usage with its total.
func TestResponsesEncode(t *testing.T) {
	tests := []struct {
		name string
		v    any
		want string
	}{
		{"completion", openaiwire.ChatCompletion{ID: "c", Object: openaiwire.ObjectChatCompletion, Created: 1, Model: "m",
			Choices: []openaiwire.Choice{{Message: openaiwire.ReplyMessage{Role: "assistant", Content: "hi"}, FinishReason: "stop"}},
			Usage:   openaiwire.NewUsage(3, 2)},
			`{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":3,"completion_tokens":2,"total_tokens":5}}`},
		{"empty choices", openaiwire.ChatCompletion{Choices: []openaiwire.Choice{}},
			`{"id":"","object":"","created":0,"model":"","choices":[],"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}`},
		{"chunk", openaiwire.ChatCompletionChunk{ID: "c", Object: openaiwire.ObjectChatCompletionChunk, Choices: []openaiwire.ChunkChoice{{Delta: openaiwire.Delta{Content: "h"}}}},
			`{"id":"c","object":"chat.completion.chunk","created":0,"model":"","choices":[{"index":0,"delta":{"content":"h"},"finish_reason":null}]}`},
		{"error without param", openaiwire.NewError("server_error", "", "internal_error", "boom"),
			`{"error":{"message":"boom","type":"server_error","param":null,"code":"internal_error"}}`},
		{"error with param", openaiwire.NewError("invalid_request_error", "n", "invalid_value", "bad n"),
			`{"error":{"message":"bad n","type":"invalid_request_error","param":"n","code":"invalid_value"}}`},
		{"models", openaiwire.ModelList{Object: openaiwire.ObjectList, Data: []openaiwire.Model{{ID: "a", Object: openaiwire.ObjectModel, Created: 2, OwnedBy: "o"}}},
			`{"object":"list","data":[{"id":"a","object":"model","created":2,"owned_by":"o"}]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := json.Marshal(tt.v)
			if err != nil {
				t.Fatal(err)
			}
			if string(b) != tt.want {
				t.Errorf("got  %s\nwant %s", b, tt.want)
			}
		})
	}
}
