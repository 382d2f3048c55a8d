package record

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/cputime"
)

// reference is r as encoding/json encodes it.
func reference(r *Record) ([]byte, error) { return json.Marshal(r) }

// direct is r as AppendJSON encodes it.
func direct(r *Record) ([]byte, error) { return r.AppendJSON(nil) }

func yes() *bool { b := true; return &b }

// examples are records as stages make them and as the store reads them
// back, every field set somewhere.
func examples() []*Record {
	at := time.Date(2026, 12, 5, 6, 40, 1, 123456789, time.FixedZone("JST", 9*3600))
	return []*Record{
		{},
		{ID: "tasks:0001", Stage: "tasks", Seq: 2, Status: Kept, Meta: map[string]any{"topic": "tides", "level": int64(3)},
			Prov: Provenance{Generator: "sample", Stage: "tasks", TemplateHash: "ab12", CreatedAt: at,
				Params: map[string]any{"columns": []string{"topic", "level"}, "kinds": map[string]string{"topic": "category", "level": "int"},
					"possible": map[string]int{"topic": 4}, "index": 1}}},
		{ID: "answers:tasks:0001", Stage: "answers", Status: Failed, Instruction: "Explain <tides> & \"waves\"\n\t\u2028",
			Output: "潮の満ち引き\x01\x7f", Reasoning: "r", IsClassification: yes(), Chosen: "c", Rejected: "d", Input: "in",
			Messages: []Turn{{Role: "user", Content: "q"}, {Role: "assistant", Content: "", Reasoning: "think",
				ToolCalls: []ToolCall{{ID: "1", Name: "f", Arguments: `{"a":1}`}, {}}}, {Role: "tool", Content: "x", ToolCallID: "1", IsError: true}},
			Candidates: []Candidate{{Text: "t", Reasoning: "r", FinishReason: "stop", Scores: map[string]float64{"b": 1e-7, "a": 1e21}}, {}},
			Scores:     map[string]float64{"judge": 0.25, "len": -3},
			Meta: map[string]any{"sample": 0, "nested": map[string]any{"x": []any{1.5, nil, true, "s", map[string]any{}}}, "nil": nil,
				"list": []any{}, "nilmap": map[string]any(nil), "nilstrs": []string(nil), "n32": int32(7), "u": uint(9)},
			Decisions: []Decision{{Filter: "rouge", Passed: false, Reason: "too close", Value: 0.71}, {Filter: "len", Passed: true}},
			Error:     "generate: the reply is empty", Usage: Usage{PromptTokens: 12, CompletionTokens: 30, CostUSD: 0.000125},
			Prov: Provenance{Generator: "generate", Stage: "answers", Backend: "openai", Model: "m", ParentIDs: []string{"tasks:0001"},
				SeedIDs: []string{"s1", "s2"}, RequestKeys: []string{"k"}, Round: 3, Params: map[string]any{"temperature": 0.7}, CreatedAt: at.UTC()}},
		{Usage: Usage{CostUSD: 1}, Scores: map[string]float64{}, Meta: map[string]any{}, Messages: []Turn{}, Prov: Provenance{ParentIDs: []string{}}},
	}
}

// TestAppendJSON: the direct encoder writes what encoding/json writes,
// after what the buffer held.
func TestAppendJSON(t *testing.T) {
	for i, r := range examples() {
		got, err := r.AppendJSON([]byte("x"))
		want, werr := reference(r)
		if err != nil || werr != nil || !bytes.Equal(got, append([]byte("x"), want...)) {
			t.Errorf("record %d: AppendJSON = %s, %v\nencoding/json = %s, %v", i, got, err, want, werr)
		}
	}
	bad := []*Record{
		{Scores: map[string]float64{"x": math.NaN()}},
		{Meta: map[string]any{"x": math.Inf(1)}},
		{Meta: map[string]any{"x": make(chan int)}},
		{Prov: Provenance{CreatedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}},
	}
	for i, r := range bad {
		if b, err := direct(r); err == nil {
			t.Errorf("bad record %d: AppendJSON = %s, want an error", i, b)
		}
	}
}

// FuzzAppendJSON: for any record (read from JSON, then given arbitrary
// strings and numbers in every place the encoder writes them itself), the
// direct encoder writes what encoding/json writes, or errs where it errs.
func FuzzAppendJSON(f *testing.F) {
	for _, r := range examples() {
		b, _ := reference(r)
		f.Add(b, "text", 0.5, int64(3))
	}
	f.Add([]byte(`{"meta":{"a":[1,{"b":null}],"c":1e300}}`), "<\xff\u2029\x00>", 1e-7, int64(-1))
	f.Fuzz(func(t *testing.T, data []byte, s string, x float64, n int64) {
		r := fuzzRecord(data, s, x, n)
		got, err := direct(&r)
		want, werr := reference(&r)
		if (err == nil) != (werr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("AppendJSON = %s, %v\nencoding/json = %s, %v", got, err, want, werr)
		}
	})
}

// fuzzRecord is a record read from data (empty when data is not one) and
// given s, x and n in every place the encoder writes a string or a number
// itself.
func fuzzRecord(data []byte, s string, x float64, n int64) Record {
	var r Record
	if json.Unmarshal(data, &r) != nil {
		r = Record{}
	}
	if r.Meta == nil {
		r.Meta = map[string]any{}
	}
	r.ID, r.Output = s, s+r.Output
	r.Meta[s] = s
	r.Meta["x"], r.Meta["n"], r.Meta["i"] = x, n, int(n)
	r.Meta["ss"], r.Meta["ms"], r.Meta["mi"] = []string{s, ""}, map[string]string{s: s, "k": ""}, map[string]int{s: int(n)}
	r.Scores = map[string]float64{s: x}
	r.Decisions = append(r.Decisions, Decision{Filter: s, Reason: s, Value: x})
	r.Messages = append(r.Messages, Turn{Role: s, Content: s, ToolCalls: []ToolCall{{Name: s}}})
	r.Usage.CostUSD, r.Usage.PromptTokens, r.Seq = x, int(n), n
	r.Prov.Round, r.Prov.SeedIDs = int(n), append(r.Prov.SeedIDs, s)
	if r.Prov.Params == nil {
		r.Prov.Params = map[string]any{}
	}
	r.Prov.Params[s] = []any{x, s, n}
	return r
}

// BenchmarkAppendJSON compares the direct encoder with encoding/json on a
// generated record, as the store encodes it.
func BenchmarkAppendJSON(b *testing.B) {
	r := examples()[1]
	r.Output = "A short answer."
	r.Prov.RequestKeys = []string{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	for _, c := range []struct {
		name string
		enc  func() ([]byte, error)
	}{
		{"direct", func() ([]byte, error) { return direct(r) }},
		{"json.Marshal", func() ([]byte, error) { return reference(r) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			cpu0 := cputime.Process()
			for b.Loop() {
				if _, err := c.enc(); err != nil {
					b.Fatal(err)
				}
			}
			// The CPU time, which a loaded machine changes less than the wall clock.
			b.ReportMetric(float64((cputime.Process()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/op")
		})
	}
}

// TestSizeHint: a record as the generate stage makes it is encoded into
// the buffer AppendJSON allocates, without growing it.
func TestSizeHint(t *testing.T) {
	r := examples()[1]
	r.Output = "A short answer."
	r.Prov.RequestKeys = []string{"0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"}
	b, err := r.AppendJSON(nil)
	if err != nil || len(b) > r.sizeHint() {
		t.Errorf("%d bytes, hint %d, %v", len(b), r.sizeHint(), err)
	}
}
