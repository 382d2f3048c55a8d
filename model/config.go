package model

import (
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/synthloop/synthloop/internal/confkit"
)

// Defaults applied by Open when a Config leaves a field at zero.
const (
	DefaultMaxConcurrency = 64
	DefaultTimeout        = 120 * time.Second
	DefaultMaxRetries     = 6
)

// Config is one entry of a pipeline's `models:` section. Every field has a yaml
// tag because the pipeline loader decodes it strictly: an unknown key is an error.
//
//	models:
//	  teacher:
//	    ref: openai/gpt-4o-mini
//	    rpm: 500
//	    tpm: 200000
//	  local:
//	    ref: ollama/llama3.1
//	    timeout: 300s
type Config struct {
	// Ref names provider and model: "openai/gpt-4o-mini",
	// "anthropic/claude-sonnet-4-5", "ollama/llama3.1", "vllm/meta-llama/Llama-3.1-8B-Instruct",
	// "openai-compatible/NAME" (needs base_url). Any other provider name with a
	// base_url is treated as an OpenAI-compatible server.
	Ref string `yaml:"ref"`
	// BaseURL overrides the provider's default endpoint, e.g. http://gpu1:8000/v1.
	BaseURL string `yaml:"base_url"`
	// BaseURLs lists several servers of the same model (replicas): requests
	// are spread over them, see Endpoints. Use instead of base_url.
	BaseURLs []string `yaml:"base_urls"`
	// Endpoints is BaseURLs with per-endpoint weight, concurrency and key.
	Endpoints []Endpoint `yaml:"endpoints"`
	// APIKeyEnv names the environment variable that holds the key (never the key
	// itself). Defaults: OPENAI_API_KEY for openai, ANTHROPIC_API_KEY for anthropic;
	// local servers need none.
	APIKeyEnv string `yaml:"api_key_env"`
	// RPM and TPM cap requests and tokens per minute sent to this model; 0 = no cap.
	RPM int `yaml:"rpm"`
	TPM int `yaml:"tpm"`
	// MaxConcurrency is the ceiling of the adaptive (AIMD) concurrency window.
	MaxConcurrency int `yaml:"max_concurrency"`
	// Timeout bounds one HTTP attempt (default 120s).
	Timeout Duration `yaml:"timeout"`
	// MaxRetries is how many times a retryable failure is retried (default 6);
	// set -1 for no retries at all.
	MaxRetries int `yaml:"max_retries"`
	// PriceInput and PriceOutput override the built-in price table, in USD per
	// million prompt and completion tokens. Unset means "use the table".
	PriceInput  *float64 `yaml:"price_input"`
	PriceOutput *float64 `yaml:"price_output"`
	// PriceCachedInput is the price of prompt tokens served from the
	// provider's prompt cache (default: the table's cached rate, scaled
	// with price_input; the input price when none is known).
	PriceCachedInput *float64 `yaml:"price_cached_input"`
	// SaturationLatency shrinks an endpoint's concurrency window, as a 429
	// would, when its latency per output token rises above this multiple of
	// its recent minimum: the sign of a server that queues requests instead
	// of refusing them (vLLM, llama.cpp). Default 3 for local servers, off
	// (0) for hosted APIs, which answer 429 when saturated.
	SaturationLatency *float64 `yaml:"saturation_latency"`
	// DropParams lists decoding parameters never sent to this model, for servers
	// and models that reject them (e.g. [temperature, top_p] for reasoning models).
	// Valid names: temperature, top_p, seed, presence_penalty, stop, max_tokens,
	// reasoning_effort, thinking_budget.
	DropParams []string `yaml:"drop_params"`
	// ThinkTags, on by default, moves a leading <think>...</think> block of
	// an answer into the sample's reasoning when the server gave no
	// reasoning of its own. Set false for a model whose answers may
	// legitimately start with such a tag.
	ThinkTags *bool `yaml:"think_tags"`
	// Stream asks the server for a streamed answer and puts it back
	// together: for servers and proxies that only stream, and so that a
	// long reasoning answer keeps the connection busy instead of idle.
	Stream bool `yaml:"stream"`
	// Batch sends this model's requests through the provider's batch API
	// (OpenAI Batch, Anthropic Message Batches) at half the price: a
	// stage's requests are collected into batches, which finish within
	// 24 hours, instead of being sent one by one. A stage can ask for it
	// alone with its own batch: true.
	Batch bool `yaml:"batch"`
	// BatchPoll is how long to wait before the first look at a batch
	// (default 1m); the wait doubles after each look, up to 10m.
	BatchPoll Duration `yaml:"batch_poll"`
}

// Duration is a time.Duration that decodes from "90s", "2m", "1h30m" or a bare
// number of seconds, so YAML and JSON configs can write timeouts naturally.
type Duration time.Duration

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "" {
		*d = 0
		return nil
	}
	if secs, err := strconv.ParseFloat(s, 64); err == nil {
		if secs < 0 || secs > 1e9 {
			return fmt.Errorf("model: duration %q out of range", s)
		}
		*d = Duration(secs * float64(time.Second))
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("model: bad duration %q (write e.g. \"60s\" or \"2m\")", s)
	}
	*d = Duration(v)
	return nil
}

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// Std returns d as a time.Duration.
func (d Duration) Std() time.Duration { return time.Duration(d) }

// Ref is a parsed model reference.
type Ref struct {
	Provider string // lower case, e.g. "openai"
	Model    string // may itself contain slashes: "meta-llama/Llama-3.1-8B-Instruct"
}

func (r Ref) String() string { return r.Provider + "/" + r.Model }

var providerName = regexp.MustCompile(`^[a-z][a-z0-9._-]*$`)

// ParseRef splits "provider/model". The provider is the part before the first
// slash and is matched case-insensitively; the model is kept verbatim.
func ParseRef(s string) (Ref, error) {
	if strings.TrimSpace(s) == "" {
		return Ref{}, errors.New("model: empty model ref (write provider/model, e.g. openai/gpt-4o-mini)")
	}
	p, m, ok := strings.Cut(s, "/")
	if !ok {
		return Ref{}, fmt.Errorf("model: ref %q has no provider (write provider/model, e.g. openai/%s or ollama/%s)", s, s, s)
	}
	p = strings.ToLower(p)
	if !providerName.MatchString(p) {
		return Ref{}, fmt.Errorf("model: ref %q: bad provider name %q (letters, digits, '.', '_', '-')", s, p)
	}
	if m == "" {
		return Ref{}, fmt.Errorf("model: ref %q names no model after %q", s, p+"/")
	}
	for _, r := range m {
		if r <= ' ' || r == 0x7f {
			return Ref{}, fmt.Errorf("model: ref %q: model name contains whitespace or a control character", s)
		}
	}
	return Ref{Provider: p, Model: m}, nil
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

var dropNames = []string{"temperature", "top_p", "seed", "presence_penalty", "stop", "max_tokens", "reasoning_effort", "thinking_budget"}

// Validate checks the config without touching the network or the environment.
// It also accepts providers registered later (e.g. by the engine) as long as
// they are registered before Validate runs.
func (c *Config) Validate() error {
	var errs []error
	for _, m := range c.problems() {
		errs = append(errs, errors.New("model: "+m))
	}
	return errors.Join(errs...)
}

// problems lists what is wrong with c, one message each, without a prefix so
// Open can name the model in front of them.
func (c *Config) problems() []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	ref, err := ParseRef(c.Ref)
	if err != nil {
		errs = append(errs, strings.TrimPrefix(err.Error(), "model: "))
	} else if ok := knownProvider(ref.Provider); !ok && !c.hasBaseURL() {
		known := knownProviders()
		hint := ""
		if s := confkit.Closest(ref.Provider, known); s != "" {
			hint = fmt.Sprintf("; did you mean %q?", s)
		}
		add("ref %q: unknown provider %q (known: %s)%s; any OpenAI-compatible server works with base_url set",
			c.Ref, ref.Provider, strings.Join(known, ", "), hint)
	} else if ok && ref.Provider == "openai-compatible" && !c.hasBaseURL() {
		add("ref %q needs base_url (the server's OpenAI-compatible endpoint, e.g. http://host:8000/v1)", c.Ref)
	}
	if c.Batch && err == nil && !hasBatchAPI(ref.Provider) {
		add("batch: true: provider %q has no batch API (batches are OpenAI's and Anthropic's)", ref.Provider)
	}
	errs = append(errs, c.endpointProblems()...)
	if c.APIKeyEnv != "" && !envName.MatchString(c.APIKeyEnv) {
		// Never echo the value: it may be a key pasted into the wrong field.
		add("api_key_env must name an environment variable (like OPENAI_API_KEY), not hold the key itself")
	}
	if c.RPM < 0 {
		add("rpm must be >= 0 (0 means no limit), got %d", c.RPM)
	}
	if c.TPM < 0 {
		add("tpm must be >= 0 (0 means no limit), got %d", c.TPM)
	}
	if c.MaxConcurrency < 0 || c.MaxConcurrency > 100000 {
		add("max_concurrency must be between 1 and 100000 (0 means the default %d), got %d", DefaultMaxConcurrency, c.MaxConcurrency)
	}
	if c.BatchPoll < 0 {
		add("batch_poll must be positive, got %s", c.BatchPoll.Std())
	}
	if c.Timeout < 0 {
		add("timeout must be positive, got %s", c.Timeout.Std())
	}
	if s := c.SaturationLatency; s != nil && (*s != 0 && *s < 1.2 || *s > 100 || *s != *s) {
		add("saturation_latency must be 0 (off) or between 1.2 and 100, got %v", *s)
	}
	if c.MaxRetries < -1 || c.MaxRetries > 100 {
		add("max_retries must be between -1 (none) and 100 (0 means the default %d), got %d", DefaultMaxRetries, c.MaxRetries)
	}
	for name, p := range map[string]*float64{"price_input": c.PriceInput, "price_output": c.PriceOutput, "price_cached_input": c.PriceCachedInput} {
		if p != nil && (*p < 0 || *p != *p) {
			add("%s must be >= 0 USD per million tokens, got %v", name, *p)
		}
	}
	for _, d := range c.DropParams {
		if !contains(dropNames, d) {
			hint := ""
			if s := confkit.Closest(d, dropNames); s != "" {
				hint = fmt.Sprintf("; did you mean %q?", s)
			}
			add("drop_params: unknown parameter %q (valid: %s)%s", d, strings.Join(dropNames, ", "), hint)
		}
	}
	return errs
}

// builtinProviders are the names the provider packages register; Validate
// knows them even in a program that has not linked those packages (Open then
// says which import is missing).
var builtinProviders = []string{"anthropic", "llamacpp", "lmstudio", "local", "ollama", "openai", "openai-compatible", "tgi", "vllm"}

// hasBatchAPI reports whether provider has a batch API: OpenAI and
// Anthropic do, even in a program that has not linked their packages yet.
func hasBatchAPI(provider string) bool {
	if spec, ok := lookupProvider(provider); ok {
		return spec.Batch != nil
	}
	return provider == "openai" || provider == "anthropic"
}

func knownProvider(name string) bool {
	_, ok := lookupProvider(name)
	return ok || contains(builtinProviders, name)
}

func knownProviders() []string {
	out := Providers()
	for _, b := range builtinProviders {
		if !contains(out, b) {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
