package model

import "strings"

// Price is what a model costs, in USD per million tokens.
type Price struct {
	Input  float64 `json:"input"`
	Output float64 `json:"output"`
}

// Cost prices u. Reasoning tokens are billed as output and every provider
// already counts them in CompletionTokens, so they are not added again.
func (p Price) Cost(u Usage) float64 {
	return (float64(u.PromptTokens)*p.Input + float64(u.CompletionTokens)*p.Output) / 1e6
}

// PriceTableDate is when the built-in prices were copied from the providers'
// public price pages. Prices change: override them per model with
// price_input / price_output when they differ from your bill.
const PriceTableDate = "2025-11-30"

// priceTable holds standard (non-batch, uncached-input) prices. A model
// matches the longest entry that is its name or a prefix of it followed by
// "-", so dated snapshots such as gpt-4o-mini-2024-07-18 or
// claude-sonnet-4-5-20250929 find their family's price.
var priceTable = map[string]map[string]Price{
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

// LookupPrice returns the built-in price of provider's model.
func LookupPrice(provider, model string) (Price, bool) {
	table := priceTable[provider]
	m := strings.ToLower(model)
	best, found := "", false
	for name := range table {
		if (m == name || strings.HasPrefix(m, name+"-")) && len(name) > len(best) {
			best, found = name, true
		}
	}
	return table[best], found
}
