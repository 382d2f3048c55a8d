package anthropic_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/anthropic"
	"github.com/synthloop/synthloop/model/modeltest"
)

func open(t *testing.T, srv *modeltest.Server, cfg model.Config) model.Backend {
	t.Helper()
	if cfg.Ref == "" {
		cfg.Ref = "anthropic/claude-sonnet-4-5"
	}
	cfg.BaseURL = srv.URL + "/v1" // tolerated: the SDK adds /v1 itself
	b, _, err := model.Open(context.Background(), "claude", cfg, model.Options{
		Getenv: func(k string) string { return map[string]string{"ANTHROPIC_API_KEY": "ak-test-1234"}[k] },
		Sleep:  func(ctx context.Context, d time.Duration) error { return ctx.Err() },
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestRequestMapping(t *testing.T) {
	t.Setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:1")
	srv := modeltest.NewAnthropicServer(modeltest.Echo)
	defer srv.Close()
	temp := 0.7
	resp, err := open(t, srv, model.Config{}).Generate(context.Background(), model.Request{
		Messages: []model.Message{{Role: "system", Content: "be brief"}, {Role: "user", Content: "hi"},
			{Role: "assistant", Content: "hello"}, {Role: "user", Content: "again"}},
		N: 3, Temperature: &temp, Stop: []string{"###"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Choices) != 3 || resp.Choices[0].Text != "echo: again" || resp.Choices[0].FinishReason != model.FinishStop {
		t.Fatalf("response %+v", resp)
	}
	if resp.CostUSD <= 0 || resp.Model != "claude-sonnet-4-5" {
		t.Fatalf("cost %v model %q: want the table price of claude-sonnet-4-5", resp.CostUSD, resp.Model)
	}
	log := srv.Log()
	if len(log) != 3 {
		t.Fatalf("%d requests for n=3, want 3 (the API has no n)", len(log))
	}
	r := log[0]
	var body map[string]any
	json.Unmarshal(r.Body, &body)
	if r.Messages[0].Role != "system" || r.Messages[0].Content != "be brief" || len(r.Messages) != 4 {
		t.Errorf("messages %+v: the system prompt must go to the system field", r.Messages)
	}
	if body["max_tokens"] != float64(anthropic.DefaultMaxTokens) || body["temperature"] != 0.7 || strings.Join(r.Stop, "") != "###" {
		t.Errorf("body %v", body)
	}
	if r.Header.Get("Authorization")+r.Header.Get("X-Api-Key") == "" || !strings.Contains(r.Header.Get("Authorization")+r.Header.Get("X-Api-Key"), "ak-test-1234") {
		t.Errorf("no key sent: %v", r.Header)
	}
}

func TestStructuredOutput(t *testing.T) {
	srv := modeltest.NewAnthropicServer(modeltest.Texts(`{"q": "why?", "a": "because"}`))
	defer srv.Close()
	resp, err := open(t, srv, model.Config{}).Generate(context.Background(), model.Request{
		Messages:   []model.Message{{Role: "user", Content: "make a QA pair"}},
		JSONSchema: json.RawMessage(`{"type":"object","properties":{"q":{"type":"string"},"a":{"type":"string"}},"required":["q","a"]}`),
		SchemaName: "qa pair",
	})
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(resp.Choices[0].Text), &got); err != nil || got["a"] != "because" {
		t.Fatalf("text %q: want the tool input as JSON", resp.Choices[0].Text)
	}
	if resp.Choices[0].FinishReason != model.FinishStop {
		t.Errorf("finish %q", resp.Choices[0].FinishReason)
	}
	var body struct {
		Tools []struct {
			Name        string         `json:"name"`
			InputSchema map[string]any `json:"input_schema"`
		} `json:"tools"`
		ToolChoice map[string]any `json:"tool_choice"`
	}
	json.Unmarshal(srv.Log()[0].Body, &body)
	if len(body.Tools) != 1 || body.Tools[0].Name != "respond_qapair" || body.ToolChoice["name"] != "respond_qapair" ||
		body.Tools[0].InputSchema["required"] == nil {
		t.Fatalf("tools %+v choice %v", body.Tools, body.ToolChoice)
	}
}

func TestStopReasons(t *testing.T) {
	for fr, want := range map[string]string{
		model.FinishLength: model.FinishLength, "stop_sequence": model.FinishStop, "refusal": model.FinishFilter, "pause_turn": model.FinishOther,
	} {
		srv := modeltest.NewAnthropicServer(func(*modeltest.Request) modeltest.Reply {
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: "x", FinishReason: fr}}}
		})
		resp, err := open(t, srv, model.Config{}).Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "x"}}})
		srv.Close()
		if err != nil || resp.Choices[0].FinishReason != want {
			t.Errorf("stop reason for %q: %+v, %v; want %q", fr, resp, err, want)
		}
	}
}

func TestOverloadRetriedAndDrop(t *testing.T) {
	srv := modeltest.NewAnthropicServer(modeltest.Echo, modeltest.WithFaults(modeltest.FirstAttempts(2, modeltest.HTTPStatus(529))))
	defer srv.Close()
	b := open(t, srv, model.Config{DropParams: []string{"temperature"}})
	temp := 1.0
	if _, err := b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "x"}}, Temperature: &temp}); err != nil {
		t.Fatal(err)
	}
	if srv.Requests() != 3 || b.(model.StatsSource).Stats().Overloaded != 2 {
		t.Fatalf("%d requests, stats %+v", srv.Requests(), b.(model.StatsSource).Stats())
	}
	if strings.Contains(string(srv.Log()[2].Body), "temperature") {
		t.Error("temperature sent although dropped")
	}
}

func TestOnlySystem(t *testing.T) {
	srv := modeltest.NewAnthropicServer(modeltest.Echo)
	defer srv.Close()
	_, err := open(t, srv, model.Config{}).Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "system", Content: "x"}}})
	if err == nil || !strings.Contains(err.Error(), "at least one user message") || srv.Requests() != 0 {
		t.Fatalf("err %v, %d requests", err, srv.Requests())
	}
}

func TestRawErrorMapping(t *testing.T) {
	for _, f := range []modeltest.Fault{{Kind: modeltest.Truncated}, {Kind: modeltest.Malformed}} {
		srv := modeltest.NewAnthropicServer(modeltest.Echo, modeltest.WithFaults(modeltest.Always(f)))
		b, err := anthropic.New(context.Background(), model.ProviderConfig{Provider: "anthropic", Model: "m", BaseURL: srv.URL, APIKey: "k", Timeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		_, err = b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "x"}}})
		srv.Close()
		if !errors.Is(err, model.ErrMalformedResponse) {
			t.Errorf("%v: err %v, want ErrMalformedResponse", f.Kind, err)
		}
	}
	srv := modeltest.NewAnthropicServer(modeltest.Echo, modeltest.WithFaults(modeltest.Always(modeltest.RateLimited("4"))))
	defer srv.Close()
	b, _ := anthropic.New(context.Background(), model.ProviderConfig{Provider: "anthropic", Model: "m", BaseURL: srv.URL, APIKey: "k", Timeout: time.Second})
	_, err := b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "x"}}})
	var he *model.HTTPError
	if !errors.As(err, &he) || he.Status != 429 || he.RetryAfter != "4" || he.Code != "rate_limit_error" || srv.Requests() != 1 {
		t.Fatalf("429: %#v after %d requests", err, srv.Requests())
	}
}
