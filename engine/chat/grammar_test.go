package chat

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/grammar"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/verify"
)

// ticketSchema nests an object, an array, an enum, bounded integers and
// numbers, and a nullable string: a schema no built-in model has seen.
const ticketSchema = `{
  "type": "object",
  "properties": {
    "id": {"type": "integer", "minimum": 1, "maximum": 999},
    "status": {"enum": ["open", "closed", "stale"]},
    "owner": {
      "type": "object",
      "properties": {"name": {"type": "string", "minLength": 1, "maxLength": 8}, "admin": {"type": "boolean"}},
      "required": ["name", "admin"],
      "additionalProperties": false
    },
    "scores": {"type": "array", "items": {"type": "number", "minimum": 0, "maximum": 1}, "minItems": 1, "maxItems": 3},
    "note": {"type": ["string", "null"], "maxLength": 6}
  },
  "required": ["id", "status", "owner", "scores"],
  "additionalProperties": false
}`

// jsonModel is an untrained model whose vocabulary can spell any JSON:
// printable ASCII and a few other characters (char), or bytes and merges
// (BPE). Untrained, it is the hardest case for a constraint: left alone it
// writes noise.
func jsonModel(t testing.TB, bpe bool) *Model {
	t.Helper()
	var ascii strings.Builder
	for c := ' '; c <= '~'; c++ {
		ascii.WriteRune(c)
	}
	var tok tokenizer.Tokenizer
	var err error
	if bpe {
		tok, err = tokenizer.TrainBPE([]string{`{"id":12,"status":"open","owner":{"name":"ann","admin":true}}`, `{"a": [1, 2.5, null], "b": "text"}`}, 300, tokenizer.DefaultSpecials)
	} else {
		tok, err = tokenizer.NewChar(ascii.String()+"éß→😀", tokenizer.DefaultSpecials)
	}
	if err != nil {
		t.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 32, Layers: 2, Heads: 4, KVHeads: 2, Hidden: 64, MaxSeq: 512, NormEps: 1e-5}, 7)
	if err != nil {
		t.Fatal(err)
	}
	c, err := New("json", m, tok)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGrammarRepliesAreValidJSON(t *testing.T) {
	g, err := grammar.Compile([]byte(ticketSchema))
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(&verify.Config{Kind: verify.JSONSchema, Schema: ticketSchema})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []tokenizer.Message{{Role: "user", Content: "File a ticket as JSON."}}
	for _, bpe := range []bool{false, true} {
		c := jsonModel(t, bpe)
		r, err := c.Complete(context.Background(), msgs, Params{N: 50, Temperature: 1, TopP: 1, Seed: 3, Grammar: g})
		if err != nil {
			t.Fatal(err)
		}
		for i, ch := range r.Choices {
			if ch.Finish != "stop" {
				t.Errorf("bpe=%v choice %d: finish %q, want stop: %s", bpe, i, ch.Finish, ch.Text)
				continue
			}
			d, err := v.Verify(context.Background(), verify.Check{Candidate: ch.Text})
			if err != nil {
				t.Fatal(err)
			}
			if !json.Valid([]byte(ch.Text)) || !d.Pass {
				t.Errorf("bpe=%v choice %d is not valid: %s (%s)", bpe, i, ch.Text, d.Reason)
			}
		}
		t.Logf("bpe=%v, e.g. %s", bpe, r.Choices[0].Text)

		// Unconstrained, the same model writes noise, not JSON.
		free, err := c.Complete(context.Background(), msgs, Params{N: 5, Temperature: 1, MaxTokens: 40, Seed: 3})
		if err != nil {
			t.Fatal(err)
		}
		for _, ch := range free.Choices {
			if json.Valid([]byte(ch.Text)) {
				t.Errorf("bpe=%v: the untrained model wrote JSON by itself: %s", bpe, ch.Text)
			}
		}
	}
}

func TestGrammarReplyCutByMaxTokensFinishesLength(t *testing.T) {
	g, err := grammar.Compile([]byte(ticketSchema))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonModel(t, false)
	r, err := c.Complete(context.Background(), []tokenizer.Message{{Role: "user", Content: "ticket"}}, Params{N: 4, Temperature: 1, MaxTokens: 12, Seed: 1, Grammar: g})
	if err != nil {
		t.Fatal(err)
	}
	for _, ch := range r.Choices {
		if ch.Finish != "length" || ch.Tokens != 12 || g.Accepts([]byte(ch.Text)) || !g.Live([]byte(ch.Text)) {
			t.Errorf("got %+v, want finish length after 12 tokens of an unfinished but live value", ch)
		}
	}
}

func TestGrammarIsDeterministicPerSeed(t *testing.T) {
	c := jsonModel(t, true)
	msgs := []tokenizer.Message{{Role: "user", Content: "any object"}}
	p := Params{N: 3, Temperature: 0.8, TopP: 0.9, MaxTokens: 60, Seed: 11, Grammar: grammar.AnyObject()}
	a, err := c.Complete(context.Background(), msgs, p)
	if err != nil {
		t.Fatal(err)
	}
	b, err := c.Complete(context.Background(), msgs, p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range a.Choices {
		if a.Choices[i].Text != b.Choices[i].Text {
			t.Errorf("choice %d differs: %q vs %q", i, a.Choices[i].Text, b.Choices[i].Text)
		}
		if !strings.HasPrefix(a.Choices[i].Text, "{") {
			t.Errorf("choice %d does not start an object: %q", i, a.Choices[i].Text)
		}
	}
}

func TestGrammarVocabularyThatCannotSpellIt(t *testing.T) {
	c := tinyModel(t) // no braces or quotes in its alphabet
	_, err := c.Complete(context.Background(), []tokenizer.Message{{Role: "user", Content: "hi"}}, Params{MaxTokens: 8, Grammar: grammar.AnyObject()})
	if err == nil || !strings.Contains(err.Error(), "vocabulary") {
		t.Errorf("Complete with a vocabulary without '{' = %v, want an error about the vocabulary", err)
	}
}
