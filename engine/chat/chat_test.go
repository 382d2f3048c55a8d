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

// TestTokenTexts: with LogProbs the token texts add up to the reply, and
// TopLogProbs gives that many alternatives per token; without, neither.
func TestTokenTexts(t *testing.T) {
	c := tinyModel(t)
	msgs := []tokenizer.Message{{Role: "user", Content: "what is 2+2?"}}
	tests := []struct {
		name    string
		p       Params
		wantTop int
	}{
		{"off", Params{N: 2, Temperature: 1, MaxTokens: 8, Seed: 4}, 0},
		{"logprobs", Params{N: 2, Temperature: 1, MaxTokens: 8, Seed: 4, LogProbs: true}, 0},
		{"top 2", Params{N: 2, Temperature: 1, MaxTokens: 8, Seed: 4, LogProbs: true, TopLogProbs: 2}, 2},
		{"top without logprobs", Params{N: 2, Temperature: 1, MaxTokens: 8, Seed: 4, TopLogProbs: 2}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := c.Complete(context.Background(), msgs, tt.p)
			if err != nil {
				t.Fatal(err)
			}
			for _, ch := range r.Choices {
				if !tt.p.LogProbs {
					if ch.TokenTexts != nil || ch.Top != nil {
						t.Errorf("token texts without LogProbs: %+v", ch)
					}
					continue
				}
				joined := ""
				for _, s := range ch.TokenTexts {
					joined += s
				}
				if len(ch.TokenTexts) != ch.Tokens || joined != ch.Text {
					t.Errorf("token texts %q for %d tokens of %q", ch.TokenTexts, ch.Tokens, ch.Text)
				}
				if tt.wantTop == 0 {
					if ch.Top != nil {
						t.Errorf("top alternatives not asked for: %v", ch.Top)
					}
					continue
				}
				if len(ch.Top) != ch.Tokens {
					t.Fatalf("%d positions of alternatives for %d tokens", len(ch.Top), ch.Tokens)
				}
				for _, alts := range ch.Top {
					if len(alts) != tt.wantTop || alts[0].Text == "" || alts[0].LogProb > 0 {
						t.Errorf("alternatives %+v", alts)
					}
				}
			}
		})
	}
}
