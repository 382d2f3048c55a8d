package evol

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// Survival is how many evolutions of one kind survived elimination.
type Survival struct {
	Name     string  `json:"name"` // an operation, "generation N" or "all"
	Tried    int     `json:"tried"`
	Kept     int     `json:"kept"`
	Rejected int     `json:"rejected"`
	Failed   int     `json:"failed"` // model or judge errors
	Rate     float64 `json:"survival"`
	// Eliminated counts rejections by the filter that made them.
	Eliminated map[string]int `json:"eliminated,omitempty"`
}

// Report is an evol stage's survival per operation and per generation.
// Originals (generation 0) are not evolutions and are left out.
type Report struct {
	Operations  []Survival `json:"operations"` // in Operations order, tried ones only
	Generations []Survival `json:"generations"`
	All         Survival   `json:"all"`
}

// Summarize reads an evol stage's records and reports survival rates: a
// low rate for one operation says its prompt does not suit the model or
// the data (the paper's eliminations are what the filters count).
func Summarize(ctx context.Context, st pipeline.Store, stage string) (Report, error) {
	ops := map[string]*Survival{}
	gens := map[int]*Survival{}
	all := &Survival{Name: "all"}
	for r, err := range st.Records(ctx, stage, "") {
		if err != nil {
			return Report{}, err
		}
		g := metaInt(r.Meta[MetaGeneration])
		op, _ := r.Meta[MetaOperation].(string)
		if g <= 0 || op == "" {
			continue
		}
		if ops[op] == nil {
			ops[op] = &Survival{Name: op}
		}
		if gens[g] == nil {
			gens[g] = &Survival{Name: fmt.Sprintf("generation %d", g)}
		}
		for _, s := range []*Survival{ops[op], gens[g], all} {
			s.add(r)
		}
	}
	var rep Report
	for _, op := range Operations {
		if s := ops[op]; s != nil {
			rep.Operations = append(rep.Operations, s.done())
			delete(ops, op)
		}
	}
	// Operations a future version might add still show, after the known ones.
	for _, op := range slices.Sorted(maps.Keys(ops)) {
		rep.Operations = append(rep.Operations, ops[op].done())
	}
	for _, g := range slices.Sorted(maps.Keys(gens)) {
		rep.Generations = append(rep.Generations, gens[g].done())
	}
	rep.All = all.done()
	return rep, nil
}

func (s *Survival) add(r *record.Record) {
	s.Tried++
	switch r.Status {
	case record.Kept:
		s.Kept++
	case record.Rejected:
		s.Rejected++
		for _, d := range r.Decisions {
			if !d.Passed {
				if s.Eliminated == nil {
					s.Eliminated = map[string]int{}
				}
				s.Eliminated[d.Filter]++
			}
		}
	default:
		s.Failed++
	}
}

func (s *Survival) done() Survival {
	if s.Tried > 0 {
		s.Rate = float64(s.Kept) / float64(s.Tried)
	}
	return *s
}

// metaInt reads a number from Meta, which holds an int before a store round
// trip and a float64 after one.
func metaInt(v any) int {
	switch n := v.(type) {
	case int:
		return n
	case int64:
		return int(n)
	case float64:
		return int(n)
	}
	return -1
}

// String renders the report as a small table for a terminal.
func (rep Report) String() string {
	var b strings.Builder
	b.WriteString("evolution            tried   kept  survival  failed  eliminated by\n")
	row := func(s Survival) {
		fmt.Fprintf(&b, "%-18s  %6d  %5d  %7.1f%%  %6d  %s\n", s.Name, s.Tried, s.Kept, 100*s.Rate, s.Failed, eliminated(s.Eliminated))
	}
	for _, s := range rep.Operations {
		row(s)
	}
	for _, s := range rep.Generations {
		row(s)
	}
	row(rep.All)
	return b.String()
}

// eliminated lists filter counts, most frequent first.
func eliminated(m map[string]int) string {
	if len(m) == 0 {
		return "-"
	}
	var fs []string
	for f := range m {
		fs = append(fs, f)
	}
	sort.Slice(fs, func(i, j int) bool {
		if m[fs[i]] != m[fs[j]] {
			return m[fs[i]] > m[fs[j]]
		}
		return fs[i] < fs[j]
	})
	var parts []string
	for _, f := range fs {
		parts = append(parts, fmt.Sprintf("%s %d", f, m[f]))
	}
	return strings.Join(parts, ", ")
}
