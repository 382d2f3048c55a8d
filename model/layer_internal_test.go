package model

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// funcBackend adapts a function to Backend.
type funcBackend func(ctx context.Context, req Request) (*Response, error)

func (f funcBackend) Generate(ctx context.Context, req Request) (*Response, error) {
	return f(ctx, req)
}

// fakeBackends maps a model name to the raw backend the "fake" provider opens.
var fakeBackends sync.Map

func init() {
	RegisterProvider("fake", ProviderSpec{
		New: func(_ context.Context, pc ProviderConfig) (Backend, error) {
			b, ok := fakeBackends.Load(pc.Model)
			if !ok {
				return nil, fmt.Errorf("no fake backend %q", pc.Model)
			}
			return b.(Backend), nil
		},
		DefaultBaseURL: "http://fake.invalid/v1",
	})
}

// clock is a fake clock that Sleep advances.
type clock struct {
	mu    sync.Mutex
	t     time.Time
	slept []time.Duration
}

func newClock() *clock { return &clock{t: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.slept = append(c.slept, d)
	c.mu.Unlock()
	return nil
}

func (c *clock) total() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	var s time.Duration
	for _, d := range c.slept {
		s += d
	}
	return s
}

func openFake(t testing.TB, name string, raw Backend, cfg Config, opts Options) (*Client, *clock) {
	t.Helper()
	fakeBackends.Store(name, raw)
	t.Cleanup(func() { fakeBackends.Delete(name) })
	cfg.Ref = "fake/" + name
	clk := newClock()
	if opts.Sleep == nil {
		opts.Sleep = clk.Sleep
		opts.Now = clk.Now
	}
	opts.Rand = func() float64 { return 0.5 }
	c, _, err := open(context.Background(), name, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return c, clk
}

func okResponse(req Request, prompt, perSample int) *Response {
	r := &Response{Model: "fake-1", Usage: Usage{PromptTokens: prompt, CompletionTokens: perSample * max(req.N, 1)}}
	for i := range max(req.N, 1) {
		r.Choices = append(r.Choices, Choice{Text: fmt.Sprintf("s%d", i), FinishReason: FinishStop})
	}
	return r
}

var userMsg = []Message{{Role: "user", Content: "hello"}}

func TestAIMD(t *testing.T) {
	a := newAIMD(4, 16)
	ctx := context.Background()
	take := func(n int) []slot {
		var s []slot
		for range n {
			sl, err := a.acquire(ctx)
			if err != nil {
				t.Fatal(err)
			}
			s = append(s, sl)
		}
		return s
	}
	// Slow start: every success widens the window by one, up to the ceiling.
	for _, s := range take(4) {
		a.release(s, outcomeSuccess)
	}
	if l, _ := a.snapshot(); l != 8 {
		t.Fatalf("after 4 successes in slow start: limit %d, want 8", l)
	}
	// A burst of overloads from one window halves it once, not per answer.
	slots := take(8)
	for _, s := range slots {
		a.release(s, outcomeOverload)
	}
	if l, _ := a.snapshot(); l != 4 {
		t.Fatalf("after a window of 429s: limit %d, want 4", l)
	}
	// A request sent after the decrease can shrink it again.
	for _, s := range take(1) {
		a.release(s, outcomeOverload)
	}
	if l, _ := a.snapshot(); l != 2 {
		t.Fatalf("after a second overload: limit %d, want 2", l)
	}
	for range 3 {
		a.release(take(1)[0], outcomeOverload)
	}
	if l, _ := a.snapshot(); l != 1 {
		t.Fatalf("limit %d, want the floor 1", l)
	}
	// Additive increase: +1 per full window of successes, once the
	// window that overloaded is forgotten (see TestAIMDProbes).
	a.ceil, a.probes = 0, 0
	for want := 2; want <= 5; want++ {
		cur, _ := a.snapshot()
		for range cur {
			a.release(take(1)[0], outcomeSuccess)
		}
		if l, _ := a.snapshot(); l != want {
			t.Fatalf("limit %d, want %d", l, want)
		}
	}
	// Neutral failures change nothing; the window blocks when full.
	a.release(take(1)[0], outcomeNeutral)
	held := take(5)
	cctx, cancel := context.WithTimeout(ctx, 20*time.Millisecond)
	defer cancel()
	if _, err := a.acquire(cctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("acquire on a full window = %v, want to block until ctx ends", err)
	}
	for _, s := range held {
		a.release(s, outcomeSuccess)
	}
}

func TestAIMDCeiling(t *testing.T) {
	a := newAIMD(8, 3)
	if l, _ := a.snapshot(); l != 3 {
		t.Fatalf("initial limit %d, want the ceiling 3", l)
	}
	for range 20 {
		s, _ := a.acquire(context.Background())
		a.release(s, outcomeSuccess)
	}
	if l, _ := a.snapshot(); l != 3 {
		t.Fatalf("limit %d grew past the ceiling 3", l)
	}
}

func TestBudgetReserve(t *testing.T) {
	b := NewBudget(1.0)
	ctx := context.Background()
	if err := b.reserve(ctx, 0.6); err != nil {
		t.Fatal(err)
	}
	// 0.6 + 0.6 > 1 with a call in flight: the second waits for the first.
	done := make(chan error, 1)
	go func() { done <- b.reserve(ctx, 0.6) }()
	select {
	case err := <-done:
		t.Fatalf("second reserve returned %v while the first was in flight", err)
	case <-time.After(20 * time.Millisecond):
	}
	b.settle(0.6, 0.1) // the first call cost less than estimated
	if err := <-done; err != nil {
		t.Fatalf("second reserve after settle: %v", err)
	}
	b.settle(0.6, 0.95)
	if !b.Exceeded() || b.Spent() != 1.05 {
		t.Fatalf("spent %v, exceeded %v", b.Spent(), b.Exceeded())
	}
	if err := b.reserve(ctx, 0.01); !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("reserve on a spent budget = %v, want ErrBudgetExceeded", err)
	}
	var nilBudget *Budget
	if err := nilBudget.reserve(ctx, 1e9); err != nil {
		t.Fatalf("nil budget refused: %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		ms, ra string
		want   time.Duration
		ok     bool
	}{
		{"", "3", 3 * time.Second, true},
		{"", "1.5", 1500 * time.Millisecond, true},
		{"250", "3", 250 * time.Millisecond, true},
		{"", now.Add(7 * time.Second).Format(http.TimeFormat), 7 * time.Second, true},
		{"", now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"", "86400", maxServerWait, true},
		{"", "-1", 0, false},
		{"", "soon", 0, false},
		{"", "", 0, false},
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.ms, tt.ra, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("parseRetryAfter(%q, %q) = %v, %v; want %v, %v", tt.ms, tt.ra, got, ok, tt.want, tt.ok)
		}
	}
}

func TestClassify(t *testing.T) {
	now := time.Now()
	tests := []struct {
		name     string
		err      error
		retry    bool
		overload bool
	}{
		{"429", &HTTPError{Status: 429}, true, true},
		{"quota", &HTTPError{Status: 429, Code: "insufficient_quota"}, false, false},
		{"500", &HTTPError{Status: 500}, true, false},
		{"502", &HTTPError{Status: 502}, true, false},
		{"503", &HTTPError{Status: 503}, true, true},
		{"504", &HTTPError{Status: 504}, true, false},
		{"529", &HTTPError{Status: 529}, true, true},
		{"408", &HTTPError{Status: 408}, true, false},
		{"409", &HTTPError{Status: 409}, true, false},
		{"400", &HTTPError{Status: 400}, false, false},
		{"401", &HTTPError{Status: 401}, false, false},
		{"403", &HTTPError{Status: 403}, false, false},
		{"404", &HTTPError{Status: 404}, false, false},
		{"422", &HTTPError{Status: 422}, false, false},
		{"wrapped 503", fmt.Errorf("openai: %w", &HTTPError{Status: 503}), true, true},
		{"empty", ErrEmptyResponse, true, false},
		{"malformed", fmt.Errorf("x: %w: %w", ErrMalformedResponse, io.ErrUnexpectedEOF), true, false},
		{"timeout", context.DeadlineExceeded, true, true},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), true, false},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), true, false},
		{"eof", io.ErrUnexpectedEOF, true, false},
		{"other", errors.New("tls: bad certificate"), false, false},
	}
	for _, tt := range tests {
		f := classify(tt.err, now, "OPENAI_API_KEY")
		if f.retry != tt.retry || f.overload != tt.overload {
			t.Errorf("classify(%s) = retry %v overload %v; want %v %v", tt.name, f.retry, f.overload, tt.retry, tt.overload)
		}
	}
}

func TestRedact(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Incorrect API key provided: Bearer abc.def-123", "Incorrect API key provided: Bearer [REDACTED]"},
		{"key sk-proj-ABCDEF123456 is bad", "key [REDACTED] is bad"},
		{`{"x-api-key": "zzz-secret"}`, `{"x-api-key": "[REDACTED]"}`},
		{"my-own-secret-value here", "[REDACTED] here"},
		{"nothing to hide", "nothing to hide"},
	}
	for _, tt := range tests {
		if got := Redact(tt.in, "my-own-secret-value"); got != tt.want {
			t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCacheKeys(t *testing.T) {
	temp := 0.7
	base := Request{Messages: userMsg, N: 4, Temperature: &temp, MaxTokens: 100}
	k4 := CacheKeys("openai", "gpt-4o-mini", base)
	base.N = 8
	k8 := CacheKeys("openai", "gpt-4o-mini", base)
	if len(k4) != 4 || len(k8) != 8 {
		t.Fatalf("got %d and %d keys", len(k4), len(k8))
	}
	for i := range k4 {
		if k4[i] != k8[i] {
			t.Fatalf("sample %d: key differs between n=4 and n=8", i)
		}
	}
	seen := map[string]bool{}
	for _, k := range k8 {
		if seen[k] || len(k) != 64 {
			t.Fatalf("duplicate or malformed key %q", k)
		}
		seen[k] = true
	}
	differ := func(name string, r Request, provider, model string) {
		if CacheKeys(provider, model, r)[0] == k8[0] {
			t.Errorf("%s: same key", name)
		}
	}
	t2 := 0.8
	differ("temperature", Request{Messages: userMsg, Temperature: &t2, MaxTokens: 100}, "openai", "gpt-4o-mini")
	differ("max_tokens", Request{Messages: userMsg, Temperature: &temp, MaxTokens: 101}, "openai", "gpt-4o-mini")
	differ("model", Request{Messages: userMsg, Temperature: &temp, MaxTokens: 100}, "openai", "gpt-4o")
	differ("provider", Request{Messages: userMsg, Temperature: &temp, MaxTokens: 100}, "vllm", "gpt-4o-mini")
	differ("messages", Request{Messages: []Message{{Role: "user", Content: "hello!"}}, Temperature: &temp, MaxTokens: 100}, "openai", "gpt-4o-mini")
	// Schema layout does not matter, its content does.
	a := CacheKeys("p", "m", Request{Messages: userMsg, JSONSchema: []byte(`{"type":"object","properties":{"a":{}}}`)})
	b := CacheKeys("p", "m", Request{Messages: userMsg, JSONSchema: []byte(`{ "properties": {"a": {}}, "type": "object" }`)})
	if a[0] != b[0] {
		t.Error("schema key order changed the cache key")
	}
}

func TestEstimateTokens(t *testing.T) {
	en := estimateTokens([]Message{{Content: strings.Repeat("word ", 100)}})
	ja := estimateTokens([]Message{{Content: strings.Repeat("日本語", 100)}})
	if en < 100 || en > 140 || ja < 300 || ja > 310 {
		t.Errorf("estimates: english %d (want ~129), japanese %d (want ~304)", en, ja)
	}
}

func TestTPMCorrection(t *testing.T) {
	raw := funcBackend(func(_ context.Context, req Request) (*Response, error) { return okResponse(req, 10, 10), nil })
	c, clk := openFake(t, "tpm", raw, Config{TPM: 6000}, Options{}) // 100 tokens/s, burst 600
	ctx := context.Background()
	req := Request{Messages: userMsg, MaxTokens: 500}
	// Each call is estimated at ~506 tokens but uses 20: the difference is
	// handed back, so these calls never wait.
	for range 20 {
		if _, err := c.Generate(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	if w := clk.total(); w > 10*time.Second {
		t.Fatalf("waited %v for 20 calls of 20 tokens under 6000 TPM; the estimate was not corrected", w)
	}
	if got := c.tpm.TokensAt(clk.Now()); got < 200 {
		t.Fatalf("bucket holds %.0f tokens, want most of the 600 burst back", got)
	}
}

func TestBudgetStopsLayer(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	raw := funcBackend(func(_ context.Context, req Request) (*Response, error) {
		mu.Lock()
		calls++
		mu.Unlock()
		return okResponse(req, 1000, 1000), nil
	})
	// $1 per million tokens each way: a call costs $0.002.
	price := 1.0
	b := NewBudget(0.01)
	c, _ := openFake(t, "budget", raw, Config{PriceInput: &price, PriceOutput: &price}, Options{Budget: b})
	ctx := context.Background()
	var err error
	n := 0
	for ; n < 100; n++ {
		if _, err = c.Generate(ctx, Request{Messages: userMsg, MaxTokens: 1000}); err != nil {
			break
		}
	}
	if !errors.Is(err, ErrBudgetExceeded) {
		t.Fatalf("after %d calls: err = %v, want ErrBudgetExceeded", n, err)
	}
	if calls != 5 || n != 5 {
		t.Fatalf("%d calls sent, %d succeeded; want 5 ($0.01 / $0.002)", calls, n)
	}
	if _, err := c.Generate(ctx, Request{Messages: userMsg}); !errors.Is(err, ErrBudgetExceeded) || calls != 5 {
		t.Fatalf("a call after the budget was spent: err %v, calls %d", err, calls)
	}
	if s := c.Stats(); s.CostUSD < 0.0099 || s.CostUSD > 0.0101 {
		t.Fatalf("stats cost %v, want 0.01", s.CostUSD)
	}
}

func TestServerPauseHoldsEveryone(t *testing.T) {
	var mu sync.Mutex
	calls := 0
	raw := funcBackend(func(_ context.Context, req Request) (*Response, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		if calls == 1 {
			return nil, &HTTPError{Status: 429, RetryAfter: "20"}
		}
		return okResponse(req, 1, 1), nil
	})
	c, clk := openFake(t, "pause", raw, Config{}, Options{})
	if _, err := c.Generate(context.Background(), Request{Messages: userMsg}); err != nil {
		t.Fatal(err)
	}
	// Another caller right after is held back until the pause is over.
	before := clk.total()
	if _, err := c.Generate(context.Background(), Request{Messages: userMsg}); err != nil {
		t.Fatal(err)
	}
	if w := clk.total(); before < 20*time.Second || w != before {
		t.Fatalf("slept %v then %v; want >= 20s for the 429, nothing more once the pause is over", before, w)
	}
}

func TestCheckBypassesCache(t *testing.T) {
	calls := 0
	raw := funcBackend(func(_ context.Context, req Request) (*Response, error) {
		calls++
		return okResponse(req, 1, 1), nil
	})
	c, _ := openFake(t, "check", raw, Config{}, Options{Cache: newMemCache()})
	for range 2 {
		if r := Check(context.Background(), c); r.Err != nil || r.Reply != "s0" || r.Model != "fake-1" {
			t.Fatalf("Check = %+v", r)
		}
	}
	if calls != 2 {
		t.Fatalf("two checks sent %d requests; a check must not be answered from the cache", calls)
	}
}

// memCache is a map-backed Cache.
type memCache struct {
	mu   sync.Mutex
	m    map[string][]byte
	puts int
}

func newMemCache() *memCache { return &memCache{m: map[string][]byte{}} }

func (c *memCache) Get(_ context.Context, k string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	v, ok := c.m[k]
	return v, ok, nil
}

func (c *memCache) Put(_ context.Context, k string, v []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m[k] = v
	c.puts++
	return nil
}

// ctxCache refuses to work with a cancelled context, like a database would.
type ctxCache struct{ memCache }

func (c *ctxCache) Put(ctx context.Context, k string, v []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return c.memCache.Put(ctx, k, v)
}

func TestPaidAnswerCachedDuringCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	raw := funcBackend(func(_ context.Context, req Request) (*Response, error) {
		cancel() // Ctrl-C arrives just as the answer does
		return okResponse(req, 1, 1), nil
	})
	cache := &ctxCache{memCache: *newMemCache()}
	c, _ := openFake(t, "cancel", raw, Config{}, Options{Cache: cache})
	if _, err := c.Generate(ctx, Request{Messages: userMsg}); err != nil {
		t.Fatal(err)
	}
	if cache.puts != 1 {
		t.Fatalf("%d cache writes: the paid answer must be stored despite the cancel", cache.puts)
	}
}

// failingCache fails every call.
type failingCache struct{}

func (failingCache) Get(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("disk on fire")
}
func (failingCache) Put(context.Context, string, []byte) error { return errors.New("disk on fire") }

func TestBrokenCacheStillAnswers(t *testing.T) {
	raw := funcBackend(func(_ context.Context, req Request) (*Response, error) { return okResponse(req, 1, 1), nil })
	c, _ := openFake(t, "brokencache", raw, Config{}, Options{Cache: failingCache{}})
	resp, err := c.Generate(context.Background(), Request{Messages: userMsg, N: 2})
	if err != nil || len(resp.Choices) != 2 {
		t.Fatalf("Generate = %+v, %v", resp, err)
	}
}
