package sample

import (
	"errors"
	"slices"
	"testing"
)

// alternate allows only even tokens at even positions and odd ones at odd
// positions; after limit tokens, only none (to provoke ErrNoToken) or stop.
type alternate struct {
	vocab, limit int
	stop         int32
}

func (a alternate) Start() Guide { return &altGuide{a: a} }

type altGuide struct {
	a   alternate
	pos int
}

func (g *altGuide) Allowed() []bool {
	allow := make([]bool, g.a.vocab-1) // shorter than the vocabulary: the last id is never allowed
	if g.pos >= g.a.limit {
		if g.a.stop >= 0 {
			allow[g.a.stop] = true
		}
		return allow
	}
	for i := range allow {
		allow[i] = i%2 == g.pos%2 && int32(i) != g.a.stop
	}
	return allow
}

func (g *altGuide) Advance(int32) { g.pos++ }

func TestConstraintMasksTokens(t *testing.T) {
	m := testModel(t)
	opt := Options{MaxTokens: 12, Temperature: 1.2, TopP: 0.9, Seed: 5, N: 4, StopTokens: []int32{0}, TopLogProbs: 3,
		Constraint: alternate{vocab: 10, limit: 6, stop: 0}}
	cs, err := Generate(m, prompts, opt)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cs {
		if c.Finish != "stop" || len(c.Tokens) != 6 {
			t.Errorf("completion %+v: want 6 tokens then the stop token", c)
		}
		for i, tok := range c.Tokens {
			if int(tok)%2 != i%2 || tok == 9 {
				t.Errorf("token %d at %d breaks the constraint", tok, i)
			}
		}
		// LogProbs are the model's own: a forced token is usually unlikely.
		for i, lp := range c.LogProbs {
			if want := c.Top[i]; len(want) != 3 || lp > want[0].LogProb {
				t.Errorf("logprob %g above the model's most likely %v", lp, want)
			}
		}
	}
	again, _ := Generate(m, prompts, opt)
	for i := range cs {
		if !slices.Equal(cs[i].Tokens, again[i].Tokens) {
			t.Errorf("completion %d not deterministic: %v vs %v", i, cs[i].Tokens, again[i].Tokens)
		}
	}

	opt.Constraint = alternate{vocab: 10, limit: 2, stop: -1}
	if _, err := Generate(m, prompts, opt); !errors.Is(err, ErrNoToken) {
		t.Errorf("a constraint that allows nothing: err %v, want ErrNoToken", err)
	}
}
