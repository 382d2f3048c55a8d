package model

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestParseRef(t *testing.T) {
	tests := []struct {
		in       string
		provider string
		model    string
		err      string // substring of the error; "" = ok
	}{
		{"openai/gpt-4o-mini", "openai", "gpt-4o-mini", ""},
		{"anthropic/claude-sonnet-4-5", "anthropic", "claude-sonnet-4-5", ""},
		{"ollama/llama3.1:8b", "ollama", "llama3.1:8b", ""},
		{"vllm/meta-llama/Llama-3.1-8B-Instruct", "vllm", "meta-llama/Llama-3.1-8B-Instruct", ""},
		{"OpenAI/GPT-4o", "openai", "GPT-4o", ""},
		{"openai-compatible/qwen2.5", "openai-compatible", "qwen2.5", ""},
		{"", "", "", "empty model ref"},
		{"   ", "", "", "empty model ref"},
		{"gpt-4o-mini", "", "", "has no provider"},
		{"openai/", "", "", "names no model"},
		{"/gpt-4o", "", "", "bad provider name"},
		{"open ai/gpt", "", "", "bad provider name"},
		{"openai/gpt 4o", "", "", "whitespace"},
		{"openai/gpt\n4o", "", "", "whitespace"},
	}
	for _, tt := range tests {
		got, err := ParseRef(tt.in)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseRef(%q) = %v, %v; want error containing %q", tt.in, got, err, tt.err)
			}
			continue
		}
		if err != nil || got.Provider != tt.provider || got.Model != tt.model {
			t.Errorf("ParseRef(%q) = %+v, %v; want %s/%s", tt.in, got, err, tt.provider, tt.model)
		}
	}
}

func FuzzParseRef(f *testing.F) {
	for _, s := range []string{"openai/gpt-4o-mini", "vllm/a/b/c", "x/", "/", "", "ollama/llama3.1:8b", "Ä/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseRef(s)
		if err != nil {
			return
		}
		if r.Provider == "" || r.Model == "" {
			t.Fatalf("ParseRef(%q) = %+v: empty part without error", s, r)
		}
		if !strings.EqualFold(r.String(), s) {
			t.Fatalf("ParseRef(%q).String() = %q: does not round-trip", s, r.String())
		}
		again, err := ParseRef(r.String())
		if err != nil || again != r {
			t.Fatalf("ParseRef(%q) = %+v, %v; want %+v", r.String(), again, err, r)
		}
	})
}

func f64(v float64) *float64 { return &v }

func TestConfigValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want []string // substrings the error must contain; none = valid
	}{
		{"minimal", Config{Ref: "openai/gpt-4o-mini"}, nil},
		{"full", Config{Ref: "ollama/llama3.1", BaseURL: "http://gpu1:11434/v1", RPM: 60, TPM: 1000,
			MaxConcurrency: 8, Timeout: Duration(time.Minute), MaxRetries: 3, PriceInput: f64(0), PriceOutput: f64(0),
			DropParams: []string{"seed"}}, nil},
		{"unknown provider with base_url", Config{Ref: "together/llama", BaseURL: "https://api.together.xyz/v1"}, nil},
		{"no ref", Config{}, []string{"empty model ref"}},
		{"typo provider", Config{Ref: "opena/gpt-4o"}, []string{`unknown provider "opena"`, `did you mean "openai"`}},
		{"compatible needs url", Config{Ref: "openai-compatible/x"}, []string{"needs base_url"}},
		{"bad url", Config{Ref: "vllm/x", BaseURL: "localhost:8000"}, []string{"absolute http(s) URL"}},
		{"creds in url", Config{Ref: "vllm/x", BaseURL: "http://u:pw@host/v1"}, []string{"must not contain a user or password"}},
		{"key in env field", Config{Ref: "openai/x", APIKeyEnv: "sk-abc123 secret"}, []string{"api_key_env must name an environment variable"}},
		{"negatives", Config{Ref: "openai/x", RPM: -1, TPM: -2, MaxConcurrency: -3, Timeout: -1, MaxRetries: -5},
			[]string{"rpm must be >= 0", "tpm must be >= 0", "max_concurrency", "timeout must be positive", "max_retries"}},
		{"negative price", Config{Ref: "openai/x", PriceInput: f64(-1)}, []string{"price_input must be >= 0"}},
		{"batch", Config{Ref: "anthropic/claude-haiku-4-5", Batch: true, BatchPoll: Duration(time.Minute)}, nil},
		{"batch without an API", Config{Ref: "vllm/x", Batch: true}, []string{`provider "vllm" has no batch API`}},
		{"negative batch_poll", Config{Ref: "openai/x", BatchPoll: -1}, []string{"batch_poll must be positive"}},
		{"drop typo", Config{Ref: "openai/x", DropParams: []string{"temprature"}}, []string{`unknown parameter "temprature"`, `did you mean "temperature"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("Validate() = nil, want errors %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("Validate() = %q, want it to contain %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "model: ") {
				t.Errorf("Validate() = %q, want the model: prefix", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("Validate() echoes a value that may be a key: %q", err)
			}
		})
	}
}

func TestConfigYAML(t *testing.T) {
	src := `
ref: vllm/meta-llama/Llama-3.1-8B-Instruct
base_url: http://gpu1:8000/v1
timeout: 90s
rpm: 100
price_input: 0.5
drop_params: [seed]
`
	var c Config
	if err := yaml.UnmarshalWithOptions([]byte(src), &c, yaml.Strict()); err != nil {
		t.Fatal(err)
	}
	if c.Timeout.Std() != 90*time.Second || c.RPM != 100 || *c.PriceInput != 0.5 || c.PriceOutput != nil || c.DropParams[0] != "seed" {
		t.Fatalf("decoded %+v", c)
	}
	var bare Config
	if err := yaml.UnmarshalWithOptions([]byte("ref: openai/x\ntimeout: 45\n"), &bare, yaml.Strict()); err != nil || bare.Timeout.Std() != 45*time.Second {
		t.Fatalf("timeout: 45 decoded as %v, %v; want 45s", bare.Timeout.Std(), err)
	}
	if err := yaml.UnmarshalWithOptions([]byte("ref: openai/x\nrpmm: 3\n"), &c, yaml.Strict()); err == nil {
		t.Fatal("strict decoding accepted an unknown key")
	}
	for in, want := range map[string]time.Duration{`"60s"`: time.Minute, `"2m30s"`: 150 * time.Second, `"45"`: 45 * time.Second, `"0.5"`: 500 * time.Millisecond} {
		var d Duration
		if err := json.Unmarshal([]byte(in), &d); err != nil || d.Std() != want {
			t.Errorf("Duration from %s = %v, %v; want %v", in, d.Std(), err, want)
		}
	}
	var d Duration
	if err := d.UnmarshalText([]byte("soon")); err == nil || !strings.Contains(err.Error(), `"60s"`) {
		t.Errorf("UnmarshalText(soon) = %v, want a hint", err)
	}
}

func TestLookupPrice(t *testing.T) {
	tests := []struct {
		provider, model string
		want            Price
		ok              bool
	}{
		{"openai", "gpt-4o-mini", Price{0.15, 0.60, 0.075, 0}, true},
		{"openai", "gpt-4o-mini-2024-07-18", Price{0.15, 0.60, 0.075, 0}, true},
		{"openai", "gpt-4o-2024-08-06", Price{2.5, 10, 1.25, 0}, true},
		{"openai", "o3-mini", Price{1.1, 4.4, 0.55, 0}, true},
		{"openai", "gpt-4omni", Price{}, false},
		{"openai", "gpt-4o-minimal", Price{2.5, 10, 1.25, 0}, true}, // a gpt-4o variant by the prefix rule
		{"anthropic", "claude-sonnet-4-5-20250929", Price{3, 15, 0.3, 3.75}, true},
		{"anthropic", "claude-3-5-haiku-latest", Price{0.8, 4, 0.08, 1}, true},
		{"ollama", "llama3.1", Price{}, false},
	}
	for _, tt := range tests {
		got, ok := LookupPrice(tt.provider, tt.model)
		if got != tt.want || ok != tt.ok {
			t.Errorf("LookupPrice(%s, %s) = %v, %v; want %v, %v", tt.provider, tt.model, got, ok, tt.want, tt.ok)
		}
	}
	costs := []struct {
		p    Price
		u    Usage
		want float64
	}{
		{Price{Input: 2, Output: 8}, Usage{PromptTokens: 1_000_000, CompletionTokens: 500_000}, 6},
		// Cached tokens at the cached rate, the rest at the input rate.
		{Price{Input: 2, Output: 8, CachedInput: 0.5}, Usage{PromptTokens: 1_000_000, CachedPromptTokens: 600_000}, 0.8 + 0.3},
		// No cached rate known: cached tokens cost full input.
		{Price{Input: 2, Output: 8}, Usage{PromptTokens: 1_000_000, CachedPromptTokens: 600_000}, 2},
		// Anthropic: reads 0.1x, writes 1.25x of $3.
		{Price{3, 15, 0.3, 3.75}, Usage{PromptTokens: 1_000_000, CachedPromptTokens: 500_000, CacheWriteTokens: 400_000}, 0.3 + 0.15 + 1.5},
	}
	for _, c := range costs {
		if got := c.p.Cost(c.u); math.Abs(got-c.want) > 1e-9 {
			t.Errorf("%+v.Cost(%+v) = %v, want %v", c.p, c.u, got, c.want)
		}
	}
}
