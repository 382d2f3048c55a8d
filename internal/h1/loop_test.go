package h1

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/cputime"
)

// The bodies of one generate-stage request and the stand-in's reply to it
// (model/modeltest answering "A short answer."), as the direct path sends
// and reads them.
const (
	loopRequest = `{"model":"instant","messages":[{"role":"user","content":"Task 00001: explain tides at level 3 of 5."}],"max_tokens":64}`
	loopReply   = `{"id":"chatcmpl-modeltest","object":"chat.completion","created":1700000000,"model":"instant","choices":[{"index":0,"message":{"role":"assistant","content":"A short answer."},"finish_reason":"stop","logprobs":null}],"usage":{"prompt_tokens":15,"completion_tokens":5,"total_tokens":20}}`
)

// BenchmarkLoopback is the floor under BenchmarkGenerateStage10k: a bare
// HTTP loop on this machine, a net/http server whose handler reads the
// request and writes a fixed reply, and 16 callers (the stage's
// concurrency) posting the stage's request body and reading the reply
// whole, with this transport or net/http's. Nothing is encoded, decoded,
// cached or stored. requests/cpu-s divides the requests by the CPU time of
// the whole process, client and server together: what HTTP alone costs
// per request, so how much of two cores 10,000 requests/s would take.
func BenchmarkLoopback(b *testing.B) {
	for _, tc := range []struct {
		name string
		rt   func() http.RoundTripper
	}{
		{"h1", func() http.RoundTripper { return &Transport{Fallback: http.DefaultTransport, MaxIdlePerHost: 64} }},
		{"nethttp", func() http.RoundTripper {
			t := http.DefaultTransport.(*http.Transport).Clone()
			t.MaxIdleConnsPerHost = 64
			return t
		}},
	} {
		b.Run(tc.name, func(b *testing.B) { benchLoop(b, tc.rt()) })
	}
}

func benchLoop(b *testing.B, rt http.RoundTripper) {
	const callers = 16
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if _, err := io.ReadAll(r.Body); err != nil {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, loopReply)
	}))
	defer srv.Close()
	hc := &http.Client{Transport: rt}
	url := srv.URL + "/chat/completions"
	post := func() error {
		req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(loopRequest)))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json")
		res, err := hc.Do(req)
		if err != nil {
			return err
		}
		defer res.Body.Close()
		body, err := io.ReadAll(res.Body)
		if err == nil && (res.StatusCode != 200 || string(body) != loopReply) {
			b.Errorf("reply %d %q", res.StatusCode, body)
		}
		return err
	}
	if err := post(); err != nil { // connect before the clocks start
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0, t0 := cputime.Process(), time.Now()
	var wg sync.WaitGroup
	var next sync.Mutex
	left := b.N
	for range callers {
		wg.Go(func() {
			for {
				next.Lock()
				if left == 0 {
					next.Unlock()
					return
				}
				left--
				next.Unlock()
				if err := post(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	cpu, wall := cputime.Process()-cpu0, time.Since(t0)
	b.ReportMetric(float64(b.N)/wall.Seconds(), "requests/s")
	b.ReportMetric(float64(b.N)/cpu.Seconds(), "requests/cpu-s")
}
