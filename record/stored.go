package record

import (
	"math"
	"time"
	"unicode/utf8"
)

// AsStored returns a copy of r as the run store gives it back: what
// decoding r's JSON (AppendJSON) with encoding/json yields, without writing
// or parsing the JSON. A streaming run hands each committed record to the
// next stage this way; encoding and decoding it cost a tenth of a
// one-request-per-record stage's CPU. ok is false when r holds something
// whose round trip this does not reproduce exactly (a string that is not
// valid UTF-8, a time outside UTC, a number JSON cannot hold, a Meta value
// of a kind AppendJSON hands to encoding/json): the caller then encodes and
// decodes. FuzzAsStored checks the copy against the round trip.
func (r *Record) AsStored() (_ *Record, ok bool) {
	c := cloner{ok: true}
	out := &Record{
		ID:          c.str(r.ID),
		Stage:       c.str(r.Stage),
		Seq:         r.Seq,
		Status:      Status(c.str(string(r.Status))),
		Instruction: c.str(r.Instruction),
		Input:       c.str(r.Input),
		Output:      c.str(r.Output),
		Reasoning:   c.str(r.Reasoning),
		Chosen:      c.str(r.Chosen),
		Rejected:    c.str(r.Rejected),
		Scores:      c.floats(r.Scores),
		Error:       c.str(r.Error),
		Usage: Usage{PromptTokens: r.Usage.PromptTokens, CompletionTokens: r.Usage.CompletionTokens,
			CostUSD: c.omitted(r.Usage.CostUSD)},
	}
	if r.IsClassification != nil {
		v := *r.IsClassification
		out.IsClassification = &v
	}
	if len(r.Messages) > 0 {
		out.Messages = make([]Turn, len(r.Messages))
		for i, t := range r.Messages {
			out.Messages[i] = Turn{Role: c.str(t.Role), Content: c.str(t.Content), Reasoning: c.str(t.Reasoning),
				ToolCalls: c.calls(t.ToolCalls), ToolCallID: c.str(t.ToolCallID), IsError: t.IsError}
		}
	}
	if len(r.Candidates) > 0 {
		out.Candidates = make([]Candidate, len(r.Candidates))
		for i, k := range r.Candidates {
			out.Candidates[i] = Candidate{Text: c.str(k.Text), Reasoning: c.str(k.Reasoning),
				FinishReason: c.str(k.FinishReason), Scores: c.floats(k.Scores)}
		}
	}
	if len(r.Meta) > 0 {
		out.Meta = c.object(r.Meta)
	}
	if len(r.Decisions) > 0 {
		out.Decisions = make([]Decision, len(r.Decisions))
		for i, d := range r.Decisions {
			out.Decisions[i] = Decision{Filter: c.str(d.Filter), Passed: d.Passed, Reason: c.str(d.Reason), Value: c.omitted(d.Value)}
		}
	}
	p := &r.Prov
	out.Prov = Provenance{Generator: c.str(p.Generator), Stage: c.str(p.Stage), Backend: c.str(p.Backend),
		Model: c.str(p.Model), TemplateHash: c.str(p.TemplateHash), ParentIDs: c.strs(p.ParentIDs),
		SeedIDs: c.strs(p.SeedIDs), RequestKeys: c.strs(p.RequestKeys), Round: p.Round, CreatedAt: c.time(p.CreatedAt)}
	if len(p.Params) > 0 {
		out.Prov.Params = c.object(p.Params)
	}
	if !c.ok {
		return nil, false
	}
	return out, true
}

// cloner copies values as a JSON round trip leaves them; ok turns false at
// the first value it cannot.
type cloner struct{ ok bool }

// str keeps s: JSON writes an invalid byte as U+FFFD, so such a string
// would come back changed.
func (c *cloner) str(s string) string {
	if !utf8.ValidString(s) {
		c.ok = false
	}
	return s
}

// num keeps f, which JSON cannot hold when it is not finite.
func (c *cloner) num(f float64) float64 {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		c.ok = false
	}
	return f
}

// omitted is a number of an omitempty field: -0 is left out like 0, and
// comes back as 0.
func (c *cloner) omitted(f float64) float64 {
	if f == 0 {
		return 0
	}
	return c.num(f)
}

// strs is a list of an omitempty field: empty, it comes back nil.
func (c *cloner) strs(ss []string) []string {
	if len(ss) == 0 {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = c.str(s)
	}
	return out
}

func (c *cloner) calls(cs []ToolCall) []ToolCall {
	if len(cs) == 0 {
		return nil
	}
	out := make([]ToolCall, len(cs))
	for i, t := range cs {
		out[i] = ToolCall{ID: c.str(t.ID), Name: c.str(t.Name), Arguments: c.str(t.Arguments)}
	}
	return out
}

// floats is a map of an omitempty field: empty, it comes back nil.
func (c *cloner) floats(m map[string]float64) map[string]float64 {
	if len(m) == 0 {
		return nil
	}
	out := make(map[string]float64, len(m))
	for k, v := range m {
		out[c.str(k)] = c.num(v)
	}
	return out
}

// time keeps t without its monotonic reading, when JSON brings it back as
// it is: in UTC and within the years RFC 3339 writes.
func (c *cloner) time(t time.Time) time.Time {
	if t.Location() != time.UTC || t.Year() < 0 || t.Year() > 9999 {
		c.ok = false
	}
	return t.Round(0)
}

// object is a JSON object as decoding into any makes it.
func (c *cloner) object(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[c.str(k)] = c.value(v)
	}
	return out
}

// value is v as decoding its JSON into any makes it: numbers float64,
// lists []any, objects map[string]any, for the kinds AppendJSON writes
// itself; any other kind sets ok to false.
func (c *cloner) value(v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case string:
		return c.str(x)
	case bool:
		return x
	case float64:
		return c.num(x)
	case int:
		return float64(x)
	case int64:
		return float64(x)
	case []string:
		return anyList(x, func(s string) any { return c.str(s) })
	case []any:
		return anyList(x, c.value)
	case map[string]any:
		if x == nil {
			return nil
		}
		return c.object(x)
	case map[string]string:
		return anyMap(c, x, func(s string) any { return c.str(s) })
	case map[string]int:
		return anyMap(c, x, func(n int) any { return float64(n) })
	}
	c.ok = false
	return nil
}

// anyList is l as decoding its JSON into any makes it, each item by val.
func anyList[V any](l []V, val func(V) any) any {
	if l == nil {
		return nil
	}
	out := make([]any, len(l))
	for i, v := range l {
		out[i] = val(v)
	}
	return out
}

// anyMap is m as decoding its JSON into any makes it, each value by val.
func anyMap[V any](c *cloner, m map[string]V, val func(V) any) any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[c.str(k)] = val(v)
	}
	return out
}
