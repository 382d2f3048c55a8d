package insight

import (
	"context"
	"fmt"
	"iter"
	"math"
	"reflect"
	"testing"

	"github.com/synthloop/synthloop/record"
)

func TestNewHistogram(t *testing.T) {
	for _, tc := range []struct {
		name string
		vals []float64
		want []Bin
	}{
		{"empty", nil, []Bin{}},
		{"one value", []float64{3}, []Bin{{3, 4, 1}}},
		{"small integers one bar each", []float64{1, 2, 2, 5}, []Bin{{1, 2, 1}, {2, 3, 2}, {3, 4, 0}, {4, 5, 0}, {5, 6, 1}}},
		{"wide integers round widths", []float64{0, 7, 95}, []Bin{
			{0, 5, 1}, {5, 10, 1}, {10, 15, 0}, {15, 20, 0}, {20, 25, 0}, {25, 30, 0}, {30, 35, 0}, {35, 40, 0}, {40, 45, 0},
			{45, 50, 0}, {50, 55, 0}, {55, 60, 0}, {60, 65, 0}, {65, 70, 0}, {70, 75, 0}, {75, 80, 0}, {80, 85, 0}, {85, 90, 0},
			{90, 95, 0}, {95, 100, 1}}},
		{"fractions", []float64{0.5, 0.5, 0.6}, []Bin{{0.5, 0.505, 2}, {0.505, 0.51, 0}, {0.51, 0.515, 0}, {0.515, 0.52, 0}, {0.52, 0.525, 0},
			{0.525, 0.53, 0}, {0.53, 0.535, 0}, {0.535, 0.54, 0}, {0.54, 0.545, 0}, {0.545, 0.55, 0}, {0.55, 0.555, 0}, {0.555, 0.56, 0},
			{0.56, 0.565, 0}, {0.565, 0.57, 0}, {0.57, 0.575, 0}, {0.575, 0.58, 0}, {0.58, 0.585, 0}, {0.585, 0.59, 0}, {0.59, 0.595, 0}, {0.595, 0.6, 1}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := NewHistogram("x", "u", tc.vals)
			if len(h.Bins) != len(tc.want) {
				t.Fatalf("NewHistogram(%v) = %d bins %v, want %d %v", tc.vals, len(h.Bins), h.Bins, len(tc.want), tc.want)
			}
			total := 0
			for i, b := range h.Bins {
				w := tc.want[i]
				if b.N != w.N || math.Abs(b.Lo-w.Lo) > 1e-9 || math.Abs(b.Hi-w.Hi) > 1e-9 {
					t.Errorf("bin %d = %v, want %v", i, b, w)
				}
				total += b.N
			}
			if total != len(tc.vals) || h.N != len(tc.vals) {
				t.Errorf("bins hold %d values, N = %d, want %d", total, h.N, len(tc.vals))
			}
			if len(h.Bins) > maxBins {
				t.Errorf("%d bins, more than %d", len(h.Bins), maxBins)
			}
		})
	}
}

func TestNewHistogramBounded(t *testing.T) {
	for _, vals := range [][]float64{{0, 1e6}, {-3.2, 7.9, 1e-3}, {1, 1, 1}, {0.999, 1}} {
		h := NewHistogram("x", "u", vals)
		n := 0
		for _, b := range h.Bins {
			n += b.N
		}
		if len(h.Bins) == 0 || len(h.Bins) > maxBins || n != len(vals) {
			t.Errorf("NewHistogram(%v): %d bins holding %d values", vals, len(h.Bins), n)
		}
	}
}

func TestDistinctN(t *testing.T) {
	for _, tc := range []struct {
		outs   []string
		d1, d2 float64
		tokens int
	}{
		{nil, 0, 0, 0},
		{[]string{"a b a b"}, 2.0 / 4, 2.0 / 3, 4}, // bigrams ab, ba, ab
		{[]string{"the cat", "the cat"}, 2.0 / 4, 1.0 / 2, 4},
		{[]string{"one", "two"}, 1, 0, 2}, // no bigram spans outputs
		{[]string{"The CAT", "the cat"}, 2.0 / 4, 1.0 / 2, 4},
	} {
		d, err := DistinctN(tc.outs)
		if err != nil {
			t.Fatal(err)
		}
		if d.Tokens != tc.tokens || math.Abs(d.D1-tc.d1) > 1e-12 || math.Abs(d.D2-tc.d2) > 1e-12 {
			t.Errorf("DistinctN(%q) = %+v, want tokens %d, distinct-1 %v, distinct-2 %v", tc.outs, d, tc.tokens, tc.d1, tc.d2)
		}
	}
}

func TestCompute(t *testing.T) {
	recs := []*record.Record{
		{ID: "a", Status: record.Kept, Instruction: "Write a poem about the sea.", Output: "Waves roll in.", Scores: map[string]float64{"judge": 8}},
		{ID: "b", Status: record.Rejected, Instruction: "海について詩を書いてください。", Output: "波が寄せる。",
			Decisions: []record.Decision{{Filter: "length", Passed: true}, {Filter: "rouge", Passed: false}, {Filter: "judge", Passed: false}}},
		{ID: "c", Status: record.Rejected, Instruction: "Hi", Decisions: []record.Decision{{Filter: "<script>alert(1)</script>", Passed: false}},
			Meta: map[string]any{"lang": "<b>xx</b>"}, Scores: map[string]float64{"judge": 3, "bad": math.NaN()}},
		{ID: "d", Status: record.Failed, Messages: []record.Turn{{Role: "user", Content: "hello there"}, {Role: "assistant", Content: "hi"}}},
	}
	rep, err := Compute(recs)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Sampled != 4 {
		t.Errorf("Sampled = %d, want 4", rep.Sampled)
	}
	if want := []Count{{"rejected", 2}, {"failed", 1}, {"kept", 1}}; !reflect.DeepEqual(rep.Status, want) {
		t.Errorf("Status = %v, want %v", rep.Status, want)
	}
	if want := []Count{{"<script>alert(1)</script>", 1}, {"rouge", 1}}; !reflect.DeepEqual(rep.Rejections, want) {
		t.Errorf("Rejections = %v, want %v (first failing filter only)", rep.Rejections, want)
	}
	if want := []Count{{"en", 2}, {"<b>xx</b>", 1}, {"ja", 1}}; !reflect.DeepEqual(rep.Languages, want) {
		t.Errorf("Languages = %v, want %v", rep.Languages, want)
	}
	if got := []int{rep.Lengths[0].N, rep.Lengths[1].N}; !reflect.DeepEqual(got, []int{4, 3}) {
		t.Errorf("length histogram sizes = %v, want [4 3] (c has no output)", got)
	}
	// "Write a poem about the sea." is 6 words, "Hi" 1; the Japanese one
	// counts kagome morphemes.
	if h := rep.Lengths[0]; h.Min != 1 || h.Bins[6-1].N != 1 {
		t.Errorf("instruction lengths %+v, want a shortest of 1 and one of 6", h)
	}
	if len(rep.Scores) != 1 || rep.Scores[0].Name != "judge" || rep.Scores[0].N != 2 {
		t.Errorf("Scores = %+v, want judge with 2 values (a NaN is no score)", rep.Scores)
	}
	if rep.Distinct.Outputs != 3 {
		t.Errorf("distinct-n over %d outputs, want 3", rep.Distinct.Outputs)
	}
}

// fakeStore is a stage of n records with the ID "r%05d".
type fakeStore struct {
	n     int
	reads int
}

func (f *fakeStore) IDs(ctx context.Context, stage, status string) iter.Seq2[string, error] {
	return func(yield func(string, error) bool) {
		for i := range f.n {
			if !yield(fmt.Sprintf("r%05d", i), nil) {
				return
			}
		}
	}
}

func (f *fakeStore) Record(ctx context.Context, id string) (*record.Record, error) {
	f.reads++
	return &record.Record{ID: id, Status: record.Kept, Instruction: "Say " + id, Output: id}, nil
}

func TestLoadBounded(t *testing.T) {
	for _, tc := range []struct{ n, limit, want int }{{10, 100, 10}, {1000, 100, 100}, {0, 5, 0}} {
		f := &fakeStore{n: tc.n}
		rep, err := Load(context.Background(), f, "s", tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		if rep.Population != tc.n || rep.Sampled != tc.want || f.reads != tc.want {
			t.Errorf("Load(%d records, limit %d) = population %d, sampled %d, %d reads; want %d, %d, %d",
				tc.n, tc.limit, rep.Population, rep.Sampled, f.reads, tc.n, tc.want, tc.want)
		}
		again, _ := Load(context.Background(), &fakeStore{n: tc.n}, "s", tc.limit)
		if !reflect.DeepEqual(rep, again) {
			t.Errorf("Load(%d, %d) differs between two calls", tc.n, tc.limit)
		}
	}
}
