package record

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"
)

// roundTrip is r as the store gives it back: encoded, then decoded by
// encoding/json (the store's decoder reads the same, FuzzDecodeRecord).
func roundTrip(r *Record) (*Record, error) {
	b, err := r.AppendJSON(nil)
	if err != nil {
		return nil, err
	}
	out := new(Record)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, err
	}
	return out, nil
}

// checkAsStored fails t when AsStored copies r but not as the round trip
// gives it back, or copies a record the round trip refuses.
func checkAsStored(t *testing.T, r *Record) bool {
	t.Helper()
	got, ok := r.AsStored()
	want, err := roundTrip(r)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("AsStored copied a record whose JSON round trip fails: %v", err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("AsStored = %#v\nround trip = %#v", got, want)
	}
	return true
}

// TestAsStored: the copy is the round trip's record, for the examples in
// UTC, a time with a monotonic reading, and the values it leaves to the
// round trip (invalid UTF-8, a zone, kinds AppendJSON does not write).
func TestAsStored(t *testing.T) {
	for i, r := range examples() {
		r.Prov.CreatedAt = r.Prov.CreatedAt.UTC()
		delete(r.Meta, "n32") // kinds AppendJSON hands to encoding/json: below
		delete(r.Meta, "u")
		if i == 2 {
			r.Output = "潮の満ち引き\x01\x7f" // valid UTF-8
		}
		if !checkAsStored(t, r) {
			t.Errorf("example %d: AsStored declined it", i)
		}
	}
	now := &Record{ID: "a", Meta: map[string]any{"n": int64(1) << 60}, Prov: Provenance{CreatedAt: time.Now().UTC()}}
	if !checkAsStored(t, now) {
		t.Error("a record made now: AsStored declined it")
	}
	declined := []*Record{
		{Output: "\xff"},
		{Meta: map[string]any{"\xfe": 1}},
		{Meta: map[string]any{"n": int32(1)}},
		{Meta: map[string]any{"f": map[string]float64{"a": 1}}},
		{Scores: map[string]float64{"x": 1 / zero()}},
		{Prov: Provenance{CreatedAt: time.Date(2026, 1, 1, 0, 0, 0, 0, time.FixedZone("X", 3600))}},
		{Prov: Provenance{CreatedAt: time.Now()}}, // Local, even where Local is UTC
		{Prov: Provenance{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for i, r := range declined {
		if got, ok := r.AsStored(); ok {
			t.Errorf("record %d: AsStored = %#v, want it declined", i, got)
		}
	}
}

func zero() float64 { return 0 }

// FuzzAsStored: for any record (as FuzzAppendJSON makes them, at a time
// from n), AsStored copies it as the JSON round trip gives it back, or
// declines.
func FuzzAsStored(f *testing.F) {
	for _, r := range examples() {
		b, _ := reference(r)
		f.Add(b, "text", 0.5, int64(3))
	}
	f.Add([]byte(`{"meta":{"a":[1,{"b":null}],"c":1e300}}`), "<\xff\u2029\x00>", -0.0, int64(-1)<<62)
	f.Add([]byte(`{"decisions":[{"value":-0}],"usage":{"cost_usd":0}}`), "ok", 1e21, int64(9007199254740993))
	f.Fuzz(func(t *testing.T, data []byte, s string, x float64, n int64) {
		r := fuzzRecord(data, s, x, n)
		r.Prov.CreatedAt = time.Unix(0, n).UTC()
		checkAsStored(t, &r)
	})
}
