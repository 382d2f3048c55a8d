package grammar

import (
	"math/rand/v2"
	"testing"
)

// BenchmarkGuide measures the masks alone: a guide walks a valid reply of
// the person schema token by token (Allowed, then Advance), over a
// vocabulary of 256 bytes plus 256 multi-byte tokens. "cold" starts each
// reply with an empty memo, as a request of one sample does; "warm" keeps
// it, as the samples of one request share it.
//
//	go test -run '^$' -bench Guide ./engine/grammar
func BenchmarkGuide(b *testing.B) {
	g, err := Compile([]byte(person))
	if err != nil {
		b.Fatal(err)
	}
	toks := make([][]byte, 512)
	for i := range 256 {
		toks[i] = []byte{byte(i)}
	}
	words := []string{`{"`, `":`, `","`, `name`, `age`, `tags`, `pet`, `null`, `true`, `kind`, `cat`, `"]`, `}}`, `":"`, `,"`, `12`}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 256; i < 512; i++ {
		toks[i] = []byte(words[i%len(words)] + string(rune('a'+r.IntN(26))))
	}
	toks[256] = nil // a special token
	v := NewVocab(toks, []int32{256}, 512)
	reply := []byte(`{"name":"ann","age":42,"tags":["a","b"],"pet":{"kind":"cat","w":3.5}}`)
	for _, warm := range []bool{false, true} {
		name := "cold"
		if warm {
			name = "warm"
		}
		b.Run(name, func(b *testing.B) {
			c := NewConstraint(g, v)
			b.ReportAllocs()
			for range b.N {
				if !warm {
					c = NewConstraint(g, v)
				}
				gd := c.Start()
				for _, by := range reply {
					gd.Allowed()
					gd.Advance(int32(by))
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(reply)), "ns/token")
		})
	}
}
