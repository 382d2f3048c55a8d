package model

import (
	"math"
	"strings"
)

// Price is what a model costs, in USD per million tokens.
type Price struct {
	Input  float64 `json:"input"`
	Output float64 `json:"output"`
	// CachedInput prices prompt tokens read from the provider's prompt
	// cache, CacheWrite those written to it; 0 means the same as Input.
	CachedInput float64 `json:"cached_input,omitempty"`
	CacheWrite  float64 `json:"cache_write,omitempty"`
}

// withInput returns p with input price in, its cached and cache-write
// rates scaled alike: the providers set them as fractions of the input price.
func (p Price) withInput(in float64) Price {
	if p.Input > 0 {
		// Rounded to a millionth of a cent per million tokens, so that a
		// scaled $0.05 is $0.05 and not 0.049999999999999996.
		scale := func(x float64) float64 { return math.Round(x/p.Input*in*1e8) / 1e8 }
		p.CachedInput, p.CacheWrite = scale(p.CachedInput), scale(p.CacheWrite)
	} else {
		p.CachedInput, p.CacheWrite = 0, 0
	}
	p.Input = in
	return p
}

// Batch is the discount of the providers' batch APIs: OpenAI's Batch API
// and Anthropic's Message Batches both bill half the standard rates.
const Batch = 0.5

// Batched returns p at the batch discount, every rate alike.
func (p Price) Batched() Price {
	return Price{Input: p.Input * Batch, Output: p.Output * Batch, CachedInput: p.CachedInput * Batch, CacheWrite: p.CacheWrite * Batch}
}

// Anthropic's prompt-cache multipliers of the base input price (Anthropic's
// pricing page, "Prompt caching"; checked 2025-11-30): a cache read costs
// 0.1x and a write to the default 5-minute cache 1.25x (a 1-hour write 2x;
// synthloop asks only for the 5-minute cache).
const (
	anthropicCacheReadDiv = 10 // divided, not times 0.1, so that $3 gives exactly $0.30
	anthropicCacheWrite   = 1.25
)

// Cost prices u. Reasoning tokens are billed as output and every provider
// already counts them in CompletionTokens, so they are not added again.
func (p Price) Cost(u Usage) float64 {
	cachedIn, writeIn := p.Input, p.Input
	if p.CachedInput > 0 {
		cachedIn = p.CachedInput
	}
	if p.CacheWrite > 0 {
		writeIn = p.CacheWrite
	}
	cached, written := u.CachedPromptTokens, u.CacheWriteTokens
	plain := max(u.PromptTokens-cached-written, 0)
	return (float64(plain)*p.Input + float64(cached)*cachedIn + float64(written)*writeIn +
		float64(u.CompletionTokens)*p.Output) / 1e6
}

// PriceTableDate is when the built-in prices were copied from the providers'
// public price pages. Prices change: override them per model with
// price_input / price_output when they differ from your bill.
const PriceTableDate = "2025-11-30"

// priceTable holds standard (non-batch, uncached-input) prices. A model
// matches the longest entry that is its name or a prefix of it followed by
// "-", so dated snapshots such as gpt-4o-mini-2024-07-18 or
// claude-sonnet-4-5-20250929 find their family's price.
var priceTable = map[string]map[string]listPrice{
	"openai": {
		"gpt-5":         {1.25, 10},
		"gpt-5-mini":    {0.25, 2},
		"gpt-5-nano":    {0.05, 0.40},
		"gpt-4.1":       {2, 8},
		"gpt-4.1-mini":  {0.40, 1.60},
		"gpt-4.1-nano":  {0.10, 0.40},
		"gpt-4o":        {2.50, 10},
		"gpt-4o-mini":   {0.15, 0.60},
		"gpt-4-turbo":   {10, 30},
		"gpt-4":         {30, 60},
		"gpt-3.5-turbo": {0.50, 1.50},
		"o1":            {15, 60},
		"o1-mini":       {1.10, 4.40},
		"o3":            {2, 8},
		"o3-mini":       {1.10, 4.40},
		"o3-pro":        {20, 80},
		"o4-mini":       {1.10, 4.40},
	},
	"anthropic": {
		"claude-opus-4-5":   {5, 25},
		"claude-opus-4-1":   {15, 75},
		"claude-opus-4":     {15, 75},
		"claude-sonnet-4-5": {3, 15},
		"claude-sonnet-4":   {3, 15},
		"claude-3-7-sonnet": {3, 15},
		"claude-3-5-sonnet": {3, 15},
		"claude-haiku-4-5":  {1, 5},
		"claude-3-5-haiku":  {0.80, 4},
		"claude-3-haiku":    {0.25, 1.25},
		"claude-3-opus":     {15, 75},
	},
}

// listPrice is a table entry: input and output per million tokens.
type listPrice struct{ Input, Output float64 }

// openAICachedInput is OpenAI's price of cached input per model family
// (OpenAI's pricing page, "Cached input" column, on PriceTableDate); a
// family missing here has no cached rate and is billed at full input.
var openAICachedInput = map[string]float64{
	"gpt-5": 0.125, "gpt-5-mini": 0.025, "gpt-5-nano": 0.005,
	"gpt-4.1": 0.50, "gpt-4.1-mini": 0.10, "gpt-4.1-nano": 0.025,
	"gpt-4o": 1.25, "gpt-4o-mini": 0.075,
	"o1": 7.50, "o1-mini": 0.55, "o3": 0.50, "o3-mini": 0.55, "o4-mini": 0.275,
}

// LookupPrice returns the built-in price of provider's model, cached-input
// and cache-write rates included.
func LookupPrice(provider, model string) (Price, bool) {
	table := priceTable[provider]
	m := strings.ToLower(model)
	best, found := "", false
	for name := range table {
		if (m == name || strings.HasPrefix(m, name+"-")) && len(name) > len(best) {
			best, found = name, true
		}
	}
	p := Price{Input: table[best].Input, Output: table[best].Output}
	switch {
	case !found:
	case provider == "openai":
		p.CachedInput = openAICachedInput[best]
	case provider == "anthropic":
		p.CachedInput = p.Input / anthropicCacheReadDiv
		p.CacheWrite = p.Input * anthropicCacheWrite
	}
	return p, found
}
