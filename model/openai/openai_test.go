package openai_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/openai"
)

func raw(t *testing.T, provider, baseURL string, drop ...string) model.Backend {
	t.Helper()
	b, err := openai.New(context.Background(), model.ProviderConfig{
		Name: "t", Provider: provider, Model: "test-model", BaseURL: baseURL, APIKey: "k-123456", DropParams: drop,
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func ptr[T any](v T) *T { return &v }

func TestRequestMapping(t *testing.T) {
	// The SDK must not pick up the ambient OPENAI_* environment.
	t.Setenv("OPENAI_BASE_URL", "http://127.0.0.1:1/v1")
	t.Setenv("OPENAI_API_KEY", "env-key-must-not-be-used")
	srv := modeltest.NewServer(modeltest.Echo)
	defer srv.Close()
	schema := json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"},"a":{"type":"string"}},"required":["q"],"additionalProperties":false}`)
	full := model.Request{
		Messages: []model.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"},
			{Role: "assistant", Content: "hello"}, {Role: "user", Content: "again"}},
		N: 3, Temperature: ptr(0.7), TopP: ptr(0.5), MaxTokens: 256, Stop: []string{"16.", "\n\n"},
		Seed: ptr(int64(9)), PresencePenalty: ptr(2.0), JSONSchema: schema, SchemaName: "task",
	}
	tests := []struct {
		name     string
		provider string
		drop     []string
		check    func(t *testing.T, r *modeltest.Request, body map[string]any)
	}{
		{"openai", "openai", nil, func(t *testing.T, r *modeltest.Request, body map[string]any) {
			if r.N != 3 || *r.Temperature != 0.7 || *r.TopP != 0.5 || *r.PresencePenalty != 2 || *r.Seed != 9 {
				t.Errorf("decoding params %+v", r)
			}
			if body["max_completion_tokens"] != 256.0 || body["max_tokens"] != nil {
				t.Errorf("openai must get max_completion_tokens: %v / %v", body["max_completion_tokens"], body["max_tokens"])
			}
			if strings.Join(r.Stop, "|") != "16.|\n\n" {
				t.Errorf("stop %q", r.Stop)
			}
			rf := body["response_format"].(map[string]any)
			js := rf["json_schema"].(map[string]any)
			if rf["type"] != "json_schema" || js["name"] != "task" || js["strict"] != true || string(r.JSONSchema) != string(schema) { // as written: property order kept
				t.Errorf("response_format %v", rf)
			}
			if len(r.Messages) != 4 || r.Messages[0].Role != "system" || r.Messages[2].Role != "assistant" {
				t.Errorf("messages %+v", r.Messages)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer k-123456" {
				t.Errorf("Authorization %q", got)
			}
		}},
		{"vllm", "vllm", nil, func(t *testing.T, r *modeltest.Request, body map[string]any) {
			if body["max_tokens"] != 256.0 || body["max_completion_tokens"] != nil {
				t.Errorf("an OpenAI-compatible server must get max_tokens: %v", body)
			}
		}},
		{"drop", "vllm", []string{"temperature", "top_p", "seed", "presence_penalty", "stop", "max_tokens"},
			func(t *testing.T, r *modeltest.Request, body map[string]any) {
				for _, k := range []string{"temperature", "top_p", "seed", "presence_penalty", "stop", "max_tokens", "max_completion_tokens"} {
					if _, ok := body[k]; ok {
						t.Errorf("%s sent although dropped", k)
					}
				}
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := srv.Requests()
			resp, err := raw(t, tt.provider, srv.URL, tt.drop...).Generate(context.Background(), full)
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Choices) != 3 || resp.Choices[2].Text != "echo: again #2" || resp.Model != "test-model" || resp.Usage.PromptTokens == 0 {
				t.Fatalf("response %+v", resp)
			}
			log := srv.Log()
			if len(log) != before+1 {
				t.Fatalf("%d requests", len(log)-before)
			}
			r := log[len(log)-1]
			var body map[string]any
			json.Unmarshal(r.Body, &body)
			tt.check(t, r, body)
		})
	}
}

func TestFinishReasons(t *testing.T) {
	srv := modeltest.NewServer(func(r *modeltest.Request) modeltest.Reply {
		return modeltest.Reply{Choices: []modeltest.Choice{
			{Text: "a", FinishReason: "stop"}, {Text: "b", FinishReason: "length"},
			{Text: "c", FinishReason: "content_filter"}, {Text: "d", FinishReason: "tool_calls"}, {Text: "e", FinishReason: "abort"},
		}}
	})
	defer srv.Close()
	resp, err := raw(t, "vllm", srv.URL).Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "x"}}, N: 5})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{model.FinishStop, model.FinishLength, model.FinishFilter, model.FinishTools, model.FinishOther}
	for i, w := range want {
		if resp.Choices[i].FinishReason != w {
			t.Errorf("choice %d: finish %q, want %q", i, resp.Choices[i].FinishReason, w)
		}
	}
}

func TestErrorMapping(t *testing.T) {
	tests := []struct {
		name  string
		fault modeltest.Fault
		check func(t *testing.T, err error)
	}{
		{"429", modeltest.RateLimited("3"), func(t *testing.T, err error) {
			var he *model.HTTPError
			if !errors.As(err, &he) || he.Status != 429 || he.RetryAfter != "3" || he.Code != "rate_limit_exceeded" {
				t.Errorf("err %#v", err)
			}
		}},
		{"truncated", modeltest.Fault{Kind: modeltest.Truncated}, func(t *testing.T, err error) {
			if !errors.Is(err, model.ErrMalformedResponse) {
				t.Errorf("err %v, want ErrMalformedResponse", err)
			}
		}},
		{"malformed", modeltest.Fault{Kind: modeltest.Malformed}, func(t *testing.T, err error) {
			if !errors.Is(err, model.ErrMalformedResponse) {
				t.Errorf("err %v, want ErrMalformedResponse", err)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.Always(tt.fault)))
			defer srv.Close()
			_, err := raw(t, "vllm", srv.URL).Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "x"}}})
			tt.check(t, err)
			if srv.Requests() != 1 {
				t.Errorf("the SDK retried by itself: %d requests", srv.Requests())
			}
		})
	}

	// A proxy's HTML error page still gives a status and a readable message.
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(502)
		w.Write([]byte("<html><body><h1>502 Bad Gateway</h1></body></html>"))
	}))
	defer hs.Close()
	_, err := raw(t, "vllm", hs.URL+"/v1").Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "x"}}})
	var he *model.HTTPError
	if !errors.As(err, &he) || he.Status != 502 || !strings.Contains(he.Message, "Bad Gateway") {
		t.Errorf("HTML 502: %#v", err)
	}
}

func TestUnknownRole(t *testing.T) {
	_, err := raw(t, "vllm", "http://127.0.0.1:1/v1").Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "function", Content: "x"}}})
	if err == nil || !strings.Contains(err.Error(), `unknown message role "function"`) {
		t.Fatalf("err %v", err)
	}
}
