package model_test

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// TestPromptCacheUsageAndPrice sends two requests sharing a long system
// prompt to stand-ins with a prompt cache and checks the cached tokens read
// from each provider's usage, their price, and that a response-cache hit
// keeps them.
func TestPromptCacheUsageAndPrice(t *testing.T) {
	system := strings.Repeat("Rubric line that every request shares. ", 40) // 1560 bytes: (1560+3)/4+1 tokens, +3 for the message
	const sysTokens = 394
	ask := func(user string) model.Request {
		return model.Request{Messages: []model.Message{{Role: "system", Content: system}, {Role: "user", Content: user}},
			CacheBreakpoints: []int{0}}
	}
	tests := []struct {
		name, ref string
		anthropic bool
		stream    bool
		// usage of the second request: cached (read) and written tokens of the first and second
		write1, read2 int
		price         model.Price
	}{
		{"openai", "openai/gpt-4o-mini", false, false, 0, sysTokens, model.Price{Input: 0.15, Output: 0.6, CachedInput: 0.075}},
		{"anthropic", "anthropic/claude-sonnet-4-5", true, false, sysTokens, sysTokens, model.Price{Input: 3, Output: 15, CachedInput: 0.3, CacheWrite: 3.75}},
		{"anthropic streamed", "anthropic/claude-sonnet-4-5", true, true, sysTokens, sysTokens, model.Price{Input: 3, Output: 15, CachedInput: 0.3, CacheWrite: 3.75}},
		{"openai streamed", "openai/gpt-4o-mini", false, true, 0, sysTokens, model.Price{Input: 0.15, Output: 0.6, CachedInput: 0.075}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var srv *modeltest.Server
			if tt.anthropic {
				srv = modeltest.NewAnthropicServer(modeltest.Echo, modeltest.WithPromptCache(100))
			} else {
				srv = modeltest.NewServer(modeltest.Echo, modeltest.WithPromptCache(100))
			}
			defer srv.Close()
			cache := newMemCache()
			b, info, err := model.Open(context.Background(), "t", model.Config{Ref: tt.ref, BaseURL: srv.URL, Stream: tt.stream},
				model.Options{APIKey: "k", Cache: cache})
			if err != nil {
				t.Fatal(err)
			}
			if info.Price != tt.price {
				t.Fatalf("price %+v, want %+v", info.Price, tt.price)
			}
			ctx := context.Background()
			r1, err := b.Generate(ctx, ask("first question"))
			if err != nil {
				t.Fatal(err)
			}
			r2, err := b.Generate(ctx, ask("second question"))
			if err != nil {
				t.Fatal(err)
			}
			if r1.Usage.CachedPromptTokens != 0 || r1.Usage.CacheWriteTokens != tt.write1 {
				t.Errorf("first request: cached %d, written %d; want 0, %d", r1.Usage.CachedPromptTokens, r1.Usage.CacheWriteTokens, tt.write1)
			}
			if r2.Usage.CachedPromptTokens != tt.read2 || r2.Usage.CacheWriteTokens != 0 {
				t.Errorf("second request: cached %d, written %d; want %d, 0", r2.Usage.CachedPromptTokens, r2.Usage.CacheWriteTokens, tt.read2)
			}
			// PromptTokens is the whole prompt for both providers.
			if want := sysTokens + (len("second question")+3)/4 + 1 + 3; r2.Usage.PromptTokens != want {
				t.Errorf("second request: %d prompt tokens, want %d", r2.Usage.PromptTokens, want)
			}
			u := r2.Usage
			want := (float64(u.PromptTokens-u.CachedPromptTokens)*tt.price.Input + float64(u.CachedPromptTokens)*tt.price.CachedInput +
				float64(u.CompletionTokens)*tt.price.Output) / 1e6
			if math.Abs(r2.CostUSD-want) > 1e-12 {
				t.Errorf("second request cost $%g, want $%g", r2.CostUSD, want)
			}
			if r2.CostUSD >= info.Price.Cost(model.Usage{PromptTokens: u.PromptTokens, CompletionTokens: u.CompletionTokens}) {
				t.Errorf("a cache read saved nothing: $%g", r2.CostUSD)
			}
			if tt.anthropic && !strings.Contains(string(srv.Log()[0].Body), `"cache_control":{"type":"ephemeral"}`) {
				t.Errorf("no cache_control in the request: %s", srv.Log()[0].Body)
			}
			// The response cache keeps the breakdown.
			again, err := b.Generate(ctx, ask("second question"))
			if err != nil {
				t.Fatal(err)
			}
			if !again.Cached || again.Usage != r2.Usage {
				t.Errorf("response-cache hit: cached %v, usage %+v; want true, %+v", again.Cached, again.Usage, r2.Usage)
			}
			if st := b.(model.StatsSource).Stats(); st.CachedPromptTokens != int64(tt.read2) {
				t.Errorf("Stats.CachedPromptTokens = %d, want %d", st.CachedPromptTokens, tt.read2)
			}
		})
	}
}
