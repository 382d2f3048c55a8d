package insight

import (
	"fmt"
	"reflect"
	"testing"

	"github.com/synthloop/synthloop/record"
)

func TestNearDuplicates(t *testing.T) {
	kept := func(id, inst, input string) *record.Record {
		return &record.Record{ID: id, Status: record.Kept, Instruction: inst, Input: input}
	}
	poem := "Write a short poem about the sea at night with stars and waves and a quiet moon over the water"
	recs := []*record.Record{
		kept("a", poem, ""),
		kept("b", "Explain how a refrigerator keeps food cold using a compressor and a refrigerant gas loop", ""),
		kept("c", poem+".", ""),      // punctuation aside, the same
		kept("d", poem+" today", ""), // near
		kept("e", "Explain how a refrigerator keeps food cold using a compressor and a refrigerant gas loop!", ""),
		{ID: "f", Status: record.Rejected, Instruction: poem}, // rejected: not compared
		kept("g", "Translate this sentence into French", "The cat sleeps on the warm windowsill all afternoon long"),
		kept("h", "", ""),   // nothing to compare
		kept("a", poem, ""), // the same record again
		kept("i", "海について短い詩を書いてください。夜の星と波と静かな月を入れてください。", ""),
		kept("j", "海について短い詩を書いてください。夜の星と波と静かな月を入れてください", ""),
	}
	c, err := NearDuplicates(recs)
	if err != nil {
		t.Fatal(err)
	}
	if c.Compared != 8 || c.Groups != 3 || c.Duplicated != 7 || c.Threshold != 0.8 {
		t.Errorf("compared %d, %d groups of %d records, threshold %v; want 8, 3 of 7, 0.8", c.Compared, c.Groups, c.Duplicated, c.Threshold)
	}
	var got [][]string
	for _, cl := range c.Clusters {
		var ids []string
		for _, m := range cl.Members {
			ids = append(ids, m.ID)
		}
		got = append(got, ids)
		if cl.Size != len(ids) || cl.Members[0].Jaccard != 1 || cl.Prompt == "" {
			t.Errorf("cluster %+v", cl)
		}
	}
	want := [][]string{{"a", "c", "d"}, {"b", "e"}, {"i", "j"}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("clusters %v, want %v", got, want)
	}
}

// TestNearDuplicatesBounded: the page lists at most topClusters groups of
// at most maxMembers records, the largest first.
func TestNearDuplicatesBounded(t *testing.T) {
	var recs []*record.Record
	for g := range 30 {
		for i := range g%5 + 2 + 10*(g/29) { // group 29 has 16 members
			recs = append(recs, &record.Record{ID: fmt.Sprintf("g%02d-%02d", g, i), Status: record.Kept,
				Instruction: fmt.Sprintf("write %d essays on topic %d of %d bridges", g, g, g)})
		}
	}
	c, err := NearDuplicates(recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Clusters) != topClusters || c.Clusters[0].Size != 16 || len(c.Clusters[0].Members) != maxMembers {
		t.Fatalf("%d clusters, the first of %d with %d members", len(c.Clusters), c.Clusters[0].Size, len(c.Clusters[0].Members))
	}
	for i := 1; i < len(c.Clusters); i++ {
		if c.Clusters[i].Size > c.Clusters[i-1].Size {
			t.Errorf("cluster %d of %d after one of %d", i, c.Clusters[i].Size, c.Clusters[i-1].Size)
		}
	}
}
