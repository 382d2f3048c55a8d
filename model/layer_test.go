package model_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	_ "github.com/synthloop/synthloop/model/anthropic"
	"github.com/synthloop/synthloop/model/modeltest"
	_ "github.com/synthloop/synthloop/model/openai"
)

// clock is a fake clock that Sleep advances, so backoff costs no real time.
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

func (c *clock) Slept() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.slept...)
}

type memCache struct {
	mu sync.Mutex
	m  map[string][]byte
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
	return nil
}

func (c *memCache) Len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.m)
}

// open opens an openai-compatible backend on srv with a fake clock.
func open(t testing.TB, srv *modeltest.Server, cfg model.Config, opts model.Options) (*model.Client, *clock) {
	t.Helper()
	if cfg.Ref == "" {
		cfg.Ref = "openai-compatible/test-model"
	}
	if cfg.BaseURL == "" {
		cfg.BaseURL = srv.URL
	}
	clk := newClock()
	if opts.Sleep == nil {
		opts.Sleep, opts.Now = clk.Sleep, clk.Now
	}
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	b, _, err := model.Open(context.Background(), "test", cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b.(*model.Client), clk
}

func req(text string) model.Request {
	return model.Request{Messages: []model.Message{{Role: "user", Content: text}}}
}

func TestFaultsRecover(t *testing.T) {
	tests := []struct {
		name  string
		fault modeltest.Fault
	}{
		{"429 retry-after", modeltest.RateLimited("1")},
		{"429 bare", modeltest.RateLimited("")},
		{"408", modeltest.HTTPStatus(408)},
		{"409", modeltest.HTTPStatus(409)},
		{"500", modeltest.HTTPStatus(500)},
		{"502", modeltest.HTTPStatus(502)},
		{"503", modeltest.HTTPStatus(503)},
		{"504", modeltest.HTTPStatus(504)},
		{"529", modeltest.HTTPStatus(529)},
		{"stall past timeout", modeltest.StallFor(10 * time.Second)},
		{"reset", modeltest.Fault{Kind: modeltest.Reset}},
		{"truncated", modeltest.Fault{Kind: modeltest.Truncated}},
		{"malformed", modeltest.Fault{Kind: modeltest.Malformed}},
		{"empty choices", modeltest.Fault{Kind: modeltest.EmptyChoices}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.FirstAttempts(2, tt.fault)))
			defer srv.Close()
			timeout := 10 * time.Second // only the stall should time out, even on a loaded machine
			if tt.fault.Kind == modeltest.Stall {
				timeout = 100 * time.Millisecond
			}
			c, _ := open(t, srv, model.Config{Timeout: model.Duration(timeout)}, model.Options{})
			start := time.Now()
			resp, err := c.Generate(context.Background(), req("hi"))
			if err != nil {
				t.Fatalf("Generate: %v", err)
			}
			if len(resp.Choices) != 1 || resp.Choices[0].Text != "echo: hi" || resp.Choices[0].FinishReason != model.FinishStop {
				t.Fatalf("response %+v", resp)
			}
			if got := srv.Faults(tt.fault.Kind); got != 2 {
				t.Errorf("%d faults injected, want 2", got)
			}
			if s := c.Stats(); s.Retries != 2 || s.Failures != 0 {
				t.Errorf("stats %+v: want 2 retries, no failure", s)
			}
			if d := time.Since(start); d > 2*time.Second {
				t.Errorf("took %v: backoff must use the injected sleep", d)
			}
		})
	}
}

func TestFaultsExhaustRetries(t *testing.T) {
	tests := []struct {
		name  string
		fault modeltest.Fault
		want  string
	}{
		{"503", modeltest.HTTPStatus(503), "HTTP 503"},
		{"429", modeltest.RateLimited("2"), "HTTP 429"},
		{"stall", modeltest.StallFor(10 * time.Second), "no response within 50ms"},
		{"reset", modeltest.Fault{Kind: modeltest.Reset}, "reset"},
		{"malformed", modeltest.Fault{Kind: modeltest.Malformed}, "malformed response"},
		{"empty", modeltest.Fault{Kind: modeltest.EmptyChoices}, "no choices"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.Always(tt.fault)))
			defer srv.Close()
			timeout := 5 * time.Second // generous: only the stall should time out
			if tt.fault.Kind == modeltest.Stall {
				timeout = 50 * time.Millisecond
			}
			c, _ := open(t, srv, model.Config{MaxRetries: 2, Timeout: model.Duration(timeout)}, model.Options{})
			_, err := c.Generate(context.Background(), req("hi"))
			var me *model.Error
			if !errors.As(err, &me) {
				t.Fatalf("Generate = %v, want *model.Error", err)
			}
			msg := err.Error()
			for _, w := range []string{"gave up after 3 attempts", srv.URL, "openai-compatible/test-model", tt.want} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			if !me.Retryable || me.Attempts != 3 || !errors.Is(err, model.ErrUnavailable) {
				t.Errorf("Error %+v: want retryable after 3 attempts", me)
			}
			if n := srv.Requests(); (n < 3 && tt.fault.Kind != modeltest.Stall) || n > 4 { // Go's transport may resend once on a reset
				t.Errorf("%d requests, want 3", n)
			}
		})
	}
}

func TestNotRetried(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 422} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.Always(modeltest.HTTPStatus(code))))
			defer srv.Close()
			c, clk := open(t, srv, model.Config{}, model.Options{})
			_, err := c.Generate(context.Background(), req("hi"))
			var me *model.Error
			if !errors.As(err, &me) || me.Retryable || me.Status != code || errors.Is(err, model.ErrUnavailable) {
				t.Fatalf("Generate = %#v, want a non-retryable *model.Error with status %d", err, code)
			}
			if !strings.Contains(err.Error(), "not retried") || !strings.Contains(err.Error(), fmt.Sprintf("HTTP %d", code)) {
				t.Errorf("error %q", err)
			}
			if srv.Requests() != 1 || len(clk.Slept()) != 0 {
				t.Errorf("%d requests, %d sleeps; want 1 and none", srv.Requests(), len(clk.Slept()))
			}
		})
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	now := newClock().Now()
	tests := []struct {
		name       string
		retryAfter string
		want       time.Duration
	}{
		{"seconds", "7", 7 * time.Second},
		{"http date", now.Add(12 * time.Second).Format(http.TimeFormat), 12 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.FirstAttempts(1, modeltest.RateLimited(tt.retryAfter))))
			defer srv.Close()
			c, clk := open(t, srv, model.Config{}, model.Options{})
			if _, err := c.Generate(context.Background(), req("hi")); err != nil {
				t.Fatal(err)
			}
			slept := clk.Slept()
			if len(slept) != 1 || slept[0] < tt.want || slept[0] > tt.want+tt.want/10 {
				t.Fatalf("slept %v, want one wait of %v plus at most 10%%", slept, tt.want)
			}
			if s := c.Stats(); s.RateLimited != 1 {
				t.Errorf("RateLimited = %d, want 1", s.RateLimited)
			}
		})
	}
}

func TestBackoffGrows(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.FirstAttempts(5, modeltest.HTTPStatus(500))))
	defer srv.Close()
	c, clk := open(t, srv, model.Config{}, model.Options{})
	if _, err := c.Generate(context.Background(), req("hi")); err != nil {
		t.Fatal(err)
	}
	slept := clk.Slept()
	if len(slept) != 5 {
		t.Fatalf("slept %v, want 5 waits", slept)
	}
	for i, d := range slept {
		hi := 500 * time.Millisecond << i
		if d < hi/2 || d > hi {
			t.Errorf("wait %d = %v, want in [%v, %v]", i+1, d, hi/2, hi)
		}
	}
}

func TestAdaptiveConcurrencyUnder429(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithCapacity(4), modeltest.WithLatency(5*time.Millisecond))
	defer srv.Close()
	c, _ := open(t, srv, model.Config{MaxConcurrency: 32, MaxRetries: 50}, model.Options{})
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := range 200 {
		wg.Go(func() {
			if _, err := c.Generate(ctx, req(fmt.Sprint("q", i))); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	s := c.Stats()
	if s.RateLimited == 0 || s.Overloaded == 0 {
		t.Fatalf("stats %+v: the server at capacity 4 never said 429", s)
	}
	if s.Concurrency >= 32 {
		t.Fatalf("window %d did not shrink under 429s", s.Concurrency)
	}
	if s.Samples != 200 || s.InFlight != 0 {
		t.Fatalf("stats %+v", s)
	}
	// Successes widen the window again: past the window that last
	// overloaded only after some windows of them (a probe every 2^k
	// windows, k up to 6), so rounds of a full window are sent until it grows.
	before := s.Concurrency
	for round := 0; c.Stats().Concurrency <= before; round++ {
		if round > 66 {
			t.Fatalf("window %d did not grow in %d windows of successes", before, round)
		}
		var wg sync.WaitGroup
		for i := range before {
			wg.Go(func() {
				if _, err := c.Generate(ctx, req(fmt.Sprint("round", round, "-", i))); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
	}
}

func TestRPMLimiter(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo)
	defer srv.Close()
	// 60 RPM: one per second after a burst of 6.
	c, clk := open(t, srv, model.Config{RPM: 60}, model.Options{})
	for i := range 16 {
		if _, err := c.Generate(context.Background(), req(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	var total time.Duration
	for _, d := range clk.Slept() {
		total += d
	}
	if total < 9900*time.Millisecond || total > 10100*time.Millisecond {
		t.Fatalf("16 requests at 60 RPM (burst 6) waited %v, want 10s", total)
	}
}

func TestCacheReuse(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo)
	defer srv.Close()
	cache := newMemCache()
	price := 1000.0
	c, _ := open(t, srv, model.Config{PriceInput: &price, PriceOutput: &price}, model.Options{Cache: cache})
	ctx := context.Background()
	seed := int64(42)
	r := req("tell me")
	r.N, r.Seed = 4, &seed

	first, err := c.Generate(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if first.Cached || first.CostUSD <= 0 || len(first.Choices) != 4 || cache.Len() != 4 {
		t.Fatalf("first: %+v, %d cached entries", first, cache.Len())
	}
	again, err := c.Generate(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Requests() != 1 {
		t.Fatalf("repeat sent a request (%d total)", srv.Requests())
	}
	if !again.Cached || again.CostUSD != 0 || again.Usage != first.Usage {
		t.Fatalf("repeat: %+v; want cached, free, with the original usage %+v", again, first.Usage)
	}
	for i := range 4 {
		if !reflect.DeepEqual(again.Choices[i], first.Choices[i]) {
			t.Fatalf("sample %d: %+v != %+v", i, again.Choices[i], first.Choices[i])
		}
	}

	r.N = 8
	more, err := c.Generate(ctx, r)
	if err != nil {
		t.Fatal(err)
	}
	if srv.Requests() != 2 || more.Cached || len(more.Choices) != 8 {
		t.Fatalf("n=8 after n=4: %d requests, %+v", srv.Requests(), more)
	}
	last := srv.Log()[1]
	if last.N != 4 || last.Seed == nil || *last.Seed != 46 {
		t.Fatalf("n=8 after n=4 asked for n=%d seed=%v; want only the 4 missing samples, seed 42+4", last.N, last.Seed)
	}
	for i := range 4 {
		if !reflect.DeepEqual(more.Choices[i], first.Choices[i]) {
			t.Fatalf("sample %d changed", i)
		}
	}
	if c.Stats().CacheHits != 8 {
		t.Fatalf("cache hits %d, want 8", c.Stats().CacheHits)
	}
}

func TestShortAnswersCompleted(t *testing.T) {
	// A server that ignores n (one choice per call) still yields n samples.
	srv := modeltest.NewServer(func(r *modeltest.Request) modeltest.Reply {
		return modeltest.Reply{Choices: []modeltest.Choice{{Text: fmt.Sprint("seed ", *r.Seed)}}}
	})
	defer srv.Close()
	c, _ := open(t, srv, model.Config{}, model.Options{Cache: newMemCache()})
	seed := int64(7)
	r := req("x")
	r.N, r.Seed = 3, &seed
	resp, err := c.Generate(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	got := []string{resp.Choices[0].Text, resp.Choices[1].Text, resp.Choices[2].Text}
	if srv.Requests() != 3 || strings.Join(got, ",") != "seed 7,seed 8,seed 9" {
		t.Fatalf("%d requests, samples %q", srv.Requests(), got)
	}
}

func TestOllamaSplitsSamples(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo)
	defer srv.Close()
	c, info := openRef(t, "ollama/llama3.1", srv.URL, model.Options{})
	if !info.Free || info.BaseURL != srv.URL {
		t.Fatalf("info %+v", info)
	}
	r := req("x")
	r.N = 5
	resp, err := c.Generate(context.Background(), r)
	if err != nil || len(resp.Choices) != 5 || resp.CostUSD != 0 {
		t.Fatalf("Generate = %+v, %v", resp, err)
	}
	for _, l := range srv.Log() {
		if l.N != 1 {
			t.Fatalf("ollama request asked for n=%d; it ignores n, so each sample is its own call", l.N)
		}
	}
	if srv.Requests() != 5 {
		t.Fatalf("%d requests, want 5", srv.Requests())
	}
}

func openRef(t testing.TB, ref, url string, opts model.Options) (*model.Client, model.Info) {
	t.Helper()
	clk := newClock()
	opts.Sleep, opts.Now = clk.Sleep, clk.Now
	if opts.Getenv == nil {
		opts.Getenv = func(string) string { return "" }
	}
	b, info, err := model.Open(context.Background(), "m", model.Config{Ref: ref, BaseURL: url}, opts)
	if err != nil {
		t.Fatal(err)
	}
	return b.(*model.Client), info
}

func TestBudgetStopsWithoutSending(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo)
	defer srv.Close()
	price := 10000.0 // USD per million: each call costs about $0.1
	budget := model.NewBudget(0.5)
	c, _ := open(t, srv, model.Config{PriceInput: &price, PriceOutput: &price}, model.Options{Budget: budget})
	var err error
	calls := 0
	for ; calls < 100 && err == nil; calls++ {
		_, err = c.Generate(context.Background(), req("a question of some length"))
	}
	if !errors.Is(err, model.ErrBudgetExceeded) {
		t.Fatalf("err = %v, want ErrBudgetExceeded", err)
	}
	sent := srv.Requests()
	if sent >= calls || budget.Spent() < 0.5 || budget.Spent() > 0.7 {
		t.Fatalf("%d requests for %d calls, spent %v of 0.5", sent, calls, budget.Spent())
	}
	if _, err := c.Generate(context.Background(), req("another")); !errors.Is(err, model.ErrBudgetExceeded) || srv.Requests() != sent {
		t.Fatalf("after the budget: err %v, %d requests (was %d)", err, srv.Requests(), sent)
	}
}

func TestKeyNeverLeaks(t *testing.T) {
	const secret = "sk-test-SECRET0123456789abcdef"
	for _, provider := range []string{"openai", "anthropic"} {
		t.Run(provider, func(t *testing.T) {
			var srv *modeltest.Server
			if provider == "openai" {
				srv = modeltest.NewServer(modeltest.Echo, modeltest.WithAPIKey("the-right-key"))
			} else {
				srv = modeltest.NewAnthropicServer(modeltest.Echo, modeltest.WithAPIKey("the-right-key"))
			}
			defer srv.Close()
			var logs bytes.Buffer
			env := map[string]string{"OPENAI_API_KEY": secret, "ANTHROPIC_API_KEY": secret}
			opts := model.Options{
				Getenv: func(k string) string { return env[k] },
				Log:    slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
			}
			clk := newClock()
			opts.Sleep, opts.Now = clk.Sleep, clk.Now
			b, info, err := model.Open(context.Background(), "m", model.Config{Ref: provider + "/some-model", BaseURL: srv.URL}, opts)
			if err != nil {
				t.Fatal(err)
			}
			_, err = b.Generate(context.Background(), req("hi"))
			if err == nil {
				t.Fatal("wrong key accepted")
			}
			// The server did receive the key and quoted it back.
			if got := srv.Log()[0].Header; !strings.Contains(got.Get("Authorization")+got.Get("X-Api-Key"), secret) {
				t.Fatalf("the server did not get the key: %v", got)
			}
			texts := []string{err.Error(), fmt.Sprintf("%v %+v %#v", err, err, err), logs.String(), fmt.Sprintf("%+v %#v", info, info)}
			for e := errors.Unwrap(err); e != nil; e = errors.Unwrap(e) {
				texts = append(texts, e.Error())
			}
			for _, s := range texts {
				if strings.Contains(s, secret) || strings.Contains(s, "SECRET0123") {
					t.Fatalf("the key leaked: %s", s)
				}
			}
			if !strings.Contains(err.Error(), "401") || !strings.Contains(err.Error(), "[REDACTED]") {
				t.Fatalf("error %q: want the 401 with the quoted key redacted", err)
			}
		})
	}
}

func TestMissingKey(t *testing.T) {
	_, _, err := model.Open(context.Background(), "teacher", model.Config{Ref: "openai/gpt-4o-mini"},
		model.Options{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Fatalf("Open without a key = %v, want it to name OPENAI_API_KEY", err)
	}
	_, _, err = model.Open(context.Background(), "teacher", model.Config{Ref: "vllm/x", APIKeyEnv: "MY_VLLM_KEY"},
		model.Options{Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "MY_VLLM_KEY") {
		t.Fatalf("Open with an unset api_key_env = %v", err)
	}
	// Local servers need no key.
	if _, _, err := model.Open(context.Background(), "local", model.Config{Ref: "ollama/llama3.1"},
		model.Options{Getenv: func(string) string { return "" }}); err != nil {
		t.Fatalf("ollama without a key: %v", err)
	}
}

func TestBackendDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	url := "http://" + ln.Addr().String() + "/v1"
	ln.Close() // nothing listens there now
	clk := newClock()
	b, _, err := model.Open(context.Background(), "m", model.Config{Ref: "vllm/llama", BaseURL: url},
		model.Options{Sleep: clk.Sleep, Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	if r := model.Check(context.Background(), b); r.Err == nil || !strings.Contains(r.Err.Error(), "1 attempt") {
		t.Errorf("Check on a down backend = %+v, want one attempt and an error", r)
	}
	start := time.Now()
	_, err = b.Generate(context.Background(), req("hi"))
	if !errors.Is(err, model.ErrUnavailable) {
		t.Fatalf("Generate on a down backend = %v, want ErrUnavailable", err)
	}
	for _, w := range []string{url, "vllm/llama", "gave up after 7 attempts", "connection refused", "is the server running"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if time.Since(start) > 2*time.Second {
		t.Errorf("took %v", time.Since(start))
	}
	// The next calls fail at once instead of each waiting out the retries.
	slept := len(clk.Slept())
	_, err = b.Generate(context.Background(), req("again"))
	if !errors.Is(err, model.ErrUnavailable) || !strings.Contains(err.Error(), "failing fast") || len(clk.Slept()) != slept {
		t.Fatalf("second call: %v after %d more sleeps", err, len(clk.Slept())-slept)
	}
	// After the cooldown the backend is tried again.
	clk.Sleep(context.Background(), time.Minute)
	_, err = b.Generate(context.Background(), req("later"))
	if !strings.Contains(err.Error(), "gave up after 7 attempts") {
		t.Fatalf("after the cooldown: %v", err)
	}
}

func TestCancelDuringBackoff(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.Always(modeltest.HTTPStatus(503))))
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	opts := model.Options{Sleep: func(ctx context.Context, d time.Duration) error {
		cancel() // Ctrl-C while waiting to retry
		<-ctx.Done()
		return ctx.Err()
	}}
	c, _ := open(t, srv, model.Config{}, opts)
	_, err := c.Generate(ctx, req("hi"))
	if !errors.Is(err, context.Canceled) || srv.Requests() != 1 {
		t.Fatalf("err %v after %d requests; want context.Canceled after 1", err, srv.Requests())
	}
}

func TestCheck(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Texts("ok"), modeltest.WithLatency(20*time.Millisecond))
	defer srv.Close()
	b, _, err := model.Open(context.Background(), "m", model.Config{Ref: "vllm/test-model", BaseURL: srv.URL}, model.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := model.Check(context.Background(), b)
	if r.Err != nil || r.Reply != "ok" || r.Model != "test-model" || r.Latency < 20*time.Millisecond {
		t.Fatalf("Check = %+v", r)
	}
}

func TestConcurrentFaultsNothingLost(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithFaults(modeltest.Randomly(0.3, 1,
		modeltest.RateLimited("0"), modeltest.HTTPStatus(500), modeltest.Fault{Kind: modeltest.Reset},
		modeltest.Fault{Kind: modeltest.Truncated}, modeltest.Fault{Kind: modeltest.Malformed},
		modeltest.Fault{Kind: modeltest.EmptyChoices})))
	defer srv.Close()
	cache := newMemCache()
	c, _ := open(t, srv, model.Config{MaxRetries: 20}, model.Options{Cache: cache})
	var wg sync.WaitGroup
	results := make([]string, 100)
	errs := make([]error, 100)
	for i := range 100 {
		wg.Go(func() {
			r := req(fmt.Sprint("q", i))
			r.N = 2
			resp, err := c.Generate(context.Background(), r)
			errs[i] = err
			if err == nil {
				results[i] = resp.Choices[0].Text + "|" + resp.Choices[1].Text
			}
		})
	}
	wg.Wait()
	for i := range 100 {
		if errs[i] != nil || results[i] != fmt.Sprintf("echo: q%d|echo: q%d #1", i, i) {
			t.Fatalf("call %d: %q, %v", i, results[i], errs[i])
		}
	}
	if cache.Len() != 200 || c.Stats().Retries == 0 {
		t.Fatalf("%d cache entries (want 200), stats %+v", cache.Len(), c.Stats())
	}
}

func TestUnlinkedProvider(t *testing.T) {
	// "local" is known to Validate but registered by model/local, not linked here.
	cfg := model.Config{Ref: "local/runs/student"}
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	_, _, err := model.Open(context.Background(), "student", cfg, model.Options{})
	if err == nil || !strings.Contains(err.Error(), `import _ "github.com/synthloop/synthloop/model/local"`) {
		t.Fatalf("Open = %v, want the missing import named", err)
	}
	// An unknown provider with a base_url is an OpenAI-compatible service.
	srv := modeltest.NewServer(modeltest.Echo)
	defer srv.Close()
	b, info, err := model.Open(context.Background(), "g", model.Config{Ref: "together/llama-3", BaseURL: srv.URL}, model.Options{})
	if err != nil || info.Provider != "together" || info.PriceKnown || info.Free {
		t.Fatalf("Open = %+v, %v", info, err)
	}
	if _, err := b.Generate(context.Background(), req("hi")); err != nil {
		t.Fatal(err)
	}
}

func TestInfoDefaultsAndPrices(t *testing.T) {
	env := func(k string) string {
		return map[string]string{"OPENAI_API_KEY": "k-1234", "ANTHROPIC_API_KEY": "k-5678"}[k]
	}
	half := 0.5
	tests := []struct {
		cfg  model.Config
		want model.Info
	}{
		{model.Config{Ref: "openai/gpt-4o-mini-2024-07-18"}, model.Info{Provider: "openai", Model: "gpt-4o-mini-2024-07-18",
			BaseURL: "https://api.openai.com/v1", Price: model.Price{Input: 0.15, Output: 0.6, CachedInput: 0.075}, PriceKnown: true,
			MaxConcurrency: 64, Timeout: 120 * time.Second, MaxRetries: 6}},
		{model.Config{Ref: "anthropic/claude-sonnet-4-5", PriceInput: &half, MaxRetries: -1, MaxConcurrency: 4, Timeout: model.Duration(time.Minute)},
			model.Info{Provider: "anthropic", Model: "claude-sonnet-4-5", BaseURL: "https://api.anthropic.com",
				Price: model.Price{Input: 0.5, Output: 15, CachedInput: 0.05, CacheWrite: 0.625}, PriceKnown: true, MaxConcurrency: 4, Timeout: time.Minute, MaxRetries: 0}},
		{model.Config{Ref: "ollama/llama3.1", BaseURL: "http://gpu1:11434/v1/"}, model.Info{Provider: "ollama", Model: "llama3.1",
			BaseURL: "http://gpu1:11434/v1", PriceKnown: true, Free: true, MaxConcurrency: 64, Timeout: 120 * time.Second, MaxRetries: 6}},
		{model.Config{Ref: "vllm/Qwen/Qwen2.5-7B-Instruct", RPM: 100, TPM: 5000}, model.Info{Provider: "vllm", Model: "Qwen/Qwen2.5-7B-Instruct",
			BaseURL: "http://localhost:8000/v1", PriceKnown: true, Free: true, MaxConcurrency: 64, Timeout: 120 * time.Second, MaxRetries: 6, RPM: 100, TPM: 5000}},
	}
	for _, tt := range tests {
		_, info, err := model.Open(context.Background(), "x", tt.cfg, model.Options{Getenv: env})
		tt.want.Name = "x"
		if err != nil || info != tt.want {
			t.Errorf("Open(%s) info:\n got %+v, %v\nwant %+v", tt.cfg.Ref, info, err, tt.want)
		}
	}
}

func TestConcurrentIdenticalRequestsPaidOnce(t *testing.T) {
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithLatency(30*time.Millisecond))
	defer srv.Close()
	c, _ := open(t, srv, model.Config{}, model.Options{Cache: newMemCache()})
	var wg sync.WaitGroup
	var mu sync.Mutex
	cached := 0
	for range 10 {
		wg.Go(func() {
			r := req("same")
			r.N = 2
			resp, err := c.Generate(context.Background(), r)
			if err != nil || resp.Choices[1].Text != "echo: same #1" {
				t.Errorf("Generate = %+v, %v", resp, err)
				return
			}
			mu.Lock()
			if resp.Cached {
				cached++
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	if srv.Requests() != 1 || cached != 9 {
		t.Fatalf("%d requests, %d cached answers; want 1 request and 9 answers from the cache", srv.Requests(), cached)
	}
}
