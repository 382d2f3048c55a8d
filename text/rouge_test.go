package text

import (
	"math/rand/v2"
	"testing"
)

// The want scores were computed with rouge_score's _score_lcs and
// scoring.fmeasure under Python 3 (target = ref, prediction = cand), and are
// compared for exact float equality: the filter's decisions depend on it.
func TestRougeL(t *testing.T) {
	tests := []struct {
		ref, cand string
		want      Score
	}{
		{"the cat sat on the mat", "the cat is on the mat", Score{0.8333333333333334, 0.8333333333333334, 0.8333333333333334}},
		{"a b c d", "d c b a", Score{0.25, 0.25, 0.25}},
		{"Write a poem about the sea.", "Compose a poem about the ocean.", Score{0.6666666666666666, 0.6666666666666666, 0.6666666666666666}},
		{"a b", "a b c d e f", Score{0.3333333333333333, 1, 0.5}},
		{"", "a", Score{}},
		{"a", "", Score{}},
		{"x y z w", "p q", Score{}},
		// Case and punctuation do not matter; non-ASCII text is invisible.
		{"One two three", "ONE, two... three!", Score{1, 1, 1}},
		{"日本語", "日本語", Score{}},
		// Exactly at the threshold: Python gets 0.7, so "> 0.7" keeps it.
		{"a b c d e f g h i j", "a b c d e f g x y z", Score{0.7, 0.7, 0.7}},
		{"a a a b", "a b a", Score{0.6666666666666666, 0.5, 0.5714285714285715}},
	}
	tok := RougeTokenizer{}
	for _, tt := range tests {
		if got := RougeLText(tok, tt.ref, tt.cand); got != tt.want {
			t.Errorf("RougeLText(%q, %q) = %+v, want %+v", tt.ref, tt.cand, got, tt.want)
		}
	}
	// With the CJK tokenizer, Japanese is compared character by character.
	if got := RougeLText(CJKTokenizer{}, "日本語の文章", "日本語の本"); got.F != fscore(4, 6, 5) {
		t.Errorf("CJK RougeL = %+v, want F %v", got, fscore(4, 6, 5))
	}
}

func TestLCS(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"a", "", 0},
		{"abcbdab", "bdcaba", 4},
		{"abc", "abc", 3},
		{"abc", "def", 0},
		{"aaaa", "aa", 2},
	}
	split := func(s string) []string {
		out := make([]string, len(s))
		for i := range s {
			out[i] = s[i : i+1]
		}
		return out
	}
	for _, tt := range tests {
		if got := LCS(split(tt.a), split(tt.b)); got != tt.want {
			t.Errorf("LCS(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
	}
}

// lcsBitParallel runs the bit-parallel LCS on two id sequences.
func lcsBitParallel(a, b []int32, vocab int) int {
	slot := make([]int32, vocab)
	for i := range slot {
		slot[i] = -1
	}
	nsym := int32(0)
	for _, t := range a {
		if slot[t] < 0 {
			slot[t] = nsym
			nsym++
		}
	}
	var p pattern
	p.reset(len(a), int(nsym))
	for i, t := range a {
		p.set(int(slot[t]), i)
	}
	return p.lcs(b, slot)
}

func randSeq(rng *rand.Rand, n, vocab int) []int32 {
	s := make([]int32, n)
	for i := range s {
		s[i] = int32(rng.IntN(vocab))
	}
	return s
}

// TestBitParallelLCS covers single-word and multi-word patterns (over 64
// tokens, where the carry crosses words, up to 650) against the dynamic
// programme.
func TestBitParallelLCS(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for i := range 20000 {
		vocab := 1 + rng.IntN(12)
		maxLen := 20
		switch {
		case i%100 == 0:
			maxLen = 650 // several words, as for the longest instructions
		case i%10 == 0:
			maxLen = 300
		}
		a := randSeq(rng, rng.IntN(maxLen), vocab)
		b := randSeq(rng, rng.IntN(maxLen), vocab)
		if len(a) == 0 {
			continue
		}
		if got, want := lcsBitParallel(a, b, vocab), lcsDP(a, b, nil); got != want {
			t.Fatalf("bit-parallel LCS(%v, %v) = %d, want %d", a, b, got, want)
		}
	}
}

func FuzzLCS(f *testing.F) {
	f.Add([]byte("abcbdab"), []byte("bdcaba"))
	f.Add([]byte(""), []byte("x"))
	f.Add(make([]byte, 130), make([]byte, 70))
	f.Fuzz(func(t *testing.T, a, b []byte) {
		// A small alphabet makes matches, and so carries, frequent.
		ids := func(s []byte) []int32 {
			out := make([]int32, len(s))
			for i, c := range s {
				out[i] = int32(c % 7)
			}
			return out
		}
		x, y := ids(a), ids(b)
		want := lcsDP(x, y, nil)
		if len(x) > 0 {
			if got := lcsBitParallel(x, y, 7); got != want {
				t.Fatalf("bit-parallel LCS = %d, DP = %d", got, want)
			}
		}
		// The filter's score from a bit-parallel LCS must equal RougeL's.
		sa, sb := make([]string, len(x)), make([]string, len(y))
		for i, v := range x {
			sa[i] = string(rune('a' + v))
		}
		for i, v := range y {
			sb[i] = string(rune('a' + v))
		}
		if got := RougeL(sa, sb); got.F != fscore(want, len(sa), len(sb)) || (want == 0) != (got.F == 0) {
			t.Fatalf("RougeL F = %v, fscore = %v", got.F, fscore(want, len(sa), len(sb)))
		}
		if want > 0 && len(sa) > 0 && len(sb) > 0 {
			if ub := float64(2*min(len(sa), len(sb))) / float64(len(sa)+len(sb)); RougeL(sa, sb).F > ub+eps {
				t.Fatalf("F %v above the length bound %v", RougeL(sa, sb).F, ub)
			}
		}
	})
}
