package modeltest

import (
	"crypto/sha256"
	"encoding/json"
	"sync"

	"github.com/synthloop/synthloop/internal/openaiwire"
	"github.com/synthloop/synthloop/model"
)

// WithPromptCache makes the server act as if it had the provider's prompt
// cache, and report it in usage: the OpenAI-compatible server caches every
// prefix of whole messages automatically (as OpenAI does), the Anthropic one
// only the prefixes ending at a cache_control mark (read if an earlier
// request wrote it, else written). Prefixes under minTokens tokens are
// never cached, like the providers' minimum (1024 tokens for most models).
// Token counts use the server's estimate, about 4 bytes a token plus 3 per
// message. Which request is "earlier" follows arrival order, so counts are
// deterministic for requests sent one at a time.
func WithPromptCache(minTokens int) Option {
	return func(s *Server) { s.pcache = &promptCache{min: minTokens, seen: map[[32]byte]bool{}} }
}

type promptCache struct {
	min  int
	mu   sync.Mutex
	seen map[[32]byte]bool
}

// prefix is a candidate prefix: its hash and its tokens.
type prefix struct {
	sum    [32]byte
	tokens int
}

// lookup returns the tokens of the longest prefix already seen and of the
// longest one not seen (to be written), then remembers them all.
func (c *promptCache) lookup(ps []prefix) (read, write int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range ps {
		if p.tokens < c.min {
			continue
		}
		if c.seen[p.sum] {
			read = max(read, p.tokens)
		} else {
			write = max(write, p.tokens)
		}
	}
	for _, p := range ps {
		if p.tokens >= c.min {
			c.seen[p.sum] = true
		}
	}
	return read, max(write-read, 0)
}

// messagePrefixes lists every prefix of whole messages, as usageOf counts them.
func messagePrefixes(msgs []model.Message) []prefix {
	h := sha256.New()
	var out []prefix
	tokens := 0
	for _, m := range msgs {
		b, _ := json.Marshal(m)
		h.Write(b)
		tokens += estimate(m.Content) + 3
		var p prefix
		copy(p.sum[:], h.Sum(nil))
		p.tokens = tokens
		out = append(out, p)
	}
	return out
}

// openAICacheUsage adds prompt_tokens_details.cached_tokens to u.
func (s *Server) openAICacheUsage(req *Request, u *openaiwire.Usage) {
	if s.pcache == nil {
		return
	}
	read, _ := s.pcache.lookup(messagePrefixes(req.Messages))
	u.PromptTokensDetails = &openaiwire.PromptTokensDetails{CachedTokens: min(read, u.PromptTokens)}
}

// withPromptCache reports the prompt cache in an Anthropic answer's usage:
// with the cache on, the tokens read from and written to it are reported
// apart and left out of input_tokens, as the API does.
func (s *Server) withPromptCache(req *Request, msg map[string]any) map[string]any {
	usage, _ := msg["usage"].(map[string]any)
	prompt, _ := usage["input_tokens"].(int)
	if s.pcache == nil || usage == nil {
		return msg
	}
	read, write := s.pcache.lookup(anthropicBreakpoints(req.Body))
	read = min(read, prompt)
	write = min(write, prompt-read)
	usage["input_tokens"] = prompt - read - write
	usage["cache_read_input_tokens"] = read
	usage["cache_creation_input_tokens"] = write
	return msg
}

// anthropicBreakpoints lists the prefixes of an Anthropic request that end
// at a block marked with cache_control: the system blocks, then the
// messages' blocks, in order, each counted as a message is by usageOf.
func anthropicBreakpoints(body []byte) []prefix {
	var in struct {
		System   json.RawMessage `json:"system"`
		Messages []struct {
			Role    string          `json:"role"`
			Content json.RawMessage `json:"content"`
		} `json:"messages"`
	}
	if json.Unmarshal(body, &in) != nil {
		return nil
	}
	h := sha256.New()
	tokens := 0
	var out []prefix
	walk := func(role string, raw json.RawMessage) {
		var blocks []map[string]any
		if json.Unmarshal(raw, &blocks) != nil {
			var text string
			json.Unmarshal(raw, &text)
			blocks = []map[string]any{{"type": "text", "text": text}}
		}
		for _, b := range blocks {
			marked := b["cache_control"] != nil
			delete(b, "cache_control") // the mark is not part of the content
			enc, _ := json.Marshal(b)
			h.Write([]byte(role))
			h.Write(enc)
			text, _ := b["text"].(string)
			if text == "" {
				text = string(enc)
			}
			tokens += estimate(text) + 3
			if marked {
				var p prefix
				copy(p.sum[:], h.Sum(nil))
				p.tokens = tokens
				out = append(out, p)
			}
		}
	}
	if len(in.System) > 0 {
		walk("system", in.System)
	}
	for _, m := range in.Messages {
		walk(m.Role, m.Content)
	}
	return out
}
