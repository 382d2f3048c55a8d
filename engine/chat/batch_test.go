package chat

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
)

// TestBatchedCompleteEqualsAlone: concurrent calls on a batching model
// give the replies, streamed text included, that each gives alone.
func TestBatchedCompleteEqualsAlone(t *testing.T) {
	alone, batched := tinyModel(t), tinyModel(t)
	if err := batched.Batch(6); err != nil {
		t.Fatal(err)
	}
	defer batched.Close()
	params := func(i int) Params {
		return Params{N: 1 + i%3, Temperature: float64(i%3) * 0.6, TopP: 0.95, MaxTokens: 4 + i%11, Seed: uint64(i), Stop: []string{"zz"}}
	}
	msgs := func(i int) []tokenizer.Message {
		return []tokenizer.Message{{Role: "user", Content: fmt.Sprintf("what is %d+%d?", i, i*3)}}
	}
	const calls = 16
	got := make([]*Reply, calls)
	streamed := make([]map[int]string, calls)
	errs := make([]error, calls)
	var wg sync.WaitGroup
	for i := range calls {
		wg.Go(func() {
			p := params(i)
			streamed[i] = map[int]string{}
			p.OnText = func(c int, d string) { streamed[i][c] += d }
			got[i], errs[i] = batched.Complete(context.Background(), msgs(i), p)
		})
	}
	wg.Wait()
	for i := range calls {
		if errs[i] != nil {
			t.Fatalf("call %d: %v", i, errs[i])
		}
		want, err := alone.Complete(context.Background(), msgs(i), params(i))
		if err != nil {
			t.Fatal(err)
		}
		for k, w := range want.Choices {
			g := got[i].Choices[k]
			if g.Text != w.Text || g.Finish != w.Finish || g.Tokens != w.Tokens || streamed[i][k] != w.Text {
				t.Errorf("call %d choice %d batched: %q (%s, %d tokens, streamed %q); alone: %q (%s, %d tokens)",
					i, k, g.Text, g.Finish, g.Tokens, streamed[i][k], w.Text, w.Finish, w.Tokens)
			}
		}
	}
}

// smallModel is the trainjob "small" shape (6 layers, d=384, about 11M
// parameters with a char vocabulary), untrained.
func smallModel(b *testing.B) *Model {
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
	c, err := New("small", m, tok)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkStreams measures the total tokens/s of concurrent streams: one
// stream, then 32 served one at a time and 32 batched, in one run. Each op
// is one round: every stream asks for a reply of up to 64 tokens at
// temperature 1 with its own seed.
//
//	go test -run '^$' -bench Streams -benchtime 3x ./engine/chat
func BenchmarkStreams(b *testing.B) {
	msgs := []tokenizer.Message{{Role: "user", Content: "Write a short note about the weather."}}
	for _, tc := range []struct {
		name    string
		streams int
		batch   int
	}{{"1-stream", 1, 0}, {"32-streams-one-at-a-time", 32, 0}, {"32-streams-batched", 32, 32}} {
		b.Run(tc.name, func(b *testing.B) {
			c := smallModel(b)
			if tc.batch > 0 {
				if err := c.Batch(tc.batch); err != nil {
					b.Fatal(err)
				}
				defer c.Close()
			}
			b.ResetTimer()
			start := time.Now()
			var mu sync.Mutex
			tokens := 0
			for i := range b.N {
				var wg sync.WaitGroup
				for s := range tc.streams {
					wg.Go(func() {
						r, err := c.Complete(context.Background(), msgs, Params{Temperature: 1, MaxTokens: 64, Seed: uint64(i*tc.streams + s)})
						if err != nil {
							b.Error(err)
							return
						}
						mu.Lock()
						tokens += r.CompletionTokens
						mu.Unlock()
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tokens/s")
			b.ReportMetric(float64(tokens)/float64(b.N*tc.streams), "tokens/reply")
		})
	}
}
