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
