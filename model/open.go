package model

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strings"
	"time"

	"golang.org/x/time/rate"

	"github.com/synthloop/synthloop/internal/h1"
)

// Options are the run-wide dependencies of every backend Open builds.
type Options struct {
	// Cache stores responses per sample; nil disables caching.
	Cache Cache
	// Batches keeps provider batches (usually the run store, like Cache);
	// a model can use its provider's batch API only with both set.
	Batches BatchStore
	// Budget is shared by all backends of a run; nil means unlimited.
	Budget *Budget
	// HTTPClient, when set, is used for every request. It should have no
	// Timeout: the layer applies the per-request timeout itself. nil builds
	// one whose connection pool fits max_concurrency, and sends the plain
	// (not streamed) requests to http:// endpoints through internal/h1's
	// leaner transport (ProviderConfig.PlainClient).
	HTTPClient *http.Client
	// Getenv reads the API key variable; nil means os.Getenv.
	Getenv func(string) string
	// APIKey, when set, is used instead of the environment (e.g. from a flag).
	APIKey string
	// Sleep waits d or until ctx ends (backoff and rate-limit waits); nil
	// means a real timer. Tests inject a fake so backoff does not really wait.
	Sleep func(ctx context.Context, d time.Duration) error
	// Now is the clock for rate limits and Retry-After dates; nil = time.Now.
	Now func() time.Time
	// Rand returns a number in [0, 1) for backoff jitter; nil = math/rand/v2.
	Rand func() float64
	// Log receives retries (Debug) and cache trouble (Warn); nil discards.
	Log *slog.Logger
}

// Info describes an opened backend, for provenance and `synthloop models`.
type Info struct {
	Name     string // the config's name, e.g. "teacher"
	Provider string // e.g. "openai"
	Model    string // e.g. "gpt-4o-mini"
	BaseURL  string // the first endpoint's
	// Endpoints counts the model's endpoints when it has several (0 for one);
	// Client.Stats lists them.
	Endpoints int
	// Price is what the layer charges per million tokens; PriceKnown is false
	// when neither the table nor the config knows it (cost is then reported as 0).
	Price      Price
	PriceKnown bool
	Free       bool // a local server: nothing is paid
	// The effective limits after defaults.
	MaxConcurrency int
	Timeout        time.Duration
	MaxRetries     int
	RPM, TPM       int
}

// Open builds the backend named name from cfg: the provider's raw backend
// wrapped in the reliability layer (cache, budget, rate limits, adaptive
// concurrency, per-request timeout, retries, accounting). Providers come from
// the registry, so the program must import the provider packages it needs,
// usually through package all, which registers every provider, stage and
// loop plugin:
//
//	import _ "github.com/synthloop/synthloop/all"
//
// or one by one:
//
//	import (
//		_ "github.com/synthloop/synthloop/model/anthropic"
//		_ "github.com/synthloop/synthloop/model/openai" // also ollama, vllm, openai-compatible, ...
//	)
//
// The returned Backend is a *Client; its Stats feed progress displays.
func Open(ctx context.Context, name string, cfg Config, opts Options) (Backend, Info, error) {
	c, info, err := open(ctx, name, cfg, opts)
	if err != nil {
		return nil, Info{}, err
	}
	return c, info, nil
}

func open(ctx context.Context, name string, cfg Config, opts Options) (*Client, Info, error) {
	if ps := cfg.problems(); len(ps) > 0 {
		return nil, Info{}, fmt.Errorf("model: %s: %s", name, strings.Join(ps, "; "))
	}
	ref, _ := ParseRef(cfg.Ref)
	spec, err := providerSpec(name, ref)
	if err != nil {
		return nil, Info{}, err
	}
	key, keyEnv, err := apiKey(name, ref, cfg, spec, opts)
	if err != nil {
		return nil, Info{}, err
	}
	info := clientInfo(name, ref, cfg, spec)

	log := opts.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if !info.PriceKnown && opts.Budget != nil {
		log.Warn("model: no price known for this model, so its cost counts as 0 against max_cost_usd; set price_input and price_output",
			"model", name, "ref", ref.String())
	}

	hc, plain := opts.HTTPClient, (*http.Client)(nil)
	if hc == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		// The default of 2 idle connections per host would make most of a
		// wide concurrency window reconnect on every request.
		tr.MaxIdleConnsPerHost = info.MaxConcurrency
		hc = &http.Client{Transport: tr}
		plain = &http.Client{Transport: &h1.Transport{Fallback: tr, Proxy: tr.Proxy, MaxIdlePerHost: info.MaxConcurrency}}
	}
	pc := ProviderConfig{
		Name: name, Provider: ref.Provider, Model: ref.Model, BaseURL: info.BaseURL, APIKey: key,
		HTTPClient: hc, PlainClient: plain, Timeout: info.Timeout, DropParams: cfg.DropParams, Stream: cfg.Stream, Log: log,
	}
	eps, keys, err := openEndpoints(ctx, name, ref, cfg, spec, pc, opts, info.MaxConcurrency)
	if err != nil {
		return nil, Info{}, err
	}
	if len(eps) > 1 {
		info.MaxConcurrency, info.Endpoints = 0, len(eps)
		for _, e := range eps {
			info.MaxConcurrency += e.aimd.max
		}
	}

	c := &Client{
		info: info, ref: ref, keyEnv: keyEnv,
		redact: func(s string) string { return Redact(s, keys...) },
		cache:  opts.Cache, budget: opts.Budget, log: log,
		maxN: spec.MaxN, timeout: info.Timeout, maxRetries: info.MaxRetries,
		sleep: opts.Sleep, now: opts.Now, rand: opts.Rand,
		thinkTags: cfg.ThinkTags == nil || *cfg.ThinkTags,
	}
	if c.sleep == nil {
		c.sleep = sleepCtx
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.rand == nil {
		c.rand = rand.Float64
	}
	if err := c.openBatches(ctx, cfg, spec, pc, opts); err != nil {
		return nil, Info{}, err
	}
	c.pool = newPool(eps, c.now)
	c.pool.saturation = saturationFactor(cfg, spec)
	// Bursts of a tenth of a minute: enough to start a window of requests at
	// once without the minute's whole allowance arriving in one spike.
	if cfg.RPM > 0 {
		c.rpm = rate.NewLimiter(rate.Limit(float64(cfg.RPM)/60), max(1, cfg.RPM/10))
	}
	if cfg.TPM > 0 {
		c.tpm = rate.NewLimiter(rate.Limit(float64(cfg.TPM)/60), max(1, cfg.TPM/10))
	}
	return c, info, nil
}

// openEndpoints builds one raw backend per endpoint of cfg, each from pc
// with its own base URL and key. It returns them with every key in use, for
// redaction.
func openEndpoints(ctx context.Context, name string, ref Ref, cfg Config, spec ProviderSpec, pc ProviderConfig, opts Options, maxConc int) ([]*endpoint, []string, error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	keys := []string{pc.APIKey}
	var eps []*endpoint
	for _, e := range cfg.endpointList() {
		epc := pc
		if u := strings.TrimRight(e.BaseURL, "/"); u != "" {
			epc.BaseURL = u
		}
		if e.APIKeyEnv != "" && opts.APIKey == "" {
			epc.APIKey = strings.TrimSpace(getenv(e.APIKeyEnv))
			if epc.APIKey == "" {
				return nil, nil, fmt.Errorf("model: %s (%s): no API key for endpoint %s: set the environment variable %s", name, ref, epc.BaseURL, e.APIKeyEnv)
			}
			keys = append(keys, epc.APIKey)
		}
		raw, err := spec.New(ctx, epc)
		if err != nil {
			return nil, nil, fmt.Errorf("model: %s (%s): %s", name, ref, Redact(err.Error(), keys...))
		}
		conc := maxConc
		if e.MaxConcurrency > 0 {
			conc = e.MaxConcurrency
		}
		w := e.Weight
		if w <= 0 {
			w = 1
		}
		eps = append(eps, &endpoint{url: epc.BaseURL, raw: raw, weight: w, aimd: newAIMD(min(conc, 8), conc)})
	}
	return eps, keys, nil
}

// providerSpec finds the provider of ref among those linked into the program.
func providerSpec(name string, ref Ref) (ProviderSpec, error) {
	spec, ok := lookupProvider(ref.Provider)
	if !ok && !contains(builtinProviders, ref.Provider) {
		// Validate allowed an unknown provider only with a base_url: any
		// OpenAI-compatible service (Together, Groq, a company gateway...).
		spec, ok = lookupProvider("openai-compatible")
	}
	if !ok {
		pkg := "openai"
		switch ref.Provider {
		case "anthropic", "local":
			pkg = ref.Provider
		}
		return ProviderSpec{}, fmt.Errorf("model: %s: provider %q is not linked into this program (import _ \"github.com/synthloop/synthloop/model/%s\")", name, ref.Provider, pkg)
	}
	return spec, nil
}

// apiKey returns the key (opts.APIKey, else the key environment variable)
// and the variable's name, for error messages that say what to set.
func apiKey(name string, ref Ref, cfg Config, spec ProviderSpec, opts Options) (key, keyEnv string, err error) {
	getenv := opts.Getenv
	if getenv == nil {
		getenv = os.Getenv
	}
	keyEnv = cfg.APIKeyEnv
	if keyEnv == "" {
		keyEnv = spec.APIKeyEnv
	}
	key = opts.APIKey
	if key == "" && keyEnv != "" {
		key = strings.TrimSpace(getenv(keyEnv))
	}
	if key == "" && (spec.KeyRequired || cfg.APIKeyEnv != "") {
		return "", "", fmt.Errorf("model: %s (%s): no API key: set the environment variable %s", name, ref, keyEnv)
	}
	return key, keyEnv, nil
}

// clientInfo resolves what the client is: its endpoint, limits with their
// defaults, and its price (the config's over the built-in table).
func clientInfo(name string, ref Ref, cfg Config, spec ProviderSpec) Info {
	baseURL := strings.TrimRight(cfg.endpointList()[0].BaseURL, "/")
	if baseURL == "" {
		baseURL = spec.DefaultBaseURL
	}
	maxConc := cfg.MaxConcurrency
	if maxConc == 0 {
		maxConc = DefaultMaxConcurrency
	}
	timeout := cfg.Timeout.Std()
	if timeout == 0 {
		timeout = DefaultTimeout
	}
	retries := cfg.MaxRetries
	switch {
	case retries == 0:
		retries = DefaultMaxRetries
	case retries < 0:
		retries = 0
	}
	info := Info{
		Name: name, Provider: ref.Provider, Model: ref.Model, BaseURL: baseURL, Free: spec.Free,
		MaxConcurrency: maxConc, Timeout: timeout, MaxRetries: retries, RPM: cfg.RPM, TPM: cfg.TPM,
	}
	if spec.Free {
		info.PriceKnown = true
	} else {
		info.Price, info.PriceKnown = LookupPrice(ref.Provider, ref.Model)
	}
	if cfg.PriceInput != nil {
		info.Price = info.Price.withInput(*cfg.PriceInput)
	}
	if cfg.PriceCachedInput != nil {
		info.Price.CachedInput = *cfg.PriceCachedInput
	}
	if cfg.PriceOutput != nil {
		info.Price.Output = *cfg.PriceOutput
	}
	if cfg.PriceInput != nil && cfg.PriceOutput != nil {
		info.PriceKnown = true
	}
	return info
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// CheckResult is the outcome of Check.
type CheckResult struct {
	Latency time.Duration
	Model   string // as the server named it
	Reply   string
	Err     error
}

// Check sends one tiny request, bypassing the cache and without retries, and
// reports how long the answer took: the health check behind `synthloop models`.
func Check(ctx context.Context, b Backend) CheckResult {
	req := Request{Messages: []Message{{Role: "user", Content: "Reply with the single word: ok"}}, MaxTokens: 16}
	c, ok := b.(*Client)
	start := time.Now()
	var (
		resp *Response
		err  error
	)
	if ok {
		start = c.now()
		resp, err = c.generate(ctx, req, 0, false, false)
	} else {
		resp, err = b.Generate(ctx, req)
	}
	res := CheckResult{Err: err}
	if ok {
		res.Latency = c.now().Sub(start)
	} else {
		res.Latency = time.Since(start)
	}
	if err == nil && resp != nil {
		res.Model = resp.Model
		if len(resp.Choices) > 0 {
			res.Reply = resp.Choices[0].Text
		}
	}
	return res
}

var errNoMessages = errors.New("model: request has no messages")

// openBatches gives c its provider's batch API when the provider has one
// and the run keeps a store for it. Without a store (`synthloop models`,
// a program that opens a model by itself) a model with batch: true is
// asked live, like any other.
func (c *Client) openBatches(ctx context.Context, cfg Config, spec ProviderSpec, pc ProviderConfig, opts Options) error {
	if spec.Batch == nil || opts.Cache == nil || opts.Batches == nil {
		if cfg.Batch && spec.Batch != nil {
			c.log.Warn("model: batch: true, but this run keeps no batches (a preview, or no run store): requests go out one by one at the standard price", "model", c.info.Name)
		}
		return nil
	}
	c.batchAll = cfg.Batch
	api, err := spec.Batch(ctx, pc)
	if err != nil {
		return fmt.Errorf("model: %s (%s): batch API: %s", c.info.Name, c.ref, c.redact(err.Error()))
	}
	c.batch = newBatcher(c, api, opts.Batches, cfg.BatchPoll.Std())
	return nil
}
