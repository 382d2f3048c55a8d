package lab

import (
	"math"
	"math/rand/v2"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/synthloop/synthloop/engine/train"
)

// groupOf returns a draw's rollouts: group g has right[g] right answers of n.
func groupOf(n int, right ...int) []train.Rollout {
	var rs []train.Rollout
	for g, k := range right {
		for i := range n {
			reward := 0.0
			if i < k {
				reward = 1
			}
			rs = append(rs, train.Rollout{Group: g, Reward: reward})
		}
	}
	return rs
}

// TestTallyWeights: before enough groups the prior is flat; once the
// groups' pass rates vary more than 4 answers make them, a problem seen
// mixed weighs more than one not seen, and one seen all right or all
// wrong less; weights follow E[p(1−p)] of the posterior.
func TestTallyWeights(t *testing.T) {
	tl := newTally(46, 4)
	if a, b := tl.prior(); a != 1 || b != 1 {
		t.Fatalf("prior before any group: Beta(%g, %g), want Beta(1, 1)", a, b)
	}
	// Problems 0-3 drawn: 2 of 4, 4 of 4, 0 of 4, 1 of 4; 4 and 5 unseen so far.
	tl.record([]int{0, 1, 2, 3}, groupOf(4, 2, 4, 0, 1))
	if tl.Groups != 4 || tl.Drawn[0] != 4 || tl.Right[1] != 4 || tl.Right[2] != 0 || tl.Drawn[4] != 0 {
		t.Fatalf("tally after one draw: %+v", tl)
	}
	w := tl.weights()
	if want := 3.0 * 3 / (6 * 7); math.Abs(w[0]-want) > 1e-12 {
		t.Errorf("2 of 4 right under the flat prior: weight %g, want %g", w[0], want)
	}
	// A population of problems that are either solved or not: the fitted
	// prior puts little weight between, so an unseen problem is probably
	// all right or all wrong.
	var idx []int
	var right []int
	for i := range 40 { // problems 6-45
		idx = append(idx, 6+i)
		right = append(right, []int{4, 0}[i%2])
	}
	tl.record(idx, groupOf(4, right...))
	a, b := tl.prior()
	if !(a+b < 2) {
		t.Errorf("prior Beta(%g, %g) after groups all right or all wrong: want a strength below 2", a, b)
	}
	w = tl.weights()
	mixed, unseen, solved, failed := w[3], w[4], w[1], w[2]
	if !(mixed > unseen && unseen > solved && unseen > failed) {
		t.Errorf("weights: seen mixed %g, unseen %g, seen right %g, seen wrong %g; want mixed > unseen > the others", mixed, unseen, solved, failed)
	}
	if w[4] != w[5] {
		t.Errorf("two unseen problems weigh %g and %g", w[4], w[5])
	}
}

// TestTallyPick: a draw picks distinct problems, none of those skipped,
// the same ones from the same stream, and heavy problems more often than
// light ones, in proportion to their weights.
func TestTallyPick(t *testing.T) {
	tl := newTally(10, 4)
	// Problem 0 seen half right, 1-2 all right: under the flat prior they
	// weigh 9/42 and 5/42 against 1/6 = 7/42 for the unseen ones.
	tl.record([]int{0, 1, 2}, groupOf(4, 2, 4, 4))
	skip := map[int]bool{9: true}
	got := tl.pick(rand.New(rand.NewPCG(1, 2)), 5, skip)
	if !reflect.DeepEqual(got, tl.pick(rand.New(rand.NewPCG(1, 2)), 5, skip)) {
		t.Error("the same stream picked other problems")
	}
	seen := map[int]bool{}
	for _, p := range got {
		if seen[p] || skip[p] || p < 0 || p >= 10 {
			t.Fatalf("picked %v: want 5 distinct problems of 0-8", got)
		}
		seen[p] = true
	}
	// One problem a draw: its chance is its weight over the sum.
	counts := make([]float64, 10)
	const n = 20000
	rng := rand.New(rand.NewPCG(3, 4))
	for range n {
		counts[tl.pick(rng, 1, nil)[0]]++
	}
	w := tl.weights()
	sum := 0.0
	for _, x := range w {
		sum += x
	}
	for i, c := range counts {
		want := w[i] / sum
		if math.Abs(c/n-want) > 4*math.Sqrt(want*(1-want)/n) {
			t.Errorf("problem %d picked %.4f of the time, want %.4f", i, c/n, want)
		}
	}
	// A pool smaller than the draw repeats problems rather than fail.
	if got := newTally(3, 4).pick(rng, 5, nil); len(got) != 5 {
		t.Errorf("picked %d of a pool of 3, want 5", len(got))
	}
}

// TestTallySaveLoad: the state a checkpoint keeps reads back equal, and a
// state of another pool, or with more right answers than drawn, is refused.
func TestTallySaveLoad(t *testing.T) {
	dir := t.TempDir()
	tl := newTally(4, 4)
	tl.record([]int{0, 3}, groupOf(4, 1, 3))
	if err := saveTally(dir, 7, tl); err != nil {
		t.Fatal(err)
	}
	got, err := loadTally(dir, 7, 4)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, tl) {
		t.Errorf("read back %+v, want %+v", got, tl)
	}
	if _, err := loadTally(dir, 7, 5); err == nil {
		t.Error("a state of 4 problems was read for 5")
	}
	tl.Right[0] = 9
	if err := saveTally(dir, 8, tl); err != nil {
		t.Fatal(err)
	}
	if _, err := loadTally(dir, 8, 4); err == nil {
		t.Error("a state with 9 right of 4 drawn was read")
	}
	if _, err := loadTally(filepath.Join(dir, "none"), 7, 4); err == nil {
		t.Error("a missing state was read")
	}
}
