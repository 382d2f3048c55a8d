package tokenizer

import "fmt"

// Message is one turn of a conversation.
type Message struct {
	Role    string `json:"role"` // "system", "user" or "assistant"
	Content string `json:"content"`
}

// roleToken maps roles to the special token that opens their turn.
var roleToken = map[string]string{"system": System, "user": User, "assistant": Assistant}

// EncodeChat renders msgs with the template
//
//	<|bos|> (<|role|> content <|end|>)* [<|assistant|>]
//
// and returns the ids and a mask that is true on the tokens an SFT loss
// should train: every assistant turn's content and its closing <|end|>, so
// the model learns when to stop. With generate set, an open assistant turn is
// appended for sampling the reply. Content is encoded as plain text, so a
// user cannot forge turn markers. t must have the role, <|bos|> and <|end|>
// specials (DefaultSpecials has them).
func EncodeChat(t Tokenizer, msgs []Message, generate bool) (ids []int, mask []bool, err error) {
	special := func(name string) (int, error) {
		id, ok := t.SpecialID(name)
		if !ok {
			return 0, fmt.Errorf("tokenizer: chat: vocabulary lacks special token %s", name)
		}
		return id, nil
	}
	push := func(train bool, xs ...int) {
		for _, x := range xs {
			ids = append(ids, x)
			mask = append(mask, train)
		}
	}
	bos, err := special(BOS)
	if err != nil {
		return nil, nil, err
	}
	end, err := special(End)
	if err != nil {
		return nil, nil, err
	}
	push(false, bos)
	for i, m := range msgs {
		name, ok := roleToken[m.Role]
		if !ok {
			return nil, nil, fmt.Errorf("tokenizer: chat: message %d has unknown role %q", i, m.Role)
		}
		role, err := special(name)
		if err != nil {
			return nil, nil, err
		}
		body, err := t.Encode(m.Content)
		if err != nil {
			return nil, nil, fmt.Errorf("tokenizer: chat: message %d: %w", i, err)
		}
		train := m.Role == "assistant"
		push(false, role)
		push(train, body...)
		push(train, end)
	}
	if generate {
		a, err := special(Assistant)
		if err != nil {
			return nil, nil, err
		}
		push(false, a)
	}
	return ids, mask, nil
}
