package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
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
	_ "github.com/synthloop/synthloop/model/local"
	_ "github.com/synthloop/synthloop/model/openai"
	"github.com/synthloop/synthloop/serve"
)

// tinyDir saves an untrained tiny model: enough to test the API, not quality.
func tinyDir(t *testing.T) string {
	t.Helper()
	tok, err := tokenizer.NewChar("abcdefghijklmnopqrstuvwxyz 0123456789+=?.", tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 64, MaxSeq: 96, NormEps: 1e-5}, 3)
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "tiny")
	if err := checkpoint.SaveModel(dir, m); err != nil {
		t.Fatal(err)
	}
	if err := checkpoint.SaveTokenizer(dir, tok); err != nil {
		t.Fatal(err)
	}
	return dir
}

func newServer(t *testing.T, key string) (*httptest.Server, string) {
	dir := tinyDir(t)
	m, err := chat.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	h, err := serve.New([]serve.Completer{m}, serve.Options{APIKey: key})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv, dir
}

func post(t *testing.T, url, key, body string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("POST", url+"/v1/chat/completions", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if key != "" {
		req.Header.Set("Authorization", "Bearer "+key)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var buf bytes.Buffer
	buf.ReadFrom(res.Body)
	return res, buf.Bytes()
}

type completion struct {
	Object  string `json:"object"`
	Model   string `json:"model"`
	Choices []struct {
		Index   int `json:"index"`
		Message struct {
			Role    string `json:"role"`
			Content string `json:"content"`
		} `json:"message"`
		FinishReason string `json:"finish_reason"`
	} `json:"choices"`
	Usage struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		TotalTokens      int `json:"total_tokens"`
	} `json:"usage"`
}

func TestChatCompletions(t *testing.T) {
	srv, _ := newServer(t, "")
	res, body := post(t, srv.URL, "", `{"model":"tiny","messages":[{"role":"user","content":"what is 1+1?"}],"n":2,"temperature":0.8,"max_tokens":6,"seed":7}`)
	if res.StatusCode != 200 {
		t.Fatalf("status %d: %s", res.StatusCode, body)
	}
	var c completion
	if err := json.Unmarshal(body, &c); err != nil {
		t.Fatal(err)
	}
	if c.Object != "chat.completion" || c.Model != "tiny" || len(c.Choices) != 2 {
		t.Fatalf("response %s", body)
	}
	if c.Usage.TotalTokens != c.Usage.PromptTokens+c.Usage.CompletionTokens || c.Usage.PromptTokens == 0 {
		t.Errorf("usage %+v", c.Usage)
	}
	for _, ch := range c.Choices {
		if ch.Message.Role != "assistant" || (ch.FinishReason != "stop" && ch.FinishReason != "length") {
			t.Errorf("choice %+v", ch)
		}
	}
	// The same request with the same seed streams the same text.
	res, body = post(t, srv.URL, "", `{"model":"tiny","messages":[{"role":"user","content":"what is 1+1?"}],"n":2,"temperature":0.8,"max_tokens":6,"seed":7,"stream":true,"stream_options":{"include_usage":true}}`)
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("stream status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	texts := map[int]string{}
	finishes := map[int]string{}
	sawDone, sawUsage := false, false
	sc := bufio.NewScanner(bytes.NewReader(body))
	for sc.Scan() {
		line, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok {
			continue
		}
		if line == "[DONE]" {
			sawDone = true
			continue
		}
		var ch struct {
			Choices []struct {
				Index int `json:"index"`
				Delta struct {
					Content string `json:"content"`
				} `json:"delta"`
				FinishReason *string `json:"finish_reason"`
			} `json:"choices"`
			Usage *struct {
				TotalTokens int `json:"total_tokens"`
			} `json:"usage"`
		}
		if err := json.Unmarshal([]byte(line), &ch); err != nil {
			t.Fatalf("chunk %q: %v", line, err)
		}
		if ch.Usage != nil && ch.Usage.TotalTokens == c.Usage.TotalTokens {
			sawUsage = true
		}
		for _, x := range ch.Choices {
			texts[x.Index] += x.Delta.Content
			if x.FinishReason != nil {
				finishes[x.Index] = *x.FinishReason
			}
		}
	}
	if !sawDone || !sawUsage {
		t.Errorf("stream lacks [DONE] (%v) or usage (%v)", sawDone, sawUsage)
	}
	for i, ch := range c.Choices {
		if texts[i] != ch.Message.Content || finishes[i] != ch.FinishReason {
			t.Errorf("choice %d: streamed %q/%q, non-streamed %q/%q", i, texts[i], finishes[i], ch.Message.Content, ch.FinishReason)
		}
	}
}

func TestErrorsAreOpenAIShaped(t *testing.T) {
	srv, _ := newServer(t, "k3y")
	tests := []struct {
		name, key, body string
		status          int
		code            string
	}{
		{"no key", "", `{"model":"tiny","messages":[{"role":"user","content":"hi"}]}`, 401, "invalid_api_key"},
		{"wrong key", "nope", `{"model":"tiny","messages":[{"role":"user","content":"hi"}]}`, 401, "invalid_api_key"},
		{"unknown model", "k3y", `{"model":"gpt-9","messages":[{"role":"user","content":"hi"}]}`, 404, "model_not_found"},
		{"bad json", "k3y", `{"model":`, 400, "invalid_json"},
		{"no messages", "k3y", `{"model":"tiny","messages":[]}`, 400, "invalid_value"},
		{"bad temperature", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"temperature":3}`, 400, "invalid_value"},
		{"presence penalty", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"presence_penalty":2}`, 400, "invalid_value"},
		{"text outside vocabulary", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"ÄÖÜ"}]}`, 400, "invalid_value"},
		{"bad role", "k3y", `{"model":"tiny","messages":[{"role":"tool","content":"hi"}]}`, 400, "invalid_value"},
		{"image part", "k3y", `{"model":"tiny","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}`, 400, "invalid_value"},
		{"bad content", "k3y", `{"model":"tiny","messages":[{"role":"user","content":5}]}`, 400, "invalid_json"},
		{"bad stop", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"stop":5}`, 400, "invalid_json"},
		{"no model", "k3y", `{"messages":[{"role":"user","content":"hi"}]}`, 400, "missing"},
		{"zero max_tokens", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":0}`, 400, "invalid_value"},
		{"negative max_tokens", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":-5}`, 400, "invalid_value"},
		{"negative max_completion_tokens", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_completion_tokens":-9223372036854775808}`, 400, "invalid_value"},
		{"max_tokens past int64", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"max_tokens":9223372036854775808}`, 400, "invalid_json"},
		{"top_logprobs without logprobs", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"top_logprobs":2}`, 400, "invalid_value"},
		{"top_logprobs over 20", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":21}`, 400, "invalid_value"},
		{"negative top_logprobs", "k3y", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"logprobs":true,"top_logprobs":-1}`, 400, "invalid_value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, body := post(t, srv.URL, tt.key, tt.body)
			var e struct {
				Error struct {
					Message string `json:"message"`
					Type    string `json:"type"`
					Code    string `json:"code"`
				} `json:"error"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("body %q is not JSON: %v", body, err)
			}
			if res.StatusCode != tt.status || e.Error.Code != tt.code || e.Error.Message == "" || e.Error.Type == "" {
				t.Errorf("status %d error %+v, want %d %s", res.StatusCode, e.Error, tt.status, tt.code)
			}
		})
	}
}

func TestModelsEndpoint(t *testing.T) {
	srv, _ := newServer(t, "")
	res, err := http.Get(srv.URL + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	json.NewDecoder(res.Body).Decode(&out)
	if len(out.Data) != 1 || out.Data[0].ID != "tiny" {
		t.Errorf("models = %+v", out)
	}
}

func TestRefusesOpenAddressWithoutKey(t *testing.T) {
	err := serve.ListenAndServe(context.Background(), "0.0.0.0:0", http.NotFoundHandler(), "")
	if err == nil || !strings.Contains(err.Error(), "API key") {
		t.Errorf("ListenAndServe on 0.0.0.0 without a key = %v, want a refusal", err)
	}
}

// TestLocalAndServedAgree checks that a model reached in-process (local/PATH)
// and through the server with the OpenAI SDK gives the same answers.
func TestLocalAndServedAgree(t *testing.T) {
	srv, dir := newServer(t, "")
	ctx := context.Background()
	inproc, _, err := model.Open(ctx, "a", model.Config{Ref: "local/" + dir}, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	remote, _, err := model.Open(ctx, "b", model.Config{Ref: "openai-compatible/tiny", BaseURL: srv.URL + "/v1"}, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	temp, seed := 0.9, int64(11)
	req := model.Request{Messages: []model.Message{{Role: "user", Content: "2+3=?"}}, N: 3, Temperature: &temp, Seed: &seed, MaxTokens: 8}
	a, err := inproc.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	b, err := remote.Generate(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Choices) != 3 || len(b.Choices) != 3 {
		t.Fatalf("choices: local %d, served %d", len(a.Choices), len(b.Choices))
	}
	for i := range a.Choices {
		if !reflect.DeepEqual(a.Choices[i], b.Choices[i]) {
			t.Errorf("choice %d: local %+v, served %+v", i, a.Choices[i], b.Choices[i])
		}
	}
	if a.Usage != b.Usage {
		t.Errorf("usage: local %+v, served %+v", a.Usage, b.Usage)
	}
}
