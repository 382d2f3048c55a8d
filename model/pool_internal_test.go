package model

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
)

func TestEndpointConfig(t *testing.T) {
	tests := []struct {
		yaml string
		err  string // substring; "" = valid
		n    int    // endpoints when valid
	}{
		{"ref: vllm/m\nbase_urls: [http://a:8000/v1, http://b:8000/v1]", "", 2},
		{"ref: vllm/m\nendpoints: [{base_url: http://a/v1, weight: 2, max_concurrency: 8, api_key_env: KEY_A}, {base_url: http://b/v1}]", "", 2},
		{"ref: openai-compatible/m\nbase_urls: [http://a/v1]", "", 1},
		{"ref: vllm/m", "", 1},
		{"ref: vllm/m\nbase_url: http://a/v1\nbase_urls: [http://b/v1]", "set only one of", 0},
		{"ref: vllm/m\nbase_urls: [http://a/v1, http://a/v1/]", "listed twice", 0},
		{"ref: vllm/m\nbase_urls: [ftp://a]", "base_urls[0] \"ftp://a\" must be an absolute", 0},
		{"ref: vllm/m\nbase_urls: ['']", "base_urls[0] is empty", 0},
		{"ref: vllm/m\nendpoints: [{base_url: http://u:p@a/v1}]", "must not contain a user", 0},
		{"ref: vllm/m\nendpoints: [{base_url: http://a/v1, weight: -1}]", "weight must be > 0", 0},
		{"ref: vllm/m\nendpoints: [{base_url: http://a/v1, api_key_env: sk-123}]", "must name an environment variable", 0},
		{"ref: openai-compatible/m", "needs base_url", 0},
	}
	for _, tt := range tests {
		var c Config
		if err := yaml.UnmarshalWithOptions([]byte(tt.yaml), &c, yaml.Strict()); err != nil {
			t.Fatalf("%s: %v", tt.yaml, err)
		}
		err := c.Validate()
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Validate(%s) = %v; want error containing %q", tt.yaml, err, tt.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Validate(%s) = %v", tt.yaml, err)
		} else if n := len(c.endpointList()); n != tt.n {
			t.Errorf("%s: %d endpoints, want %d", tt.yaml, n, tt.n)
		}
	}
}

func testPool(weights ...float64) (*pool, *time.Time) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var eps []*endpoint
	for i, w := range weights {
		eps = append(eps, &endpoint{url: string(rune('a' + i)), weight: w, aimd: newAIMD(8, 8)})
	}
	return newPool(eps, func() time.Time { return now }), &now
}

// TestPoolRouting checks least-outstanding routing by weight, the retry's
// preference for another endpoint, and ejection then readmission by a probe.
func TestPoolRouting(t *testing.T) {
	ctx := context.Background()
	p, now := testPool(1, 2)
	// Weight 2 takes two requests for each one of weight 1.
	var got []string
	for range 6 {
		l, err := p.acquire(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, l.ep.url)
	}
	if s := strings.Join(got, ""); strings.Count(s, "b") != 4 {
		t.Errorf("routing with weights 1, 2 over 6 outstanding: %s; want 4 on b", s)
	}
	p, now = testPool(1, 1)
	l, _ := p.acquire(ctx, nil)
	l2, _ := p.acquire(ctx, l.ep)
	if l2.ep == l.ep {
		t.Errorf("a retry avoiding %s went to it again", l.ep.url)
	}
	p.release(l2, outcomeNeutral, &failure{})
	// An unreachable endpoint is ejected at once; traffic goes to the other.
	p.release(l, outcomeNeutral, &failure{retry: true, transient: true, unreachable: true})
	bad := l.ep
	for range 3 {
		l, _ := p.acquire(ctx, nil)
		if l.ep == bad {
			t.Fatalf("ejected endpoint %s got a request", bad.url)
		}
		p.release(l, outcomeSuccess, nil)
	}
	// After the ejection, one probe goes to it; while it is out, nothing else.
	*now = now.Add(ejectBase + time.Millisecond)
	probe, _ := p.acquire(ctx, nil)
	if probe.ep != bad || !probe.probe {
		t.Fatalf("after the ejection: request to %s (probe %v), want the probe to %s", probe.ep.url, probe.probe, bad.url)
	}
	for range 3 {
		l, _ := p.acquire(ctx, nil)
		if l.ep == bad {
			t.Fatal("a second request went to an endpoint whose probe is out")
		}
		p.release(l, outcomeSuccess, nil)
	}
	// A failed probe ejects it for twice as long.
	p.release(probe, outcomeNeutral, &failure{retry: true, transient: true})
	if d := bad.ejectedUntil.Sub(*now); d != 2*ejectBase {
		t.Errorf("after a failed probe: ejected for %s, want %s", d, 2*ejectBase)
	}
	*now = now.Add(2*ejectBase + time.Millisecond)
	probe, _ = p.acquire(ctx, nil)
	p.release(probe, outcomeSuccess, nil)
	if !bad.admitted(*now) || bad.probing || bad.ejections != 0 {
		t.Errorf("after a good probe: admitted %v, probing %v, ejections %d", bad.admitted(*now), bad.probing, bad.ejections)
	}
	// When every endpoint is ejected, requests still go out.
	for _, e := range p.eps {
		e.ejectedUntil, e.probing = now.Add(time.Hour), true
	}
	if _, err := p.acquire(ctx, nil); err != nil {
		t.Fatal(err)
	}
}
