package lab

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/train"
)

// Selections of RLConfig.Select: how a sampling step picks its problems.
const (
	// SelectUniform draws each problem uniformly at random, with
	// replacement, from a stream of the step's own.
	SelectUniform = "uniform"
	// SelectLearnable draws problems without replacement, each with a
	// weight of its learnability: the posterior mean of p(1−p), p its pass
	// rate, under a beta prior fitted to the groups drawn so far in the run
	// and the problem's own answers drawn so far. A group that is all right
	// or all wrong has no advantage and costs its samples: a problem seen
	// to be mixed is drawn again more often than one not yet seen, and one
	// seen all right or all wrong less often. Nothing but the verifier's
	// verdicts on the policy's own answers goes into the weights.
	SelectLearnable = "learnable"
)

// tally is what learnable selection knows: per problem, the answers drawn
// and how many were right; over all groups drawn, their count and the sums
// of their pass rates and squared pass rates, which fit the prior.
type tally struct {
	Right  []int32 `json:"right"`
	Drawn  []int32 `json:"drawn"`
	Groups int     `json:"groups"`
	Sum    float64 `json:"sum"`
	SumSq  float64 `json:"sum_sq"`
	Size   int     `json:"size"` // answers in a group (the beta-binomial's n)
}

func newTally(problems, group int) *tally {
	return &tally{Right: make([]int32, problems), Drawn: make([]int32, problems), Size: group}
}

// record adds a draw's rollouts (group g of the draw is problem idx[g]).
func (t *tally) record(idx []int, rs []train.Rollout) {
	right := make([]int32, len(idx))
	drawn := make([]int32, len(idx))
	for _, x := range rs {
		drawn[x.Group]++
		if x.Reward > 0 {
			right[x.Group]++
		}
	}
	for g, p := range idx {
		if drawn[g] == 0 {
			continue
		}
		t.Right[p] += right[g]
		t.Drawn[p] += drawn[g]
		rate := float64(right[g]) / float64(drawn[g])
		t.Groups++
		t.Sum += rate
		t.SumSq += rate * rate
	}
}

// prior returns the beta prior (α, β) of a pass rate, fitted by moments
// to the groups drawn so far: for groups of n answers with a mean pass
// rate m, Var(rate) = m(1−m)/n · (1 + (n−1)ρ) with ρ = 1/(α+β+1). Without
// enough groups, or when the rates do not vary beyond what n answers give,
// it falls back to a flat Beta(1, 1) and a weak prior of the mean.
func (t *tally) prior() (float64, float64) {
	if t.Groups < 8 {
		return 1, 1
	}
	n := float64(t.Size)
	m := t.Sum / float64(t.Groups)
	m = min(max(m, 0.01), 0.99)
	v := max(t.SumSq/float64(t.Groups)-m*m, 0)
	rho := (n*v/(m*(1-m)) - 1) / (n - 1)
	rho = min(max(rho, 0.02), 0.98)
	c := 1/rho - 1 // α + β
	return m * c, (1 - m) * c
}

// weights returns each problem's learnability, E[p(1−p)] under Beta(α+right,
// β+wrong): αβ / ((α+β)(α+β+1)) of the posterior's parameters.
func (t *tally) weights() []float64 {
	a0, b0 := t.prior()
	out := make([]float64, len(t.Right))
	for i := range out {
		a := a0 + float64(t.Right[i])
		b := b0 + float64(t.Drawn[i]-t.Right[i])
		out[i] = a * b / ((a + b) * (a + b + 1))
	}
	return out
}

// pickLearnable draws k distinct problems, none of skip, each with
// probability in proportion to its learnability (Efraimidis and Spirakis'
// weighted sampling without replacement: the k largest u^(1/w), here
// compared as log(u)/w).
func (t *tally) pick(rng *rand.Rand, k int, skip map[int]bool) []int {
	w := t.weights()
	type key struct {
		i int
		k float64
	}
	keys := make([]key, 0, len(w))
	for i, x := range w {
		u := rng.Float64() // drawn for every problem, so the stream does not depend on skip
		if skip[i] || !(x > 0) {
			continue
		}
		keys = append(keys, key{i, math.Log(max(u, 1e-300)) / x})
	}
	slices.SortFunc(keys, func(a, b key) int {
		if a.k != b.k {
			if a.k > b.k {
				return -1
			}
			return 1
		}
		return a.i - b.i
	})
	out := make([]int, 0, k)
	for _, x := range keys[:min(k, len(keys))] {
		out = append(out, x.i)
	}
	// Too few problems left (a pool smaller than a step's draws): repeat
	// some, drawn uniformly, as uniform selection would.
	for len(out) < k {
		out = append(out, rng.IntN(len(w)))
	}
	return out
}

// selectFile names the selection state after sampling step s; -1 gives the
// pattern of all of them.
func selectFile(s int) string {
	if s < 0 {
		return "rl-select-*.json"
	}
	return fmt.Sprintf("rl-select-%06d.json", s)
}

// saveTally writes the state of learnable selection after step s into dir.
func saveTally(dir string, s int, t *tally) error {
	raw, err := json.Marshal(t)
	if err != nil {
		return fmt.Errorf("lab: rl: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("lab: rl: %w", err)
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(dir, selectFile(s)), raw); err != nil {
		return fmt.Errorf("lab: rl: %w", err)
	}
	return nil
}

// loadTally reads the state saved after step s and checks it fits
// problems problems.
func loadTally(dir string, s, problems int) (*tally, error) {
	raw, err := os.ReadFile(filepath.Join(dir, selectFile(s)))
	if err != nil {
		return nil, fmt.Errorf("lab: rl: %w", err)
	}
	var t tally
	if err := json.Unmarshal(raw, &t); err != nil {
		return nil, fmt.Errorf("lab: rl: %s: %w", selectFile(s), err)
	}
	if len(t.Right) != problems || len(t.Drawn) != problems {
		return nil, fmt.Errorf("lab: rl: %s counts %d and %d problems, the run has %d", selectFile(s), len(t.Right), len(t.Drawn), problems)
	}
	for i := range t.Right {
		if t.Right[i] < 0 || t.Right[i] > t.Drawn[i] {
			return nil, fmt.Errorf("lab: rl: %s: problem %d has %d right of %d drawn", selectFile(s), i, t.Right[i], t.Drawn[i])
		}
	}
	return &t, nil
}
