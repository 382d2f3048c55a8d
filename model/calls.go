package model

// Calls counts model calls and what they cost, as a pipeline unit or a
// judgment accrues them.
type Calls struct {
	Requests       int // model calls made (including cache hits)
	CachedRequests int // calls answered from the response cache
	PromptTokens   int // as reported by the provider (cache hits count their original usage)
	// CachedPromptTokens is the part of PromptTokens the provider's own
	// prompt cache served, billed at its cached rate.
	CachedPromptTokens int
	CompletionTokens   int
	CostUSD            float64 // money actually spent in this process (cache hits cost 0)
	Errors             int     // failed calls and unusable replies, recorded on records
}

// Count adds one call to c: a request and, when it did not fail, what its
// response cost. A call is counted even when it fails, because a provider
// may have billed it.
func (c *Calls) Count(resp *Response, err error) {
	c.Requests++
	if err != nil || resp == nil {
		return
	}
	if resp.Cached {
		c.CachedRequests++
	}
	c.PromptTokens += resp.Usage.PromptTokens
	c.CachedPromptTokens += resp.Usage.CachedPromptTokens
	c.CompletionTokens += resp.Usage.CompletionTokens
	c.CostUSD += resp.CostUSD
}

// Add adds o to c, for work split among goroutines that count their own
// calls.
func (c *Calls) Add(o Calls) {
	c.Requests += o.Requests
	c.CachedRequests += o.CachedRequests
	c.PromptTokens += o.PromptTokens
	c.CachedPromptTokens += o.CachedPromptTokens
	c.CompletionTokens += o.CompletionTokens
	c.CostUSD += o.CostUSD
	c.Errors += o.Errors
}
