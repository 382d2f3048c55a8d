package insight

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/dedup"
	"github.com/synthloop/synthloop/record"
)

// Clusters are the near-duplicate groups among a stage's kept records.
type Clusters struct {
	// Threshold is the estimated Jaccard similarity of word 3-gram
	// shingles at which two prompts are near duplicates (the dedup
	// stage's default).
	Threshold float64 `json:"threshold"`
	// Compared counts the kept records with a prompt; Duplicated those in
	// a cluster of two or more, and Groups the number of such clusters.
	Compared   int `json:"compared"`
	Duplicated int `json:"duplicated"`
	Groups     int `json:"groups"`
	// Clusters are the largest groups, at most topClusters, largest first.
	Clusters []Cluster `json:"clusters"`
}

// Cluster is a group of kept records whose prompts are near duplicates of
// one another, directly or through a chain of them (single linkage).
type Cluster struct {
	Size int `json:"size"`
	// Prompt is the first member's prompt.
	Prompt string `json:"prompt"`
	// Members are the first maxMembers records, in sample order, with
	// their estimated similarity to the first.
	Members []Member `json:"members"`
}

// Member is a record of a cluster.
type Member struct {
	ID      string  `json:"id"`
	Jaccard float64 `json:"jaccard"`
}

const (
	topClusters = 20
	maxMembers  = 12
)

// Prompt is what a record asks with what it was given: its instruction
// (or first user turn) and input, the text the dedup stage compares by
// default.
func Prompt(r *record.Record) string {
	inst := Instruction(r)
	switch {
	case inst == "":
		return r.Input
	case r.Input == "":
		return inst
	}
	return inst + "\n" + r.Input
}

// NearDuplicates groups the kept records of recs by MinHash LSH over their
// prompts: each record joins the group of the earliest record it is near,
// so chains of near duplicates form one group. The index holds every
// prompt, so memory grows with len(recs): about 0.6 KB a record.
func NearDuplicates(recs []*record.Record) (Clusters, error) {
	m, err := dedup.NewMinHash(dedup.MinHashOptions{Capacity: len(recs)})
	if err != nil {
		return Clusters{}, fmt.Errorf("near duplicates: %w", err)
	}
	defer m.Close()
	c := Clusters{Threshold: m.Options().Threshold, Clusters: []Cluster{}}
	var kept []*record.Record
	var sigs []dedup.Signature
	index := map[string]int{} // ID → position in kept
	parent := []int{}         // union-find over kept
	var find func(int) int
	find = func(i int) int {
		for parent[i] != i {
			parent[i] = parent[parent[i]]
			i = parent[i]
		}
		return i
	}
	for _, r := range recs {
		p := Prompt(r)
		if _, twice := index[r.ID]; twice || r.Status != record.Kept || strings.TrimSpace(p) == "" {
			continue
		}
		sig := m.Signature(p)
		if len(sig) == 0 {
			continue
		}
		i := len(kept)
		kept, sigs, parent = append(kept, r), append(sigs, sig), append(parent, i)
		index[r.ID] = i
		match, ok, err := m.Check(sig)
		if err != nil {
			return c, fmt.Errorf("near duplicates: %w", err)
		}
		if ok {
			// The earlier root stays the root, so a group's first record is
			// its first in sample order.
			parent[find(i)] = find(index[match.ID])
		}
		if err := m.Add(r.ID, sig); err != nil {
			return c, fmt.Errorf("near duplicates: %w", err)
		}
	}
	c.Compared = len(kept)
	groups := map[int][]int{}
	for i := range kept {
		root := find(i)
		groups[root] = append(groups[root], i)
	}
	for root, members := range groups {
		if len(members) < 2 {
			continue
		}
		c.Groups++
		c.Duplicated += len(members)
		cl := Cluster{Size: len(members), Prompt: Prompt(kept[root])}
		for _, i := range members[:min(maxMembers, len(members))] {
			cl.Members = append(cl.Members, Member{ID: kept[i].ID, Jaccard: sigs[i].Jaccard(sigs[root])})
		}
		c.Clusters = append(c.Clusters, cl)
	}
	slices.SortFunc(c.Clusters, func(a, b Cluster) int {
		return cmp.Or(b.Size-a.Size, strings.Compare(a.Members[0].ID, b.Members[0].ID))
	})
	c.Clusters = c.Clusters[:min(topClusters, len(c.Clusters))]
	return c, nil
}
