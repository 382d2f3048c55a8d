package chat

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

// tinyModel is an untrained model over a small alphabet: enough to test the
// plumbing (template, sampling, decoding, limits), not the quality.
func tinyModel(t testing.TB) *Model {
	t.Helper()
	tok, err := tokenizer.NewChar("abcdefghijklmnopqrstuvwxyz 0123456789+=?.", tokenizer.DefaultSpecials)
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 64, MaxSeq: 64, NormEps: 1e-5}, 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New("tiny", m, tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCompleteIsDeterministicPerSeed(t *testing.T) {
	c := tinyModel(t)
	msgs := []tokenizer.Message{{Role: "user", Content: "what is 2+2?"}}
	p := Params{N: 3, Temperature: 1, MaxTokens: 8, Seed: 42}
	a, err := c.Complete(context.Background(), msgs, p)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Choices) != 3 || a.PromptTokens == 0 {
		t.Fatalf("got %d choices, %d prompt tokens", len(a.Choices), a.PromptTokens)
	}
	total := 0
	for _, ch := range a.Choices {
		if ch.Tokens > 8 || (ch.Finish != "stop" && ch.Finish != "length") {
			t.Errorf("choice %+v breaks max_tokens 8 or has an odd finish reason", ch)
		}
		total += ch.Tokens
	}
	if total != a.CompletionTokens {
		t.Errorf("CompletionTokens %d, choices hold %d", a.CompletionTokens, total)
	}
	b, _ := c.Complete(context.Background(), msgs, p)
	if !reflect.DeepEqual(a, b) {
		t.Errorf("same seed, different replies:\n%+v\n%+v", a, b)
	}
}

func TestCompleteRejectsBadRequests(t *testing.T) {
	c := tinyModel(t)
	long := make([]byte, 100)
	for i := range long {
		long[i] = 'a'
	}
	for _, msgs := range [][]tokenizer.Message{
		nil,
		{{Role: "wizard", Content: "hi"}},
		{{Role: "user", Content: "ÜNKNOWN"}},
		{{Role: "user", Content: string(long)}},
	} {
		if _, err := c.Complete(context.Background(), msgs, Params{MaxTokens: 4}); !errors.Is(err, ErrBadRequest) {
			t.Errorf("Complete(%q) = %v, want ErrBadRequest", msgs, err)
		}
	}
}

func TestSettled(t *testing.T) {
	tests := []struct {
		text  string
		stops []string
		want  string
	}{
		{"hello wor", []string{"world"}, "hello "},
		{"hello", nil, "hello"},
		{"abc\xe3\x81", nil, "abc"}, // half of あ
		{"abc\ufffd", nil, "abc"},
		{"a stop", []string{"stop", "top!"}, "a "},
		{"xyz", []string{"q"}, "xyz"},
	}
	for _, tt := range tests {
		if got := settled(tt.text, tt.stops); got != tt.want {
			t.Errorf("settled(%q, %q) = %q, want %q", tt.text, tt.stops, got, tt.want)
		}
	}
}

// TestOnTextAddsUpToTheReply streams replies with stop strings and checks
// that the pieces of each reply add up to exactly its final text.
func TestOnTextAddsUpToTheReply(t *testing.T) {
	c := tinyModel(t)
	for seed := range uint64(5) {
		got := map[int]string{}
		p := Params{N: 3, Temperature: 1, MaxTokens: 24, Seed: seed, Stop: []string{"e", "ab"},
			OnText: func(i int, d string) { got[i] += d }}
		r, err := c.Complete(context.Background(), []tokenizer.Message{{Role: "user", Content: "say something"}}, p)
		if err != nil {
			t.Fatal(err)
		}
		for i, ch := range r.Choices {
			if got[i] != ch.Text {
				t.Errorf("seed %d choice %d: streamed %q, reply %q", seed, i, got[i], ch.Text)
			}
		}
	}
}
