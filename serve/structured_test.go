package serve_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/serve"
	"github.com/synthloop/synthloop/verify"
)

// orderSchema was never shown to any model: the constraint alone makes an
// untrained one answer with it.
const orderSchema = `{"type":"object","properties":{
  "sku":{"type":"string","minLength":2,"maxLength":6},
  "qty":{"type":"integer","minimum":1,"maximum":50},
  "lines":{"type":"array","items":{"type":"object","properties":{"kind":{"enum":["gift","rush"]},"price":{"type":"number","minimum":0}},"required":["kind"],"additionalProperties":false},"maxItems":2},
  "paid":{"type":"boolean"}},
  "required":["sku","qty","lines","paid"],"additionalProperties":false}`

// jsonServer serves an untrained model whose characters spell any ASCII JSON.
func jsonServer(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	var ascii strings.Builder
	for c := ' '; c <= '~'; c++ {
		ascii.WriteRune(c)
	}
	tok, err := tokenizer.NewChar(ascii.String(), tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 64, MaxSeq: 320, NormEps: 1e-5}, 5)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "jsontiny")
	if err := checkpoint.SaveModel(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.SaveTokenizer(dir, tok); err != nil {
		t.Fatal(err)
	}
	cm, err := chat.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := serve.New([]serve.Completer{cm}, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, dir
}

func TestResponseFormatJSONSchema(t *testing.T) {
	srv, _ := jsonServer(t)
	v, err := verify.New(&verify.Config{Kind: verify.JSONSchema, Schema: orderSchema})
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"model":"jsontiny","messages":[{"role":"user","content":"an order"}],"n":30,"temperature":1,"seed":9,
		"response_format":{"type":"json_schema","json_schema":{"name":"order","strict":true,"schema":%s}}}`, orderSchema)
	res, b := post(t, srv.URL, "", body)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	var c completion
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatal(err)
	}
	if len(c.Choices) != 30 {
		t.Fatalf("%d choices", len(c.Choices))
	}
	for i, ch := range c.Choices {
		d, err := v.Verify(context.Background(), verify.Check{Candidate: ch.Message.Content})
		if err != nil {
			t.Fatal(err)
		}
		if ch.FinishReason != "stop" || !json.Valid([]byte(ch.Message.Content)) || !d.Pass {
			t.Errorf("choice %d (%s): %s: %s", i, ch.FinishReason, ch.Message.Content, d.Reason)
		}
	}

	// Streamed, the same request and seed give the same replies.
	res, b = post(t, srv.URL, "", strings.Replace(body, `"n":30`, `"n":3,"stream":true`, 1))
	if res.StatusCode != 200 {
		t.Fatalf("stream status %d: %s", res.StatusCode, b)
	}
	streamed := map[int]string{}
	for _, line := range strings.Split(string(b), "\n") {
		data, ok := strings.CutPrefix(line, "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var chunk struct {
			Choices []struct {
				Index int `json:"index"`
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &chunk); err != nil {
			t.Fatalf("chunk %q: %v", data, err)
		}
		for _, ch := range chunk.Choices {
			streamed[ch.Index] += ch.Delta.Content
		}
	}
	for i := range 3 {
		if streamed[i] != c.Choices[i].Message.Content {
			t.Errorf("choice %d streamed %q, not streamed %q", i, streamed[i], c.Choices[i].Message.Content)
		}
	}

	// Too few tokens for the object: cut, and said so.
	res, b = post(t, srv.URL, "", strings.Replace(body, `"n":30`, `"n":2,"max_tokens":5`, 1))
	c = completion{}
	json.Unmarshal(b, &c)
	if res.StatusCode != 200 || len(c.Choices) != 2 {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	for _, ch := range c.Choices {
		if ch.FinishReason != "length" || json.Valid([]byte(ch.Message.Content)) {
			t.Errorf("max_tokens 5: finish %q, text %q; want length and unfinished JSON", ch.FinishReason, ch.Message.Content)
		}
	}
}

func TestResponseFormatJSONObject(t *testing.T) {
	srv, _ := jsonServer(t)
	res, b := post(t, srv.URL, "", `{"model":"jsontiny","messages":[{"role":"user","content":"json"}],"n":10,"temperature":1,"seed":2,"response_format":{"type":"json_object"}}`)
	var c completion
	json.Unmarshal(b, &c)
	if res.StatusCode != 200 || len(c.Choices) != 10 {
		t.Fatalf("status %d: %s", res.StatusCode, b)
	}
	for i, ch := range c.Choices {
		var obj map[string]any
		if ch.FinishReason == "stop" && json.Unmarshal([]byte(ch.Message.Content), &obj) != nil {
			t.Errorf("choice %d is not a JSON object: %s", i, ch.Message.Content)
		}
		if ch.FinishReason == "length" && !strings.HasPrefix(ch.Message.Content, "{") {
			t.Errorf("choice %d, cut, does not start an object: %s", i, ch.Message.Content)
		}
	}
}

func TestResponseFormatErrors(t *testing.T) {
	srv, _ := jsonServer(t)
	for _, tt := range []struct{ format, want string }{
		{`{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"string","pattern":"a+"}}}`, `"pattern" is not supported`},
		{`{"type":"json_schema","json_schema":{"name":"x"}}`, "needs json_schema.schema"},
		{`{"type":"yaml"}`, `"yaml" is not supported`},
	} {
		res, b := post(t, srv.URL, "", `{"model":"jsontiny","messages":[{"role":"user","content":"hi"}],"response_format":`+tt.format+`}`)
		var e apiError
		json.Unmarshal(b, &e)
		if res.StatusCode != 400 || e.Error.Param == nil || *e.Error.Param != "response_format" || !strings.Contains(e.Error.Message, tt.want) {
			t.Errorf("%s: status %d, %s; want 400 on response_format naming %s", tt.format, res.StatusCode, b, tt.want)
		}
	}
}

// TestStructuredLocalAndServedAgree asks for structured output through the
// model layer: in-process (local/PATH) and over HTTP with the OpenAI SDK,
// which sends response_format json_schema. Both give the same valid JSON.
func TestStructuredLocalAndServedAgree(t *testing.T) {
	srv, dir := jsonServer(t)
	ctx := context.Background()
	inproc, _, err := model.Open(ctx, "a", model.Config{Ref: "local/" + dir}, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	remote, _, err := model.Open(ctx, "b", model.Config{Ref: "openai-compatible/jsontiny", BaseURL: srv.URL + "/v1"}, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(&verify.Config{Kind: verify.JSONSchema, Schema: orderSchema})
	if err != nil {
		t.Fatal(err)
	}
	temp, seed := 1.0, int64(4)
	req := model.Request{Messages: []model.Message{{Role: "user", Content: "order"}}, N: 5, Temperature: &temp, Seed: &seed,
		JSONSchema: json.RawMessage(orderSchema), SchemaName: "order"}
	a, err := inproc.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := remote.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Choices) != 5 || !reflect.DeepEqual(a.Choices, b.Choices) {
		t.Fatalf("local %+v\nserved %+v", a.Choices, b.Choices)
	}
	for i, ch := range a.Choices {
		d, err := v.Verify(ctx, verify.Check{Candidate: ch.Text})
		if err != nil {
			t.Fatal(err)
		}
		if ch.FinishReason != "stop" || !d.Pass {
			t.Errorf("choice %d (%s): %s: %s", i, ch.FinishReason, ch.Text, d.Reason)
		}
	}
	// A schema outside the subset is a bad request in-process too.
	req.JSONSchema = json.RawMessage(`{"type":"string","format":"email"}`)
	var he *model.HTTPError
	if _, err := inproc.Generate(ctx, req); !errors.As(err, &he) || he.Status != 400 || !strings.Contains(he.Message, `"format"`) {
		t.Errorf("local with an unsupported schema = %v, want a 400 naming format", err)
	}
}
