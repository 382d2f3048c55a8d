package estimate

import (
	"hash/fnv"
	"sync"

	"github.com/synthloop/synthloop/model"
)

// minCached is the shortest prefix the providers cache (OpenAI: 1,024
// tokens; Anthropic: 1,024 for most models, 2,048 for Haiku).
const minCached = 1024

// chunk is the granularity of OpenAI's automatic prefix matching here, in
// bytes of the serialised prompt (about 64 tokens).
const chunk = 256

// prefixCache plays the provider's prompt cache for one model, keeping
// every prefix it is shown for the whole run. A provider without priced
// prompt caching gets none (observe returns 0, 0).
type prefixCache struct {
	kind string // "openai", "anthropic" or ""

	mu   sync.Mutex
	seen map[uint64]bool
}

func newPrefixCache(provider string) *prefixCache {
	switch provider {
	case "openai", "anthropic":
		return &prefixCache{kind: provider, seen: map[uint64]bool{}}
	}
	return &prefixCache{}
}

// observe returns the tokens of req (in tokens in all) that the cache would
// serve and those it would write, and remembers req's prefixes.
func (p *prefixCache) observe(req model.Request, in int) (read, write int) {
	if p.kind == "" || in < minCached {
		return 0, 0
	}
	h := fnv.New64a()
	total := 0
	for _, m := range req.Messages {
		total += len(m.Role) + len(m.Content) + 2
	}
	if total == 0 {
		return 0, 0
	}
	tokens := func(bytes int) int { return in * bytes / total }
	type mark struct {
		sum   uint64
		bytes int
	}
	var marks []mark
	written := 0
	breaks := map[int]bool{}
	for _, i := range req.CacheBreakpoints {
		breaks[i] = true
	}
	// Hash the prompt byte by byte in chunks: OpenAI matches any prefix,
	// Anthropic the prefixes ending at a marked message.
	feed := func(s string) {
		for len(s) > 0 {
			room := chunk - written%chunk
			part := s[:min(room, len(s))]
			h.Write([]byte(part))
			written += len(part)
			s = s[len(part):]
			if p.kind == "openai" && written%chunk == 0 {
				marks = append(marks, mark{h.Sum64(), written})
			}
		}
	}
	for i, m := range req.Messages {
		feed(m.Role)
		feed("\x00")
		feed(m.Content)
		feed("\x01")
		if p.kind == "anthropic" && breaks[i] {
			marks = append(marks, mark{h.Sum64(), written})
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	longest, last := 0, 0
	for _, mk := range marks {
		if tokens(mk.bytes) < minCached {
			continue
		}
		if p.seen[mk.sum] {
			longest = max(longest, mk.bytes)
		}
		last = max(last, mk.bytes)
		p.seen[mk.sum] = true
	}
	read = tokens(longest)
	if p.kind == "anthropic" && last > longest {
		write = tokens(last) - read
	}
	return read, write
}
