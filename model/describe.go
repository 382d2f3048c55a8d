package model

import (
	"fmt"
	"strings"
)

// Describe resolves what Open would build from cfg (price, limits,
// endpoints) without building it: no key is read and nothing is contacted.
// It serves estimates made before a run.
func Describe(name string, cfg Config) (Info, error) {
	if ps := cfg.problems(); len(ps) > 0 {
		return Info{}, fmt.Errorf("model: %s: %s", name, strings.Join(ps, "; "))
	}
	ref, _ := ParseRef(cfg.Ref)
	spec, err := providerSpec(name, ref)
	if err != nil {
		return Info{}, err
	}
	info := clientInfo(name, ref, cfg, spec)
	if eps := cfg.endpointList(); len(eps) > 1 {
		total := 0
		for _, e := range eps {
			total += cmp(e.MaxConcurrency, info.MaxConcurrency)
		}
		info.Endpoints, info.MaxConcurrency = len(eps), total
	}
	return info, nil
}

// cmp returns v, or def when v is 0.
func cmp(v, def int) int {
	if v > 0 {
		return v
	}
	return def
}

// SamplesPerRequest returns how many samples one request to provider can
// return: 0 for any number, 1 for providers whose n samples go as n requests.
func SamplesPerRequest(provider string) int {
	spec, ok := lookupProvider(provider)
	if !ok {
		spec, _ = lookupProvider("openai-compatible")
	}
	return spec.MaxN
}
