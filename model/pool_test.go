package model_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// TestPoolKilledAndSlowEndpoints runs requests over four endpoints of one
// model while one is slow and another is killed mid-run and brought back:
// every request is answered, the slow endpoint gets less traffic than each
// fast one that stayed up, and the killed one takes traffic again after it returns.
func TestPoolKilledAndSlowEndpoints(t *testing.T) {
	defer model.SetEject(20*time.Millisecond, 100*time.Millisecond)()
	latency := []time.Duration{2 * time.Millisecond, 2 * time.Millisecond, 30 * time.Millisecond, 2 * time.Millisecond}
	const killed, slow = 1, 2
	var srvs []*modeltest.Server
	var proxies []*modeltest.Proxy
	var urls []string
	for _, l := range latency {
		srv := modeltest.NewServer(modeltest.Echo, modeltest.WithLatency(l))
		defer srv.Close()
		p, err := modeltest.NewProxy(srv)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		srvs, proxies, urls = append(srvs, srv), append(proxies, p), append(urls, p.URL)
	}
	cfg := model.Config{Ref: "openai-compatible/test", BaseURLs: urls, MaxConcurrency: 4}
	b, info, err := model.Open(context.Background(), "pool", cfg, model.Options{
		Sleep: func(ctx context.Context, d time.Duration) error { return ctx.Err() }, // backoff costs no time
	})
	if err != nil {
		t.Fatal(err)
	}
	if info.Endpoints != 4 || info.MaxConcurrency != 16 {
		t.Fatalf("info: %d endpoints, max concurrency %d; want 4, 16", info.Endpoints, info.MaxConcurrency)
	}

	const total, workers = 600, 16
	var done atomic.Int64
	var atRevive int
	next := make(chan int)
	go func() {
		for i := range total {
			next <- i
		}
		close(next)
	}()
	var killOnce, reviveOnce sync.Once
	errs := make(chan error, total)
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				prompt := fmt.Sprintf("prompt %d", i)
				r, err := b.Generate(context.Background(), model.Request{Messages: []model.Message{{Role: "user", Content: prompt}}})
				if err != nil {
					errs <- fmt.Errorf("request %d: %w", i, err)
					continue
				}
				if got, want := r.Choices[0].Text, "echo: "+prompt; got != want {
					errs <- fmt.Errorf("request %d: got %q, want %q", i, got, want)
				}
				switch n := done.Add(1); {
				case n == total/4:
					killOnce.Do(func() { proxies[killed].Kill() })
				case n == total/2:
					reviveOnce.Do(func() {
						atRevive = srvs[killed].Requests()
						if err := proxies[killed].Revive(); err != nil {
							errs <- err
						}
					})
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	var counts []int
	for _, s := range srvs {
		counts = append(counts, s.Requests())
	}
	t.Logf("requests per endpoint (fast, killed, slow, fast): %v; killed one had %d when revived", counts, atRevive)
	for i, c := range counts {
		if i != slow && i != killed && counts[slow] >= c {
			t.Errorf("slow endpoint got %d requests, endpoint %d %d: want fewer", counts[slow], i, c)
		}
	}
	if counts[killed] <= atRevive {
		t.Errorf("killed endpoint: %d requests at revival, %d at the end: it was never readmitted", atRevive, counts[killed])
	}
	st := b.(model.StatsSource).Stats()
	if len(st.Endpoints) != 4 {
		t.Fatalf("Stats.Endpoints: %d entries, want 4", len(st.Endpoints))
	}
	var sum int64
	for _, e := range st.Endpoints {
		sum += e.Requests
	}
	if sum != st.Requests {
		t.Errorf("endpoint requests add up to %d, Stats.Requests %d", sum, st.Requests)
	}
	if st.Failures != 0 || st.Samples != total {
		t.Errorf("stats: %d failures, %d samples; want 0, %d", st.Failures, st.Samples, total)
	}
}
