package train

import (
	"testing"

	"github.com/synthloop/synthloop/engine/tokenizer"
)

func TestChatPair(t *testing.T) {
	tok, _ := tokenizer.NewChar("abcdefghijklmnopqrstuvwxyz ", tokenizer.DefaultSpecials)
	prompt := []tokenizer.Message{{Role: "user", Content: "hi"}, {Role: "assistant", Content: "hello"}, {Role: "user", Content: "name"}}
	p, err := ChatPair(tok, prompt, "bob", "no")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		e    Example
		want string
	}{{p.Chosen, "bob<|end|>"}, {p.Rejected, "no<|end|>"}} {
		var ids []int
		for i, m := range tc.e.Mask {
			if m {
				ids = append(ids, int(tc.e.Tokens[i]))
			}
		}
		if got, _ := tok.Decode(ids); got != tc.want {
			t.Errorf("trained tokens %q, want %q", got, tc.want)
		}
	}
	if _, err := ChatPair(tok, prompt, "BOB", "no"); err == nil {
		t.Error("reply outside the vocabulary accepted")
	}
}
