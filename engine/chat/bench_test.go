package chat

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/engine/grammar"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/internal/cputime"
)

// benchModel is an untrained 2-layer d=128 model over a char vocabulary
// (printable ASCII, 102 tokens) or a BPE of 512 tokens learnt from JSON.
func benchModel(b *testing.B, bpe bool) *Model {
	var tok tokenizer.Tokenizer
	var err error
	if bpe {
		var docs []string
		for i := range 400 {
			docs = append(docs, fmt.Sprintf(`{"id":%d,"status":"%s","owner":{"name":"user%d","admin":%v},"scores":[0.%d,%d]}`,
				i, []string{"open", "closed", "stale"}[i%3], i%37, i%2 == 0, i%97, i%5))
		}
		tok, err = tokenizer.TrainBPE(docs, 512, tokenizer.DefaultSpecials)
	} else {
		var ascii strings.Builder
		for c := ' '; c <= '~'; c++ {
			ascii.WriteRune(c)
		}
		tok, err = tokenizer.NewChar(ascii.String(), tokenizer.DefaultSpecials)
	}
	if err != nil {
		b.Fatal(err)
	}
	m, err := llama.New(llama.Config{Vocab: tok.VocabSize(), Dim: 128, Layers: 2, Heads: 4, KVHeads: 4, Hidden: 512, MaxSeq: 256, NormEps: 1e-5}, 1)
	if err != nil {
		b.Fatal(err)
	}
	c, err := New("bench", m, tok)
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// BenchmarkGrammar compares decoding with and without a schema's token
// masks: one reply of up to 128 tokens at temperature 1 per op, a new seed
// each. One sample at a time, so that every token costs one batch-of-one
// forward pass whichever way replies end; they end at different lengths,
// so compare tokens/s, not ns/op.
//
//	go test -run '^$' -bench Grammar -benchtime 20x ./engine/chat
func BenchmarkGrammar(b *testing.B) {
	g, err := grammar.Compile([]byte(ticketSchema))
	if err != nil {
		b.Fatal(err)
	}
	msgs := []tokenizer.Message{{Role: "user", Content: "File a ticket."}}
	for _, vocab := range []string{"char", "bpe512"} {
		c := benchModel(b, vocab == "bpe512")
		for _, mode := range []string{"free", "schema"} {
			b.Run(vocab+"/"+mode, func(b *testing.B) {
				p := Params{N: 1, Temperature: 1, MaxTokens: 128}
				if mode == "schema" {
					p.Grammar = g
				}
				b.ReportAllocs()
				b.ResetTimer()
				start, cpu0 := time.Now(), cputime.Process()
				tokens := 0
				for i := range b.N {
					p.Seed = uint64(i)
					r, err := c.Complete(context.Background(), msgs, p)
					if err != nil {
						b.Fatal(err)
					}
					tokens += r.CompletionTokens
				}
				b.ReportMetric(float64(tokens)/time.Since(start).Seconds(), "tokens/s")
				b.ReportMetric(float64(tokens)/(cputime.Process()-cpu0).Seconds(), "tokens/cpu-s")
				b.ReportMetric(float64(tokens)/float64(b.N*p.N), "tokens/reply")
			})
		}
	}
}
