package serve_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/serve"
)

// thinker is a Completer whose replies reason in <think> tags, streamed in
// small pieces that cut through the tags.
type thinker struct{ text string }

func (thinker) Name() string { return "thinker" }

func (th thinker) Complete(_ context.Context, _ []tokenizer.Message, p chat.Params) (*chat.Reply, error) {
	r := &chat.Reply{PromptTokens: 3, CompletionTokens: 9}
	for i := range p.N {
		if p.OnText != nil {
			for j := 0; j < len(th.text); j += 3 {
				p.OnText(i, th.text[j:min(j+3, len(th.text))])
			}
		}
		r.Choices = append(r.Choices, chat.Choice{Text: th.text, Finish: "stop"})
	}
	return r, nil
}

// TestServeSendsReasoning: serve takes the <think> block off a model's
// answer and sends it in reasoning_content, whole or streamed, and a
// synthloop client reads it back as the choice's reasoning even with its
// own think-tag split turned off.
func TestServeSendsReasoning(t *testing.T) {
	h, err := serve.New([]serve.Completer{thinker{"<think>\nplan: add them\n</think>\n\nThe sum is 4."}}, serve.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	_, body := post(t, srv.URL, "", `{"model":"thinker","messages":[{"role":"user","content":"2+2?"}]}`)
	if !strings.Contains(string(body), `"content":"The sum is 4.","reasoning_content":"plan: add them"`) {
		t.Errorf("body %s", body)
	}
	off := false
	for _, stream := range []bool{false, true} {
		b, _, err := model.Open(context.Background(), "t", model.Config{
			Ref: "openai-compatible/thinker", BaseURL: srv.URL + "/v1", Stream: stream, ThinkTags: &off,
		}, model.Options{Getenv: func(string) string { return "" }})
		if err != nil {
			t.Fatal(err)
		}
		res, err := b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "2+2?"}}, N: 2})
		if err != nil {
			t.Fatal(err)
		}
		for i, ch := range res.Choices {
			if ch.Reasoning != "plan: add them" || ch.Text != "The sum is 4." {
				t.Errorf("stream %v choice %d: reasoning %q text %q", stream, i, ch.Reasoning, ch.Text)
			}
		}
	}
}

// TestToolsRefusedByEngine: the built-in engine, served or in-process,
// refuses tools with a 400 that says so.
func TestToolsRefusedByEngine(t *testing.T) {
	srv, dir := newServer(t, "")
	res, body := post(t, srv.URL, "", `{"model":"tiny","messages":[{"role":"user","content":"hi"}],"tools":[{"type":"function","function":{"name":"f"}}]}`)
	if res.StatusCode != 400 || !strings.Contains(string(body), "tools are not supported by the built-in engine") {
		t.Errorf("serve: %d %s", res.StatusCode, body)
	}
	b, _, err := model.Open(context.Background(), "t", model.Config{Ref: "local/" + dir}, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: "hi"}}, Tools: []model.Tool{{Name: "f"}}})
	var he *model.HTTPError
	if !errors.As(err, &he) || he.Status != 400 || !strings.Contains(he.Message, "tools are not supported by the built-in engine") {
		t.Errorf("local: %v", err)
	}
}
