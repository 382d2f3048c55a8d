package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/synthloop/synthloop/record"
)

// sameRecords says whether a and b are the same record: equal fields, and
// times at the same instant written alike.
func sameRecords(a, b *record.Record) bool {
	ta, tb := a.Prov.CreatedAt, b.Prov.CreatedAt
	if !ta.Equal(tb) || ta.Format(time.RFC3339Nano) != tb.Format(time.RFC3339Nano) {
		return false
	}
	ca, cb := *a, *b
	ca.Prov.CreatedAt, cb.Prov.CreatedAt = time.Time{}, time.Time{}
	return reflect.DeepEqual(ca, cb)
}

// FuzzDecodeRecord: decodeRecord reads any bytes as encoding/json does,
// the same record or an error where it errs.
func FuzzDecodeRecord(f *testing.F) {
	for _, st := range []record.Status{record.Kept, record.Rejected, record.Failed} {
		b, _ := json.Marshal(fullRecord("s", "id-"+string(st), 7, st))
		f.Add(b)
	}
	f.Add([]byte(`{"id":"x","meta":{"a":[1,2.5e3,"\u00e9\ud800",null,true,{"b":{}}]},"provenance":{"created_at":"2026-12-05T05:00:00+09:00"}}`))
	f.Add([]byte(`{"ID":"case","Seq":"3","seq":1e2,"usage":{"prompt_tokens":-0},"scores":{"r":1E-7}}`))
	f.Add([]byte(`{"id":"dup","id":"again","messages":[{"role":"user","content":"x\u0000\"y"}]}`))
	f.Add([]byte("{\"output\":\"\xff\xfe bad utf-8\"}"))
	f.Add([]byte(`{"is_classification":null,"candidates":null,"meta":null}`))
	f.Add([]byte(`{"seq":9223372036854775808}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"id":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		want := new(record.Record)
		werr := json.Unmarshal(b, want)
		got, gerr := decodeRecord(b)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("%q: encoding/json: %v; decodeRecord: %v", b, werr, gerr)
		}
		if werr == nil && !sameRecords(got, want) {
			t.Fatalf("%q:\nencoding/json: %+v\ndecodeRecord:  %+v", b, want, got)
		}
	})
}

// BenchmarkDecodeRecord compares decodeRecord with encoding/json on a
// generate stage's record.
//
//	go test ./store -run '^$' -bench DecodeRecord
func BenchmarkDecodeRecord(b *testing.B) {
	data, _ := json.Marshal(fullRecord("s", "answers:tasks:000123", 123, record.Kept))
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := json.Unmarshal(data, new(record.Record)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decodeRecord", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := decodeRecord(data); err != nil {
				b.Fatal(err)
			}
		}
	})
}
