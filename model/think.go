package model

import "strings"

// The tags reasoning models write around their thinking when the server
// does not take it apart itself (Ollama without a parser, llama.cpp, raw
// vLLM, the built-in engine's models).
const (
	thinkOpen  = "<think>"
	thinkClose = "</think>"
	space      = " \t\r\n"
)

// SplitThink takes a leading reasoning block off a model's text. It knows
// three shapes:
//
//	"<think>R</think>A"  the whole block in the text
//	"R</think>A"         the chat template opened the block in the prompt, so only the close is generated
//	"<think>R"           the text was cut off (max_tokens) while still reasoning: all reasoning, no answer
//
// Whitespace around R and before A is trimmed; A's trailing whitespace and
// every other byte is kept. ok is false, with answer == text, when text has
// none of these shapes: a "<think>" that is not at the start (after
// whitespace) is part of the answer, as is a "</think>" after one.
func SplitThink(text string) (reasoning, answer string, ok bool) {
	body := strings.TrimLeft(text, space)
	if rest, found := strings.CutPrefix(body, thinkOpen); found {
		r, a, closed := strings.Cut(rest, thinkClose)
		if !closed {
			return strings.Trim(rest, space), "", true
		}
		return strings.Trim(r, space), strings.TrimLeft(a, space), true
	}
	i := strings.Index(text, thinkClose)
	if i < 0 || strings.Contains(text[:i], thinkOpen) {
		return "", text, false
	}
	return strings.Trim(text[:i], space), strings.TrimLeft(text[i+len(thinkClose):], space), true
}

// splitChoice moves a <think> block out of ch.Text into ch.Reasoning when
// the provider gave no reasoning of its own.
func splitChoice(ch *Choice) {
	if ch.Reasoning != "" {
		return
	}
	if r, a, ok := SplitThink(ch.Text); ok {
		ch.Reasoning, ch.Text = r, a
	}
}

// ThinkStream splits a streamed answer as SplitThink splits a whole one,
// piece by piece: Next takes the next piece of text and returns what of it
// is now known to be reasoning and answer; Close returns the rest. It holds
// back only what may still turn out to be a tag or trimmed whitespace. A
// stream cannot know that a "</think>" is coming when no "<think>" opened
// it, so the shape whose opening tag was in the prompt passes through as
// answer text. The zero value is ready to use; not safe for concurrent use.
type ThinkStream struct {
	// state: 0 before any text, 1 reasoning before its first non-space,
	// 4 reasoning, 2 answer before its first non-space, 3 answer.
	state   int
	pending string
}

// Next splits the next piece of the text.
func (t *ThinkStream) Next(piece string) (reasoning, answer string) {
	t.pending += piece
	for {
		switch t.state {
		case 0:
			body := strings.TrimLeft(t.pending, space)
			if strings.HasPrefix(body, thinkOpen) {
				t.pending, t.state = body[len(thinkOpen):], 1
				continue
			}
			if strings.HasPrefix(thinkOpen, body) {
				return "", "" // still maybe "<think>"
			}
			t.state = 3
		case 1:
			t.pending = strings.TrimLeft(t.pending, space)
			if t.pending == "" {
				return reasoning, ""
			}
			t.state = 4
		case 4:
			if r, rest, ok := strings.Cut(t.pending, thinkClose); ok {
				t.pending, t.state = rest, 2
				reasoning += strings.TrimRight(r, space)
				continue
			}
			// Keep back trailing whitespace (trimmed if the tag follows)
			// and a tail that may be the start of the tag.
			keep := len(t.pending) - len(strings.TrimRight(t.pending, space))
			for n := min(len(thinkClose)-1, len(t.pending)); n > 0; n-- {
				if strings.HasPrefix(thinkClose, t.pending[len(t.pending)-n:]) {
					keep = max(keep, len(t.pending)-len(strings.TrimRight(t.pending[:len(t.pending)-n], space)))
					break
				}
			}
			reasoning += t.pending[:len(t.pending)-keep]
			t.pending = t.pending[len(t.pending)-keep:]
			return reasoning, ""
		case 2:
			t.pending = strings.TrimLeft(t.pending, space)
			if t.pending == "" {
				return reasoning, ""
			}
			t.state = 3
		case 3:
			answer, t.pending = t.pending, ""
			return reasoning, answer
		}
	}
}

// Close ends the stream and returns what was held back: the text of an
// answer that was only whitespace or a piece of "<think>", or the last of a
// reasoning that never closed.
func (t *ThinkStream) Close() (reasoning, answer string) {
	p := t.pending
	t.pending = ""
	switch t.state {
	case 0, 3:
		return "", p
	case 4:
		return strings.TrimRight(p, space), ""
	}
	return "", ""
}
