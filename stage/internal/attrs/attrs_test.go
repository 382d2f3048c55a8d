package attrs

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

func sampleRecord(id, topic string, level int64) *record.Record {
	return &record.Record{ID: id, Stage: "attrs", Status: record.Kept, Instruction: "about " + topic,
		Meta: map[string]any{"topic": topic, "level": level},
		Prov: record.Provenance{Generator: "sample", Params: map[string]any{"columns": []string{"instruction", "topic", "level"},
			"kinds": map[string]string{"instruction": "category", "topic": "category", "level": "int"}, "possible": map[string]int{"instruction": 3, "topic": 3}}}}
}

// roundTrip is r as the SQLite store gives it back: through JSON.
func roundTrip(t *testing.T, r *record.Record) *record.Record {
	t.Helper()
	b, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var out record.Record
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return &out
}

// TestCarryThroughStages: a sample record's attributes (a column named
// like a text field included) go onto a record made from it, and from that
// onto the next, keeping the first sample record's id; both in memory and
// after a JSON round trip.
func TestCarryThroughStages(t *testing.T) {
	src := sampleRecord("attrs:1", "tides", 3)
	spec, ok := Of(src)
	if !ok || strings.Join(spec.Columns, ",") != "instruction,topic,level" || spec.Kinds["level"] != "int" {
		t.Fatalf("Of(sample record) = %+v, %v", spec, ok)
	}
	if ps := Pairs(src, spec); len(ps) != 3 || ps[0] != (Pair{"instruction", "about tides"}) || ps[2] != (Pair{"level", "3"}) {
		t.Errorf("Pairs = %v", ps)
	}
	for _, rt := range []bool{false, true} {
		in := src
		if rt {
			in = roundTrip(t, src)
		}
		mid := &record.Record{ID: "problems:1", Instruction: "a problem"}
		Carry(mid, in, spec)
		if rt {
			mid = roundTrip(t, mid)
		}
		got, ok := Of(mid)
		if !ok || len(got.Columns) != 3 || got.Possible["topic"] != 3 {
			t.Fatalf("round trip %v: Of(carried) = %+v, %v", rt, got, ok)
		}
		last := &record.Record{ID: "rl:1", Instruction: "a prompt"}
		Carry(last, mid, got)
		if Value(last, "instruction") != "about tides" || Value(last, "topic") != "tides" || last.Meta[FromKey] != "attrs:1" {
			t.Errorf("round trip %v: carried twice: %v", rt, last.Meta)
		}
		if n, ok := Number(Value(last, "level")); !ok || n != 3 {
			t.Errorf("round trip %v: level %v", rt, Value(last, "level"))
		}
	}
	if _, ok := Of(&record.Record{Meta: map[string]any{"topic": "x"}}); ok {
		t.Error("a record without declared attributes has some")
	}
	if c := Clash(Spec{Columns: []string{"topic", "kind"}}, "batch", "kind"); c != "kind" {
		t.Errorf("Clash = %q", c)
	}
}

// TestSummarizeKeptOnly: coverage counts the kept records keep accepts,
// over the columns they declare, and says how evenly they spread.
func TestSummarizeKeptOnly(t *testing.T) {
	st := pipelinetest.NewMemStore()
	var recs []*record.Record
	for i, topic := range []string{"tides", "tides", "moons", "tides", "moons"} {
		r := &record.Record{ID: string(rune('a' + i)), Stage: "out", Status: record.Kept, Meta: map[string]any{"kind": "trace"}}
		Carry(r, sampleRecord("attrs:x", topic, int64(i)), Spec{Columns: []string{"topic", "level"},
			Kinds: map[string]string{"topic": "category", "level": "int"}, Possible: map[string]int{"topic": 3}})
		switch i {
		case 3:
			r.Status = record.Rejected
		case 4:
			r.Meta["kind"] = "problem"
		}
		recs = append(recs, r)
	}
	recs = append(recs, &record.Record{ID: "z", Stage: "out", Status: record.Kept, Meta: map[string]any{"kind": "trace"}})
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "out", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	cov, err := Summarize(context.Background(), st, "out", func(r *record.Record) bool { return r.Meta["kind"] == "trace" })
	if err != nil {
		t.Fatal(err)
	}
	if cov.Records != 3 || len(cov.Columns) != 2 {
		t.Fatalf("coverage %+v", cov)
	}
	topic, level := cov.Columns[0], cov.Columns[1]
	if topic.Counts["tides"] != 2 || topic.Counts["moons"] != 1 || topic.Possible != 3 || level.Counts != nil || level.N != 3 || level.Max != 2 || level.Mean != 1 {
		t.Errorf("columns %+v", cov.Columns)
	}
	if e, ok := topic.Evenness(); !ok || e <= 0.5 || e >= 1 {
		t.Errorf("evenness %v, %v (two of three values, unevenly)", e, ok)
	}
	if out := cov.String(); !strings.Contains(out, "topic  2/3 values") || !strings.Contains(out, "level  int: min 0 · mean 1 · max 2") {
		t.Errorf("String:\n%s", out)
	}
}

// FuzzOf: whatever a record's meta holds under the attributes key (it is
// read back from stored JSON), Of neither panics nor declares a spec
// without columns, and Pairs and Carry work on what it returns.
func FuzzOf(f *testing.F) {
	f.Add(`{"columns":["topic","level"],"kinds":{"level":"int"},"possible":{"topic":3}}`)
	f.Add(`{"columns":[]}`)
	f.Add(`{"columns":"topic"}`)
	f.Add(`["topic"]`)
	f.Add(`null`)
	f.Fuzz(func(t *testing.T, doc string) {
		var v any
		if json.Unmarshal([]byte(doc), &v) != nil {
			return
		}
		r := &record.Record{ID: "r", Meta: map[string]any{SpecKey: v, "topic": v}}
		spec, ok := Of(r)
		if ok && len(spec.Columns) == 0 {
			t.Fatalf("Of(%s) declares no columns but reports some", doc)
		}
		if !ok {
			return
		}
		Pairs(r, spec)
		dst := &record.Record{}
		Carry(dst, r, spec)
		if _, ok := Of(dst); !ok {
			t.Fatalf("a carried spec %+v is not read back", spec)
		}
	})
}

// BenchmarkOf reads the spec of a record as the store gives it back, as
// status does for every kept record.
func BenchmarkOf(b *testing.B) {
	raw, _ := json.Marshal(Spec{Columns: []string{"topic", "difficulty", "persona"},
		Kinds: map[string]string{"topic": "topic", "difficulty": "category", "persona": "persona"}, Possible: map[string]int{"difficulty": 3, "persona": 40}})
	var v any
	json.Unmarshal(raw, &v)
	r := &record.Record{Meta: map[string]any{SpecKey: v}}
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := Of(r); !ok {
			b.Fatal("no spec")
		}
	}
}
