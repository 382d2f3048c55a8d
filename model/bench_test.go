package model_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/openai"
)

// BenchmarkInstantServer measures a whole call over loopback HTTP to a server
// that answers at once: the SDK alone, then the SDK behind the layer.
//
//	go test ./model -run '^$' -bench BenchmarkInstantServer -benchmem
func BenchmarkInstantServer(b *testing.B) {
	srv := modeltest.NewServer(modeltest.Echo)
	defer srv.Close()
	ctx := context.Background()
	r := func(i int) model.Request {
		return model.Request{Messages: []model.Message{{Role: "user", Content: "question " + strconv.Itoa(i)}}}
	}
	b.Run("sdk", func(b *testing.B) {
		raw, err := openai.New(ctx, model.ProviderConfig{Provider: "vllm", Model: "test-model", BaseURL: srv.URL})
		if err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := raw.Generate(ctx, r(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("layer", func(b *testing.B) {
		c, _ := open(b, srv, model.Config{Ref: "vllm/test-model"}, model.Options{Cache: newMemCache()})
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			if _, err := c.Generate(ctx, r(i)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkCapacity runs b.N requests from 256 callers through the layer
// against a server that serves 32 requests at a time, each for 100 ms, and
// answers 429 (Retry-After: 0) to any beyond them: capacity/latency is
// 320 requests/s. It reports the requests/s reached, as a share of that,
// the 429s per request, and the server's occupancy: the mean number of
// requests it served at once over its capacity, which says how full the
// adaptive window kept it even when a loaded machine stretches the 100 ms.
//
//	go test ./model -run '^$' -bench Capacity -benchtime 3200x
func BenchmarkCapacity(b *testing.B) {
	const capacity, latency, callers = 32, 100 * time.Millisecond, 256
	srv := modeltest.NewServer(modeltest.Texts("ok"), modeltest.WithCapacity(capacity), modeltest.WithLatency(latency))
	defer srv.Close()
	ctx := context.Background()
	be, _, err := model.Open(ctx, "cap", model.Config{Ref: "openai-compatible/test-model", BaseURL: srv.URL, MaxConcurrency: callers, MaxRetries: 20},
		model.Options{Getenv: func(string) string { return "" }})
	if err != nil {
		b.Fatal(err)
	}
	c := be.(*model.Client)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for range callers {
		wg.Go(func() {
			for i := next.Add(1); i <= int64(b.N); i = next.Add(1) {
				if _, err := c.Generate(ctx, model.Request{Messages: []model.Message{{Role: "user", Content: "q" + strconv.FormatInt(i, 10)}}}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	rate := float64(b.N) / b.Elapsed().Seconds()
	st := c.Stats()
	b.ReportMetric(rate, "requests/s")
	b.ReportMetric(100*rate/(capacity/latency.Seconds()), "%capacity")
	b.ReportMetric(float64(st.RateLimited)/float64(st.Requests), "429s/request")
	b.ReportMetric(float64(st.Concurrency), "window")
	b.ReportMetric(100*srv.Busy().Seconds()/b.Elapsed().Seconds()/capacity, "%occupancy")
}
