package anthropic

import (
	sdk "github.com/anthropics/anthropic-sdk-go/v2"

	"github.com/synthloop/synthloop/model"
)

// maxBreakpoints is how many cache_control marks one request may carry.
const maxBreakpoints = 4

// cacheBreakpoints marks, for each index in marks, the content block that
// message msgs[index] became with cache_control {type: ephemeral}, so that
// the prompt up to it is cached. It follows how params lays the messages
// out: system messages become the system blocks; a user or tool message
// right after a tool message joins that user turn as one more block; any
// other message starts a turn. Marks past the fourth are ignored.
func cacheBreakpoints(p *sdk.MessageNewParams, msgs []model.Message, marks []int) {
	if len(marks) == 0 {
		return
	}
	want := map[int]bool{}
	for _, i := range marks {
		want[i] = true
	}
	sys, turn, block, set := -1, -1, 0, 0
	lastTools := false
	for i, m := range msgs {
		var cc *sdk.CacheControlEphemeralParam
		switch m.Role {
		case "system", "developer":
			sys++
			if want[i] && sys < len(p.System) {
				cc = &p.System[sys].CacheControl
			}
		default:
			switch {
			case (m.Role == "user" || m.Role == "tool") && lastTools:
				block++
			case m.Role == "assistant":
				turn, block = turn+1, -1 // its last block
			default:
				turn, block = turn+1, 0
			}
			if want[i] && turn < len(p.Messages) {
				var content []sdk.ContentBlockParamUnion
				switch mp := p.Messages[turn]; {
				case mp.OfUser != nil:
					content = mp.OfUser.Content
				case mp.OfAssistant != nil:
					content = mp.OfAssistant.Content
				}
				b := block
				if b < 0 {
					b = len(content) - 1
				}
				if b >= 0 && b < len(content) {
					cc = content[b].GetCacheControl()
				}
			}
		}
		lastTools = m.Role == "tool"
		if cc != nil && set < maxBreakpoints {
			*cc = sdk.NewCacheControlEphemeralParam()
			set++
		}
	}
}

// withCacheUsage adds the prompt cache's share to r's usage. Anthropic's
// input_tokens leaves out the tokens read from and written to the cache, so
// they are added to PromptTokens (which counts the whole prompt, as OpenAI's
// prompt_tokens does) and named apart for pricing.
func withCacheUsage(r *model.Response, u sdk.Usage) *model.Response {
	r.Usage.CachedPromptTokens = int(u.CacheReadInputTokens)
	r.Usage.CacheWriteTokens = int(u.CacheCreationInputTokens)
	r.Usage.PromptTokens += r.Usage.CachedPromptTokens + r.Usage.CacheWriteTokens
	return r
}
