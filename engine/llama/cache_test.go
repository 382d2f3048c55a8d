package llama

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestCacheMatchesWorkspace checks that prefill plus token-by-token decoding
// through the KV cache gives the same next-token distributions as the
// training forward pass over the whole sequence.
func TestCacheMatchesWorkspace(t *testing.T) {
	for _, rope := range []bool{false, true} {
		cfg := tinyConfig(rope, false)
		m, err := New(cfg, 5)
		if err != nil {
			t.Fatal(err)
		}
		for i := range m.Params {
			m.Params[i] *= 5 // sharpen the distributions so differences show
		}
		const b, T = 3, 7
		ws, _ := m.NewWorkspace(b, T)
		rng := rand.New(rand.NewPCG(1, 1))
		tokens := make([]int32, b*T)
		targets := make([]int32, b*T)
		for i := range tokens {
			tokens[i] = int32(rng.IntN(cfg.Vocab))
		}
		if err := ws.Forward(tokens, targets); err != nil {
			t.Fatal(err)
		}
		c, err := m.NewCache(b, T, b*T)
		if err != nil {
			t.Fatal(err)
		}
		// Row 0: whole sequence in one prefill. Rows 1, 2: a 3-token prefill
		// together, then batched single-token steps.
		check := func(row, pos int, logits []float32) {
			t.Helper()
			want := ws.Probs(row*T + pos)
			mx := logits[0]
			for _, v := range logits {
				mx = max(mx, v)
			}
			var sum float64
			for _, v := range logits {
				sum += math.Exp(float64(v - mx))
			}
			for i, v := range logits {
				p := math.Exp(float64(v-mx)) / sum
				if math.Abs(p-float64(want[i])) > 1e-5 {
					t.Fatalf("rope=%v row %d pos %d: p[%d] = %g, workspace %g", rope, row, pos, i, p, want[i])
				}
			}
		}
		lg, err := c.Forward([]int{0, 0, 0, 0, 0, 0, 0}, tokens[:T])
		if err != nil {
			t.Fatal(err)
		}
		for p := range T {
			check(0, p, lg[p*cfg.Vocab:(p+1)*cfg.Vocab])
		}
		lg, _ = c.Forward([]int{1, 1, 1, 2, 2, 2}, []int32{tokens[T], tokens[T+1], tokens[T+2], tokens[2*T], tokens[2*T+1], tokens[2*T+2]})
		check(1, 2, lg[2*cfg.Vocab:3*cfg.Vocab])
		check(2, 2, lg[5*cfg.Vocab:6*cfg.Vocab])
		for p := 3; p < T; p++ {
			lg, err = c.Forward([]int{2, 1}, []int32{tokens[2*T+p], tokens[T+p]})
			if err != nil {
				t.Fatal(err)
			}
			check(2, p, lg[:cfg.Vocab])
			check(1, p, lg[cfg.Vocab:2*cfg.Vocab])
		}
		if _, err := c.Forward([]int{1}, []int32{0}); err == nil {
			t.Error("cache accepted a token past its length")
		}
		// ForwardLast gives the same rows as Forward's last row per sequence.
		c2, _ := m.NewCache(2, T, 2*T)
		last, err := c2.ForwardLast([]int{1, 1, 0, 0, 0}, []int32{tokens[T], tokens[T+1], tokens[0], tokens[1], tokens[2]})
		if err != nil {
			t.Fatal(err)
		}
		check(1, 1, last[:cfg.Vocab])
		check(0, 2, last[cfg.Vocab:2*cfg.Vocab])
		c.Copy(0, 2)
		if c.Len[0] != T {
			t.Errorf("Copy: Len = %d", c.Len[0])
		}
	}
}
