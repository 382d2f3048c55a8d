package serve_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/engine/chat"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/internal/cputime"
	"github.com/synthloop/synthloop/serve"
)

// BenchmarkServeDecode compares decoding through the server with the engine
// called directly, side by side: each op is one reply of up to 64 tokens
// (temperature 1, a new seed per op) from the trainjob "small" shape (6
// layers, d=384, char vocabulary, untrained), first from chat.Model.Complete
// in process, then the same request over HTTP from a server batching as
// `synthloop serve` does by default, streamed and not. The same seed gives
// the same tokens on every path, so the ratios compare equal work.
//
//	go test -run '^$' -bench ServeDecode -benchtime 40x ./serve
func BenchmarkServeDecode(b *testing.B) {
	m, tok := smallModel(b)
	direct, err := chat.New("small", m, tok)
	if err != nil {
		b.Fatal(err)
	}
	served, err := chat.New("small", m, tok)
	if err != nil {
		b.Fatal(err)
	}
	if err := served.Batch(32); err != nil {
		b.Fatal(err)
	}
	defer served.Close()
	h, err := serve.New([]serve.Completer{served}, serve.Options{})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()

	const prompt = "Write a short note about the weather."
	msgs := []tokenizer.Message{{Role: "user", Content: prompt}}
	// Wall and CPU time per path and op: on a shared machine the wall clock
	// also counts time other processes held the cores, so the ratios
	// reported are medians of each op's ratios, which a burst of load
	// during a few ops does not move.
	var wall, cpu [3]time.Duration
	var ratios [2][2][]float64 // [serve, stream][wall, cpu]
	timed := func(path int, f func()) {
		t0, c0 := time.Now(), cputime.Process()
		f()
		wall[path] += time.Since(t0)
		cpu[path] += cputime.Process() - c0
	}
	tokens := 0
	b.ResetTimer()
	for i := range b.N {
		w0, c0 := wall, cpu
		seed := uint64(i)
		var r *chat.Reply
		timed(0, func() {
			var err error
			if r, err = direct.Complete(context.Background(), msgs, chat.Params{Temperature: 1, MaxTokens: 64, Seed: seed}); err != nil {
				b.Fatal(err)
			}
		})
		tokens += r.CompletionTokens
		body := fmt.Sprintf(`{"model":"small","messages":[{"role":"user","content":%q}],"temperature":1,"max_tokens":64,"seed":%d`, prompt, seed)
		// Alternate which HTTP path goes first, so neither always follows
		// the other's cache state.
		paths := []bool{false, true}
		if i%2 == 1 {
			paths = []bool{true, false}
		}
		for _, stream := range paths {
			var text string
			path := 1
			if stream {
				path = 2
			}
			timed(path, func() { text = request(b, srv.URL, body, stream) })
			if text != r.Choices[0].Text {
				b.Fatalf("seed %d stream=%v: served %q, engine %q", seed, stream, text, r.Choices[0].Text)
			}
		}
		for p := range 2 {
			ratios[p][0] = append(ratios[p][0], (wall[0]-w0[0]).Seconds()/(wall[p+1]-w0[p+1]).Seconds())
			ratios[p][1] = append(ratios[p][1], (cpu[0]-c0[0]).Seconds()/(cpu[p+1]-c0[p+1]).Seconds())
		}
	}
	b.StopTimer()
	for path, name := range []string{"engine", "serve", "stream"} {
		b.ReportMetric(float64(tokens)/wall[path].Seconds(), name+"-tokens/s")
		b.ReportMetric(float64(tokens)/cpu[path].Seconds(), name+"-tokens/cpu-s")
		if path > 0 {
			b.ReportMetric(median(ratios[path-1][0]), name+"/engine")
			b.ReportMetric(median(ratios[path-1][1]), name+"/engine-cpu")
		}
	}
}

// request posts body (without its closing brace) and returns the reply's text.
func request(b *testing.B, url, body string, stream bool) string {
	if stream {
		body += `,"stream":true`
	}
	res, err := http.Post(url+"/v1/chat/completions", "application/json", strings.NewReader(body+"}"))
	if err != nil {
		b.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		var buf bytes.Buffer
		buf.ReadFrom(res.Body)
		b.Fatalf("%s: %s", res.Status, buf.String())
	}
	if !stream {
		var c struct {
			Choices []struct {
				Message struct{ Content string } `json:"message"`
			} `json:"choices"`
		}
		if err := json.NewDecoder(res.Body).Decode(&c); err != nil {
			b.Fatal(err)
		}
		return c.Choices[0].Message.Content
	}
	var text strings.Builder
	sc := bufio.NewScanner(res.Body)
	for sc.Scan() {
		data, ok := strings.CutPrefix(sc.Text(), "data: ")
		if !ok || data == "[DONE]" {
			continue
		}
		var c struct {
			Choices []struct {
				Delta struct{ Content string } `json:"delta"`
			} `json:"choices"`
		}
		if err := json.Unmarshal([]byte(data), &c); err != nil {
			b.Fatal(err)
		}
		for _, ch := range c.Choices {
			text.WriteString(ch.Delta.Content)
		}
	}
	return text.String()
}

// smallModel is the trainjob "small" shape with a char vocabulary, untrained.
func smallModel(b *testing.B) (*llama.Model, tokenizer.Tokenizer) {
	var ascii strings.Builder
	for c := ' '; c <= '~'; c++ {
		ascii.WriteRune(c)
	}
	tok, err := tokenizer.NewChar(ascii.String(), tokenizer.DefaultSpecials)
	if err != nil {
		b.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 384, Layers: 6, Heads: 6, KVHeads: 6, Hidden: 1536, MaxSeq: 256,
		RoPE: true, RopeTheta: 10000, NormEps: 1e-5, TiedEmbeddings: true}, 1)
	if err != nil {
		b.Fatal(err)
	}
	return m, tok
}

func median(x []float64) float64 {
	slices.Sort(x)
	return x[len(x)/2]
}
