package model

// ConversationBreakpoints returns the prompt-cache breakpoints (see
// Request.CacheBreakpoints) of a conversation sent again at every turn: its
// system prompt, which every conversation of a stage shares, and its last
// message, through which the next turn's request repeats this one.
func ConversationBreakpoints(msgs []Message) []int {
	var out []int
	if len(msgs) > 0 && msgs[0].Role == "system" {
		out = append(out, 0)
	}
	if last := len(msgs) - 1; last > 0 || (last == 0 && msgs[0].Role != "system") {
		out = append(out, last)
	}
	return out
}

// SystemBreakpoint returns a breakpoint on the system prompt when msgs
// starts with one: the prefix every request of a stage shares.
func SystemBreakpoint(msgs []Message) []int {
	if len(msgs) > 0 && msgs[0].Role == "system" {
		return []int{0}
	}
	return nil
}
