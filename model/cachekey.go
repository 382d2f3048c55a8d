package model

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
)

// cacheKeyVersion changes whenever the key document or the entry format
// changes, so old entries are never misread.
const cacheKeyVersion = 1

// keyDoc is hashed to key one sample. The base URL is deliberately left out:
// the same model moved to another host (a new Ollama box, another vLLM replica
// behind a balancer) gives the same answers, and a run must not pay again
// because an address changed. The provider stays in, so ollama/llama3.1 and
// vllm/llama3.1 never share entries. Everything that shapes the output is in:
// messages, every decoding parameter and the sample index.
type keyDoc struct {
	V               int             `json:"v"`
	Provider        string          `json:"provider"`
	Model           string          `json:"model"`
	Messages        []Message       `json:"messages"`
	Temperature     *float64        `json:"temperature"`
	TopP            *float64        `json:"top_p"`
	MaxTokens       int             `json:"max_tokens"`
	Stop            []string        `json:"stop"`
	Seed            *int64          `json:"seed"`
	PresencePenalty *float64        `json:"presence_penalty"`
	JSONSchema      json.RawMessage `json:"json_schema"`
	SchemaName      string          `json:"schema_name"`
	// Added later; omitted when empty so that older keys stay valid.
	Tools           []Tool `json:"tools,omitempty"`
	ToolChoice      string `json:"tool_choice,omitempty"`
	ReasoningEffort string `json:"reasoning_effort,omitempty"`
	ThinkingBudget  int    `json:"thinking_budget,omitempty"`
}

// CacheKeys returns the cache key of each of req's n samples: the hex SHA-256
// of the canonical JSON of the request (without N) plus the sample index, so a
// request for n=8 after one for n=4 finds the first 4 samples. Exported so the
// store and tools can tell which requests a record came from.
func CacheKeys(provider, model string, req Request) []string {
	n := max(req.N, 1)
	schema := req.JSONSchema
	if len(schema) > 0 {
		// Key order and whitespace in the schema do not change the output.
		var v any
		if json.Unmarshal(schema, &v) == nil {
			schema, _ = json.Marshal(v)
		}
	}
	doc := keyDoc{
		V: cacheKeyVersion, Provider: provider, Model: model, Messages: req.Messages,
		Temperature: req.Temperature, TopP: req.TopP, MaxTokens: req.MaxTokens, Stop: req.Stop,
		Seed: req.Seed, PresencePenalty: req.PresencePenalty, JSONSchema: schema, SchemaName: req.SchemaName,
		Tools: req.Tools, ToolChoice: req.ToolChoice, ReasoningEffort: req.ReasoningEffort, ThinkingBudget: req.ThinkingBudget,
	}
	if doc.Messages == nil {
		doc.Messages = []Message{}
	}
	b, _ := json.Marshal(doc) // cannot fail: plain data
	prefix := append(bytes.TrimSuffix(b, []byte("}")), `,"sample":`...)
	keys := make([]string, n)
	buf := make([]byte, 0, len(prefix)+12)
	for i := range n {
		buf = append(buf[:0], prefix...)
		buf = strconv.AppendInt(buf, int64(i), 10)
		buf = append(buf, '}')
		sum := sha256.Sum256(buf)
		keys[i] = hex.EncodeToString(sum[:])
	}
	return keys
}

// cacheEntry is one cached sample. Usage is this sample's share of its call's
// usage, so the shares of a call's samples add up to what the call reported.
type cacheEntry struct {
	V                int     `json:"v"`
	Text             string  `json:"text"`
	FinishReason     string  `json:"finish_reason"`
	PromptTokens     int     `json:"prompt_tokens"`
	CompletionTokens int     `json:"completion_tokens"`
	Model            string  `json:"model,omitempty"`
	CostUSD          float64 `json:"cost_usd,omitempty"` // this share of what was paid
	// Reasoning and tool calls were added later: absent in older entries.
	Reasoning          string     `json:"reasoning,omitempty"`
	ReasoningSignature string     `json:"reasoning_signature,omitempty"`
	ToolCalls          []ToolCall `json:"tool_calls,omitempty"`
	ReasoningTokens    int        `json:"reasoning_tokens,omitempty"`
	CachedPromptTokens int        `json:"cached_prompt_tokens,omitempty"`
	CacheWriteTokens   int        `json:"cache_write_tokens,omitempty"`
	// Batch marks an answer of a provider batch: CostUSD is what the
	// request that asked for it paid, charged to it when it reads the entry.
	Batch bool `json:"batch,omitempty"`
}

// share splits total into n integer parts that add up to total.
func share(total, i, n int) int { return total*(i+1)/n - total*i/n }
