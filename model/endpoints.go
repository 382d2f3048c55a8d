package model

import (
	"fmt"
	"net/url"
	"strings"
)

// Endpoint is one server of a model that several servers serve alike (the
// `endpoints:` list of a model config):
//
//	models:
//	  teacher:
//	    ref: vllm/meta-llama/Llama-3.1-8B-Instruct
//	    endpoints:
//	      - base_url: http://gpu1:8000/v1
//	      - base_url: http://gpu2:8000/v1
//	        weight: 2            # twice gpu1's share when both are equally busy
//	        max_concurrency: 128
type Endpoint struct {
	BaseURL string `yaml:"base_url"`
	// Weight scales the endpoint's share of traffic (default 1): a request
	// goes where outstanding requests per unit of weight are fewest.
	Weight float64 `yaml:"weight"`
	// MaxConcurrency caps this endpoint's adaptive window (default: the
	// model's max_concurrency).
	MaxConcurrency int `yaml:"max_concurrency"`
	// APIKeyEnv names the variable holding this endpoint's key (default: the model's).
	APIKeyEnv string `yaml:"api_key_env"`
}

// endpointList returns the config's endpoints: those of `endpoints:`, one per
// `base_urls:` entry, or the single base_url (possibly "", the provider's
// default). Never empty.
func (c *Config) endpointList() []Endpoint {
	switch {
	case len(c.Endpoints) > 0:
		return c.Endpoints
	case len(c.BaseURLs) > 0:
		out := make([]Endpoint, len(c.BaseURLs))
		for i, u := range c.BaseURLs {
			out[i] = Endpoint{BaseURL: u}
		}
		return out
	}
	return []Endpoint{{BaseURL: c.BaseURL}}
}

// hasBaseURL reports whether the config names any endpoint of its own.
func (c *Config) hasBaseURL() bool {
	return c.BaseURL != "" || len(c.BaseURLs) > 0 || len(c.Endpoints) > 0
}

// endpointProblems checks base_url, base_urls and endpoints.
func (c *Config) endpointProblems() []string {
	var errs []string
	add := func(format string, args ...any) { errs = append(errs, fmt.Sprintf(format, args...)) }
	set := 0
	for _, b := range []bool{c.BaseURL != "", len(c.BaseURLs) > 0, len(c.Endpoints) > 0} {
		if b {
			set++
		}
	}
	if set > 1 {
		add("set only one of base_url, base_urls and endpoints")
	}
	field := "base_url"
	switch {
	case len(c.Endpoints) > 0:
		field = "endpoints[%d].base_url"
	case len(c.BaseURLs) > 0:
		field = "base_urls[%d]"
	}
	seen := map[string]bool{}
	for i, e := range c.endpointList() {
		name := field
		if strings.Contains(field, "%d") {
			name = fmt.Sprintf(field, i)
		}
		if e.BaseURL == "" {
			if set > 0 && name != "base_url" {
				add("%s is empty", name)
			}
			continue
		}
		u, err := url.Parse(e.BaseURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			add("%s %q must be an absolute http(s) URL such as http://localhost:8000/v1", name, e.BaseURL)
		} else if u.User != nil {
			// Credentials in the URL would end up in logs and error messages.
			add("%s must not contain a user or password; put the key in the variable named by api_key_env", name)
		}
		norm := strings.TrimRight(e.BaseURL, "/")
		if seen[norm] {
			add("%s %q is listed twice", name, e.BaseURL)
		}
		seen[norm] = true
		if e.Weight < 0 || e.Weight != e.Weight {
			add("endpoints[%d].weight must be > 0 (0 means 1), got %v", i, e.Weight)
		}
		if e.MaxConcurrency < 0 || e.MaxConcurrency > 100000 {
			add("endpoints[%d].max_concurrency must be between 1 and 100000 (0 means the model's), got %d", i, e.MaxConcurrency)
		}
		if e.APIKeyEnv != "" && !envName.MatchString(e.APIKeyEnv) {
			add("endpoints[%d].api_key_env must name an environment variable, not hold the key itself", i)
		}
	}
	return errs
}
