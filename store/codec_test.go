package store

import (
	"encoding/json"
	"reflect"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/cputime"
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
// sample stage's record and a fully set one, alternating the two decoders
// in blocks of 1,000 so that both see the same load, and reports the
// process CPU time per record of each and their ratio.
//
//	go test ./store -run '^$' -bench DecodeRecord -benchtime 20x
func BenchmarkDecodeRecord(b *testing.B) {
	sampled := &record.Record{ID: "tasks:000123", Stage: "tasks", Seq: 123, Status: record.Kept,
		Meta: map[string]any{"topic": "tides", "level": 3.0},
		Prov: record.Provenance{Generator: "sample", Stage: "tasks", Params: map[string]any{"seed": 1.0}, CreatedAt: t0}}
	for _, c := range []struct {
		name string
		r    *record.Record
	}{{"sampled", sampled}, {"full", fullRecord("s", "answers:tasks:000123", 123, record.Rejected)}} {
		data, _ := json.Marshal(c.r)
		b.Run(c.name, func(b *testing.B) {
			const block = 1000
			var std, v2 time.Duration
			for b.Loop() {
				t := cputime.Process()
				for range block {
					if err := json.Unmarshal(data, new(record.Record)); err != nil {
						b.Fatal(err)
					}
				}
				u := cputime.Process()
				for range block {
					if _, err := decodeRecord(data); err != nil {
						b.Fatal(err)
					}
				}
				std, v2 = std+u-t, v2+cputime.Process()-u
			}
			n := float64(b.N * block)
			b.ReportMetric(float64(std.Nanoseconds())/n, "encoding-json-cpu-ns/record")
			b.ReportMetric(float64(v2.Nanoseconds())/n, "decodeRecord-cpu-ns/record")
			b.ReportMetric(float64(std)/float64(v2), "ratio")
		})
	}
}
