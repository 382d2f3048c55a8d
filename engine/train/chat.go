package train

import (
	"fmt"

	"github.com/synthloop/synthloop/engine/tokenizer"
)

// ChatExample encodes a conversation with the chat template as an SFT
// example trained on its assistant turns.
func ChatExample(tok tokenizer.Tokenizer, msgs []tokenizer.Message) (Example, error) {
	ids, mask, err := tokenizer.EncodeChat(tok, msgs, false)
	if err != nil {
		return Example{}, fmt.Errorf("train: %w", err)
	}
	return FromChat(ids, mask), nil
}

// ChatPair encodes a DPO preference: the prompt conversation followed by the
// chosen or the rejected assistant reply, each masked to its reply.
func ChatPair(tok tokenizer.Tokenizer, prompt []tokenizer.Message, chosen, rejected string) (Pair, error) {
	var p Pair
	for _, r := range []struct {
		dst   *Example
		reply string
	}{{&p.Chosen, chosen}, {&p.Rejected, rejected}} {
		msgs := append(append([]tokenizer.Message(nil), prompt...), tokenizer.Message{Role: "assistant", Content: r.reply})
		e, err := ChatExample(tok, msgs)
		if err != nil {
			return Pair{}, err
		}
		// Only the final reply is compared; earlier assistant turns of the
		// prompt are context.
		last := len(e.Tokens) - 1
		for last > 0 && e.Mask[last-1] {
			last--
		}
		for i := range e.Mask[:last] {
			e.Mask[i] = false
		}
		*r.dst = e
	}
	return p, nil
}
