package reasoning

import (
	"strings"

	"github.com/synthloop/synthloop/answer"
)

// sample is one reply split into its reasoning and its answer.
type sample struct {
	trace    string // the reasoning
	text     string // what follows the reasoning: the stated answer, or the whole reply when no answer was found
	answer   string // the extracted final answer, "" when none
	inline   bool   // the trace was cut out of the reply text, not given apart by the provider
	finish   string
	verified bool
	reason   string // the verifier's reason
}

// split separates a reply into reasoning and answer. A provider that gives
// reasoning apart (reasoning_content, Anthropic thinking) has done it; a
// reply that opens with <think>...</think> is split at the tag; otherwise
// the trace is the reply before the statement of the final answer (the
// line that holds it), which is how a model without a reasoning channel
// writes its chain of thought.
func split(text, reasoning string, e answer.Extractor) sample {
	s := sample{}
	switch {
	case strings.TrimSpace(reasoning) != "":
		s.trace, s.text = strings.TrimSpace(reasoning), strings.TrimSpace(text)
	default:
		if think, rest, ok := thinkTags(text); ok {
			s.trace, s.text, s.inline = think, rest, true
			break
		}
		s.inline = true
		sp, ok := e.Extract(text)
		if !ok {
			s.text = strings.TrimSpace(text)
			return s
		}
		s.trace, s.text = strings.TrimSpace(text[:sp.Start]), strings.TrimSpace(text[sp.Start:])
		s.answer = sp.Text
		return s
	}
	if sp, ok := e.Extract(s.text); ok {
		s.answer = sp.Text
	}
	return s
}

// thinkTags splits "<think>trace</think>rest". A reply whose <think> is
// never closed was cut inside its reasoning: it has a trace and no answer.
func thinkTags(text string) (trace, rest string, ok bool) {
	t := strings.TrimSpace(text)
	body, found := strings.CutPrefix(t, "<think>")
	if !found {
		return "", "", false
	}
	trace, rest, closed := strings.Cut(body, "</think>")
	if !closed {
		return strings.TrimSpace(body), "", true
	}
	return strings.TrimSpace(trace), strings.TrimSpace(rest), true
}
