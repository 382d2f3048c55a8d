package dedup

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

func TestHashTableMatchesMap(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	var tab hashTable
	want := map[uint64][]int32{}
	for i := range 50000 {
		// Few distinct keys, some 0 and some sharing high bits, so that
		// keys with several values and long probe runs both happen.
		k := uint64(rng.IntN(20000)) << (rng.IntN(2) * 40)
		if _, ok := tab.get(k); ok != (len(want[k]) > 0) {
			t.Fatalf("get(%d) found %v before insert %d, want %v", k, ok, i, !ok)
		}
		tab.insert(k, int32(i))
		want[k] = append(want[k], int32(i))
	}
	for k, w := range want {
		var got []int32
		tab.each(k, func(v int32) bool { got = append(got, v); return true })
		slices.Sort(got)
		if !slices.Equal(got, w) {
			t.Fatalf("each(%d) = %v, want %v", k, got, w)
		}
		if v, ok := tab.get(k); !ok || !slices.Contains(w, v) {
			t.Fatalf("get(%d) = %d, %v, want one of %v", k, v, ok, w)
		}
	}
	if _, ok := tab.get(1 << 63); ok {
		t.Error("get of a key never inserted found one")
	}
	if tab.n != 50000 {
		t.Errorf("n = %d, want 50000", tab.n)
	}
}

func TestIDList(t *testing.T) {
	for _, spill := range []bool{false, true} {
		t.Run(fmt.Sprintf("spill=%v", spill), func(t *testing.T) { testIDList(t, spill) })
	}
}

func testIDList(t *testing.T, spill bool) {
	var l idList
	if spill {
		f, err := newSpillFile(t.TempDir(), "ids")
		if err != nil {
			t.Fatal(err)
		}
		defer f.close()
		l.file = f
	}
	var want []string
	for i := range 100000 {
		s := fmt.Sprintf("stage:file-%d.jsonl:%d", i%7, i)
		switch i {
		case 5:
			s = ""
		case 70000:
			s = strings.Repeat("x", 3<<20) // longer than a page
		case 70001:
			s = strings.Repeat("y", 1<<20-2) // just fits an offset's length
		}
		if err := l.add(s); err != nil {
			t.Fatal(err)
		}
		want = append(want, s)
	}
	for i, w := range want {
		if got, err := l.at(i); err != nil || got != w {
			t.Fatalf("at(%d) = %.40q (len %d), want %.40q (len %d)", i, got, len(got), w, len(w))
		}
	}
}

// refIndex is the MinHash index as it was before the compact tables: a Go
// map and a slice per band. It is the oracle the compact one must agree
// with, decision for decision.
type refIndex struct {
	m     *MinHash // for bandKey and the options only
	sigs  []Signature
	ids   []string
	bands []map[uint64][]int
}

func (r *refIndex) check(sig Signature) (Match, bool) {
	best := -1
	var bestJ float64
	for b := range r.bands {
		for _, it := range r.bands[b][r.m.bandKey(sig, b)] {
			if j := sig.Jaccard(r.sigs[it]); j >= r.m.opts.Threshold && (best < 0 || it < best) {
				best, bestJ = it, j
			}
		}
	}
	if best < 0 {
		return Match{}, false
	}
	return Match{ID: r.ids[best], Jaccard: bestJ}, true
}

func (r *refIndex) add(id string, sig Signature) {
	if len(r.bands) == 0 {
		r.bands = make([]map[uint64][]int, r.m.opts.Bands)
		for b := range r.bands {
			r.bands[b] = map[uint64][]int{}
		}
	}
	for b := range r.bands {
		k := r.m.bandKey(sig, b)
		r.bands[b][k] = append(r.bands[b][k], len(r.sigs))
	}
	r.sigs = append(r.sigs, sig)
	r.ids = append(r.ids, id)
}

// nearDupTexts returns n short texts over a small vocabulary, a third of
// them an earlier text with a word changed or appended: many shared bands,
// long bucket chains, and matches on both sides of the threshold.
func nearDupTexts(n int) []string {
	rng := rand.New(rand.NewPCG(5, 6))
	vocab := strings.Fields("the a cat dog sea sky write poem story explain list five why how red blue green tree river stone")
	out := make([]string, n)
	for i := range out {
		if i > 0 && rng.IntN(3) == 0 {
			w := strings.Fields(out[rng.IntN(i)])
			if rng.IntN(2) == 0 {
				w[rng.IntN(len(w))] = vocab[rng.IntN(len(vocab))]
			} else {
				w = append(w, vocab[rng.IntN(len(vocab))])
			}
			out[i] = strings.Join(w, " ")
			continue
		}
		w := make([]string, 6+rng.IntN(10))
		for j := range w {
			w[j] = vocab[rng.IntN(len(vocab))]
		}
		out[i] = strings.Join(w, " ")
	}
	return out
}

// TestMinHashMatchesReference checks the compact index, in memory and
// spilled, against the map-based one over enough texts to fill several
// spill pages.
func TestMinHashMatchesReference(t *testing.T) {
	texts := nearDupTexts(3*sigsPerPage + 100)
	for _, spill := range []bool{false, true} {
		t.Run(fmt.Sprintf("spill=%v", spill), func(t *testing.T) {
			opts := MinHashOptions{Seed: 7, Threshold: 0.7}
			if spill {
				opts.SpillDir = t.TempDir()
			}
			m, err := NewMinHash(opts)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			ref := &refIndex{m: m}
			dups := 0
			for i, s := range texts {
				sig := m.Signature(s)
				got, dup, err := m.Check(sig)
				if err != nil {
					t.Fatal(err)
				}
				want, wdup := ref.check(sig)
				if dup != wdup || got != want {
					t.Fatalf("text %d %q: Check = %+v, %v, want %+v, %v", i, s, got, dup, want, wdup)
				}
				if dup {
					dups++
					continue
				}
				id := fmt.Sprint("t", i)
				if err := m.Add(id, sig); err != nil {
					t.Fatal(err)
				}
				ref.add(id, sig)
			}
			if dups < len(texts)/10 || m.Len() < 2*sigsPerPage {
				t.Errorf("%d duplicates, %d kept: the data no longer exercises what it should", dups, m.Len())
			}
		})
	}
}
