package train

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
)

// Example is one training sequence. Mask[i] reports whether token i is a
// prediction target (the response tokens in SFT); a nil Mask trains every
// token after the first.
type Example struct {
	Tokens []int32
	Mask   []bool
}

// Pair is one DPO preference: the same prompt with a chosen and a rejected
// continuation, each masked to its response tokens.
type Pair struct {
	Chosen, Rejected Example
}

// Dataset is a named source of items drawn with probability proportional to
// Weight.
type Dataset[E any] struct {
	Name   string
	Weight float64
	Items  []E
}

// Mixture samples items from several datasets by weight, e.g. the newest
// self-labelled round at 0.5 and all earlier rounds sharing the other half.
type Mixture[E any] struct {
	sets []Dataset[E]
	cum  []float64 // cumulative normalised weights
}

// NewMixture checks the datasets and normalises their weights.
func NewMixture[E any](sets ...Dataset[E]) (*Mixture[E], error) {
	var total float64
	for _, s := range sets {
		if !(s.Weight >= 0) || len(s.Items) == 0 && s.Weight > 0 {
			return nil, fmt.Errorf("train: dataset %q: weight %g with %d items", s.Name, s.Weight, len(s.Items))
		}
		total += s.Weight
	}
	if !(total > 0) {
		return nil, errors.New("train: mixture has no positive weight")
	}
	m := &Mixture[E]{sets: sets, cum: make([]float64, len(sets))}
	var acc float64
	for i, s := range sets {
		acc += s.Weight / total
		m.cum[i] = acc
	}
	// Rounding can leave the total a hair under 1; the last weighted set
	// takes up the slack so a draw never lands on an empty trailing set.
	for i := len(sets) - 1; i >= 0; i-- {
		m.cum[i] = 1
		if sets[i].Weight > 0 {
			break
		}
	}
	return m, nil
}

// Sample draws a dataset by weight and then an item uniformly from it, and
// returns the item and the dataset's index.
func (m *Mixture[E]) Sample(r *rand.Rand) (*E, int) {
	u := r.Float64()
	i := 0
	for i < len(m.cum)-1 && (u >= m.cum[i] || m.sets[i].Weight == 0) {
		i++
	}
	s := &m.sets[i]
	return &s.Items[r.IntN(len(s.Items))], i
}

// packRow writes one example into a batch row of t positions: inputs are
// tokens[0:t], targets[i] = tokens[i+1] where that token is trained, and −1
// (ignored) elsewhere, including padding. It returns the number of targets.
func packRow(e *Example, inputs, targets []int32, pad int32) int {
	n := 0
	for i := range inputs {
		inputs[i], targets[i] = pad, -1
		if i < len(e.Tokens) {
			inputs[i] = e.Tokens[i]
		}
		if i+1 < len(e.Tokens) && (e.Mask == nil || e.Mask[i+1]) {
			targets[i] = e.Tokens[i+1]
			n++
		}
	}
	return n
}

// validate reports an example the model cannot train on.
func (e *Example) validate(vocab int) error {
	if e.Mask != nil && len(e.Mask) != len(e.Tokens) {
		return fmt.Errorf("train: example has %d tokens and %d mask entries", len(e.Tokens), len(e.Mask))
	}
	for i, t := range e.Tokens {
		if t < 0 || int(t) >= vocab {
			return fmt.Errorf("train: token %d at %d outside vocabulary [0, %d)", t, i, vocab)
		}
	}
	return nil
}

// NewRoundsMixture weights self-improvement rounds as Lee et al. (2025) do:
// the newest round (the last dataset) is drawn with probability newest, and
// the earlier rounds share the rest in proportion to their sizes, as if
// pooled. The given weights are ignored.
func NewRoundsMixture[E any](newest float64, rounds ...Dataset[E]) (*Mixture[E], error) {
	if len(rounds) == 0 || !(newest > 0 && newest <= 1) {
		return nil, fmt.Errorf("train: rounds mixture needs rounds and a newest weight in (0, 1], got %d and %g", len(rounds), newest)
	}
	sets := slices.Clone(rounds)
	older := 0
	for _, s := range sets[:len(sets)-1] {
		older += len(s.Items)
	}
	for i := range sets[:len(sets)-1] {
		sets[i].Weight = (1 - newest) * float64(len(sets[i].Items)) / float64(max(older, 1))
	}
	sets[len(sets)-1].Weight = newest
	if older == 0 {
		sets[len(sets)-1].Weight = 1
	}
	return NewMixture(sets...)
}

// FromChat turns the ids and mask of tokenizer.EncodeChat into an SFT
// example trained on the assistant turns.
func FromChat(ids []int, mask []bool) Example {
	e := Example{Tokens: make([]int32, len(ids)), Mask: slices.Clone(mask)}
	for i, id := range ids {
		e.Tokens[i] = int32(id)
	}
	return e
}
