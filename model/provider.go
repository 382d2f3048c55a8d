package model

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"time"

	"github.com/synthloop/synthloop/internal/confkit"
)

// ProviderConfig is what a provider factory gets from Open: everything resolved
// (defaults applied, key read from the environment). Factories must not log or
// return APIKey; String and LogValue leave it out so an accidental %v or slog
// attribute cannot leak it.
type ProviderConfig struct {
	Name       string // the config's name for this model, e.g. "teacher"
	Provider   string // e.g. "openai"
	Model      string // e.g. "gpt-4o-mini"
	BaseURL    string // resolved endpoint, "" only for providers that need none
	APIKey     string
	HTTPClient *http.Client
	// PlainClient, when set, is for requests whose reply is read whole
	// (never a stream) to the same endpoints: Open sets it, with
	// HTTPClient's transport behind a leaner one for plain-http endpoints
	// (internal/h1), when the caller set no HTTPClient of its own.
	PlainClient *http.Client
	// Timeout is the per-attempt timeout the layer enforces through ctx; an SDK
	// with its own default timeout should be given this value.
	Timeout    time.Duration
	DropParams []string // decoding parameters to leave out of the wire request
	// Stream asks for a streamed answer, accumulated into one Response.
	Stream bool
	Log    *slog.Logger
}

// Drops reports whether parameter p (a Config.DropParams name) must not be sent.
func (pc ProviderConfig) Drops(p string) bool { return slices.Contains(pc.DropParams, p) }

// Redact removes the API key (and anything that looks like a bearer token) from s.
func (pc ProviderConfig) Redact(s string) string { return Redact(s, pc.APIKey) }

func (pc ProviderConfig) String() string {
	return fmt.Sprintf("%s (%s/%s at %s)", pc.Name, pc.Provider, pc.Model, pc.BaseURL)
}

// GoString keeps %#v from printing the key.
func (pc ProviderConfig) GoString() string { return "model.ProviderConfig{" + pc.String() + "}" }

// LogValue implements slog.LogValuer without the key.
func (pc ProviderConfig) LogValue() slog.Value {
	return slog.GroupValue(slog.String("name", pc.Name), slog.String("provider", pc.Provider),
		slog.String("model", pc.Model), slog.String("base_url", pc.BaseURL))
}

// ProviderSpec declares a provider to the registry.
type ProviderSpec struct {
	// New builds the raw backend. It must send one request per Generate call
	// (or MaxN-sized pieces, see below) and never retry: the layer Open wraps
	// around it retries, limits and caches for every provider alike. Non-2xx
	// answers should be returned as *HTTPError (see NewHTTPError), undecodable
	// 2xx bodies wrapped with ErrMalformedResponse.
	New func(ctx context.Context, pc ProviderConfig) (Backend, error)
	// DefaultBaseURL is used when the config has no base_url.
	DefaultBaseURL string
	// APIKeyEnv is the default environment variable for the key ("" = none).
	APIKeyEnv string
	// KeyRequired makes Open fail early, with a clear message, when no key is set.
	KeyRequired bool
	// Free marks local servers: no price, cost 0.
	Free bool
	// Batch, when set, builds the provider's batch API (OpenAI Batch,
	// Anthropic Message Batches) for models with batch: true, or stages
	// that ask for batches.
	Batch func(ctx context.Context, pc ProviderConfig) (BatchAPI, error)
	// MaxN is the most samples one call can return; 0 means unlimited. With
	// MaxN 1 the layer sends a request of n samples as n parallel calls, each
	// retried and cached on its own (Anthropic has no n; Ollama ignores it).
	MaxN int
}

var providers = confkit.NewRegistry[ProviderSpec]("model provider")

// RegisterProvider makes a provider available to Open and Config.Validate under
// name (the part of a ref before the slash). Providers register from an init
// function; registering a name twice panics, like database/sql drivers.
func RegisterProvider(name string, spec ProviderSpec) {
	if !providerName.MatchString(name) {
		panic(fmt.Sprintf("model: RegisterProvider: bad name %q", name))
	}
	if spec.New == nil {
		panic("model: RegisterProvider " + name + ": nil New")
	}
	providers.Register(name, spec)
}

// Providers lists the registered provider names, sorted.
func Providers() []string { return providers.Names() }

func lookupProvider(name string) (ProviderSpec, bool) { return providers.Lookup(name) }

// Client returns the HTTP client the provider is to use: HTTPClient, or
// http.DefaultClient when the caller set none.
func (pc ProviderConfig) Client() *http.Client {
	if pc.HTTPClient == nil {
		return http.DefaultClient
	}
	return pc.HTTPClient
}

// StatusMiddleware is the HTTP middleware an SDK-based provider installs
// (it is the SDKs' option.Middleware): an error status becomes an
// *HTTPError, see StatusError.
func (pc ProviderConfig) StatusMiddleware() func(*http.Request, func(*http.Request) (*http.Response, error)) (*http.Response, error) {
	return func(req *http.Request, next func(*http.Request) (*http.Response, error)) (*http.Response, error) {
		res, err := next(req)
		return StatusError(res, err, pc.APIKey)
	}
}
