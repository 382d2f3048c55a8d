package review

import (
	"container/heap"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"iter"
	"maps"
	"slices"

	"github.com/synthloop/synthloop/record"
)

// Sampler is the part of a writable run store that drawing a sample needs.
type Sampler interface {
	IDs(ctx context.Context, stage string, status string) iter.Seq2[string, error]
	Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error]
	SetSample(ctx context.Context, stage string, ids []string) error
	SetMetaValue(ctx context.Context, key, val string) error
}

// Plan is a drawn sample: its strata, their populations and draws, kept in
// the run's metadata so that estimates weigh each stratum by the population
// it was drawn from even after the run grows.
type Plan struct {
	Stage  string    `json:"stage"`
	Seed   int64     `json:"seed"`
	Strata []Stratum `json:"strata"`
}

// Stratum is one part of the population sampled on its own.
type Stratum struct {
	// Name is "kept", or "rejected: FILTER" for the records that FILTER
	// (the first failing decision) rejected.
	Name       string `json:"name"`
	Population int    `json:"population"`
	Drawn      int    `json:"drawn"`
}

// KeptStratum names the stratum of a stage's kept records.
const KeptStratum = "kept"

// StratumOf says which stratum r belongs to, "" for a failed record.
func StratumOf(r *record.Record) string {
	switch r.Status {
	case record.Kept:
		return KeptStratum
	case record.Rejected:
		for _, d := range r.Decisions {
			if !d.Passed {
				return "rejected: " + d.Filter
			}
		}
		return "rejected: ?"
	}
	return ""
}

func planKey(stage string) string { return "review_sample:" + stage }

// Draw draws a stratified random sample of the stage: kept records, and
// perReason records rejected by each filter (0 draws none), replaces the
// stage's review sample with it and records its Plan. Each stratum is a
// simple random sample without replacement: the records with the smallest
// hash of (seed, ID), so a draw is reproducible and needs memory for the
// sample only, not the stage.
func Draw(ctx context.Context, st Sampler, stage string, kept, perReason int, seed int64) (Plan, error) {
	p := Plan{Stage: stage, Seed: seed}
	k := newSmallest(kept)
	for id, err := range st.IDs(ctx, stage, string(record.Kept)) {
		if err != nil {
			return p, fmt.Errorf("review: sample %s: %w", stage, err)
		}
		k.offer(rank(seed, id), id)
	}
	p.Strata = append(p.Strata, Stratum{Name: KeptStratum, Population: k.seen, Drawn: len(k.items)})
	ids := k.ids()
	if perReason > 0 {
		byReason := map[string]*smallest{}
		for r, err := range st.Records(ctx, stage, record.Rejected) {
			if err != nil {
				return p, fmt.Errorf("review: sample %s: %w", stage, err)
			}
			name := StratumOf(r)
			if byReason[name] == nil {
				byReason[name] = newSmallest(perReason)
			}
			byReason[name].offer(rank(seed, r.ID), r.ID)
		}
		for _, name := range slices.Sorted(maps.Keys(byReason)) {
			s := byReason[name]
			p.Strata = append(p.Strata, Stratum{Name: name, Population: s.seen, Drawn: len(s.items)})
			ids = append(ids, s.ids()...)
		}
	}
	b, err := json.Marshal(p)
	if err != nil {
		return p, fmt.Errorf("review: sample %s: %w", stage, err)
	}
	// The plan first: a sample without its plan would be weighed wrongly,
	// a plan whose sample is missing is only redrawn.
	if err := st.SetMetaValue(ctx, planKey(stage), string(b)); err != nil {
		return p, fmt.Errorf("review: sample %s: %w", stage, err)
	}
	if err := st.SetSample(ctx, stage, ids); err != nil {
		return p, fmt.Errorf("review: sample %s: %w", stage, err)
	}
	return p, nil
}

// SampleIDs returns up to n of the IDs ids yields, the same simple random
// sample without replacement that Draw takes for seed (the smallest hashes
// of seed and ID), sorted, and how many IDs there were. Memory is bounded by
// n, not by the IDs.
func SampleIDs(ids iter.Seq2[string, error], n int, seed int64) ([]string, int, error) {
	s := newSmallest(n)
	for id, err := range ids {
		if err != nil {
			return nil, s.seen, err
		}
		s.offer(rank(seed, id), id)
	}
	return s.ids(), s.seen, nil
}

func rank(seed int64, id string) uint64 {
	h := fnv.New64a()
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], uint64(seed))
	h.Write(b[:])
	h.Write([]byte(id))
	return h.Sum64()
}

// smallest keeps the n items of smallest rank offered to it (a max-heap).
type smallest struct {
	n     int
	seen  int
	items []ranked
}

type ranked struct {
	r  uint64
	id string
}

func newSmallest(n int) *smallest { return &smallest{n: n} }

func (s *smallest) offer(r uint64, id string) {
	s.seen++
	if s.n <= 0 {
		return
	}
	if len(s.items) < s.n {
		heap.Push(s, ranked{r, id})
		return
	}
	if top := s.items[0]; r < top.r || r == top.r && id < top.id {
		s.items[0] = ranked{r, id}
		heap.Fix(s, 0)
	}
}

func (s *smallest) ids() []string {
	out := make([]string, len(s.items))
	for i, it := range s.items {
		out[i] = it.id
	}
	slices.Sort(out)
	return out
}

func (s *smallest) Len() int { return len(s.items) }
func (s *smallest) Less(i, j int) bool {
	a, b := s.items[i], s.items[j]
	return a.r > b.r || a.r == b.r && a.id > b.id
}
func (s *smallest) Swap(i, j int) { s.items[i], s.items[j] = s.items[j], s.items[i] }
func (s *smallest) Push(x any)    { s.items = append(s.items, x.(ranked)) }
func (s *smallest) Pop() any {
	x := s.items[len(s.items)-1]
	s.items = s.items[:len(s.items)-1]
	return x
}
