package dedup

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
)

func benchTexts(n int) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([]string, n)
	for i := range out {
		w := make([]string, 8+rng.IntN(13))
		for j := range w {
			w[j] = fmt.Sprintf("w%d", rng.IntN(20000))
		}
		out[i] = strings.Join(w, " ")
	}
	return out
}

// BenchmarkMinHash is one text through the index: shingle, sign, check, add.
// bench/dedup runs the same on a million texts.
func BenchmarkMinHash(b *testing.B) {
	texts := benchTexts(10000)
	m, err := NewMinHash(MinHashOptions{Seed: 1})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sig := m.Signature(texts[i%len(texts)])
		if _, dup, err := m.Check(sig); err != nil {
			b.Fatal(err)
		} else if !dup {
			if err := m.Add(fmt.Sprint(i), sig); err != nil {
				b.Fatal(err)
			}
		}
		i++
	}
}

func BenchmarkShingles(b *testing.B) {
	texts := benchTexts(1000)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		Shingles(texts[i%len(texts)], Words, 3)
		i++
	}
}

func BenchmarkSign(b *testing.B) {
	sh := Shingles(benchTexts(1)[0], Words, 3)
	h := NewHasher(DefaultPermutations, 1)
	b.ReportAllocs()
	for b.Loop() {
		h.Sign(sh)
	}
}
