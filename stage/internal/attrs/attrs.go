// Package attrs is what the generating stages share about sample attributes: the columns a record was drawn from, carrying their values onto the records made from it, and how evenly a stage's kept records cover them.
package attrs

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/record"
)

// Meta keys of a record that carries attributes.
const (
	// SpecKey holds the Spec: which meta fields are attributes, and of
	// what kind.
	SpecKey = "attributes"
	// FromKey holds the id of the sample record the attributes were drawn
	// in (the first one, when they were carried through several stages).
	FromKey = "attributes_from"
)

// Spec names the attribute columns of a record, in their declared order,
// with each one's kind (a sample column kind; "" when not known) and, for a
// column with a list of values, how many it can take.
type Spec struct {
	Columns  []string          `json:"columns"`
	Kinds    map[string]string `json:"kinds,omitempty"`
	Possible map[string]int    `json:"possible,omitempty"`
}

// Numeric reports whether a column of kind k holds numbers (summarised by
// range rather than counted per value).
func Numeric(k string) bool { return k == "int" || k == "uniform" || k == "normal" }

// Of returns the attributes r declares: a sample record's columns (from
// its provenance), or those carried onto it (Meta[SpecKey]).
func Of(r *record.Record) (Spec, bool) {
	if v, ok := r.Meta[SpecKey]; ok {
		return decode(v)
	}
	if r.Prov.Generator == "sample" && r.Prov.Params["columns"] != nil {
		return decode(r.Prov.Params)
	}
	return Spec{}, false
}

// decode reads a Spec from what a record holds: the Spec itself when the
// record was made in this process, or maps and lists after the store's
// JSON round trip.
func decode(v any) (Spec, bool) {
	switch x := v.(type) {
	case Spec:
		return x, len(x.Columns) > 0
	case map[string]any:
		// The store's form, read directly: status reads every record.
		if s, ok := fromJSONMap(x); ok {
			return s, len(s.Columns) > 0
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return Spec{}, false
	}
	var s Spec
	if json.Unmarshal(b, &s) != nil {
		return Spec{}, false
	}
	return s, len(s.Columns) > 0
}

// fromJSONMap reads a Spec decoded from JSON into maps and lists; ok is
// false for any other shape (the caller then goes through JSON).
func fromJSONMap(m map[string]any) (Spec, bool) {
	cols, ok := m["columns"].([]any)
	if !ok {
		return Spec{}, false
	}
	s := Spec{Columns: make([]string, 0, len(cols))}
	for _, c := range cols {
		name, ok := c.(string)
		if !ok {
			return Spec{}, false
		}
		s.Columns = append(s.Columns, name)
	}
	if k, ok := m["kinds"].(map[string]any); ok {
		s.Kinds = make(map[string]string, len(k))
		for name, v := range k {
			if s.Kinds[name], ok = v.(string); !ok {
				return Spec{}, false
			}
		}
	}
	if p, ok := m["possible"].(map[string]any); ok {
		s.Possible = make(map[string]int, len(p))
		for name, v := range p {
			n, ok := v.(float64)
			if !ok || n != float64(int(n)) {
				return Spec{}, false
			}
			s.Possible[name] = int(n)
		}
	}
	return s, true
}

// Named is the Spec of meta fields named by a stage's settings, whose
// kinds and value lists are not known.
func Named(names []string) Spec { return Spec{Columns: slices.Clone(names)} }

// Value is attribute name of r: a carried attribute is a meta field; a
// sample record keeps a column named like a text field in that field.
func Value(r *record.Record, name string) any {
	if _, carried := r.Meta[SpecKey]; !carried {
		switch name {
		case "instruction":
			return r.Instruction
		case "input":
			return r.Input
		case "output":
			return r.Output
		case "chosen":
			return r.Chosen
		case "rejected":
			return r.Rejected
		}
	}
	return r.Meta[name]
}

// Number reads a number as a record holds it: ints when it was made, float64s
// once read back from the store's JSON.
func Number(v any) (float64, bool) {
	switch x := v.(type) {
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	case uint64:
		return float64(x), true
	case float64:
		return x, true
	}
	return 0, false
}

// Pair is one attribute as a prompt shows it.
type Pair struct{ Name, Value string }

// Pairs lists r's attributes of s in column order, those without a value
// left out.
func Pairs(r *record.Record, s Spec) []Pair {
	var out []Pair
	for _, c := range s.Columns {
		v := Value(r, c)
		if v == nil {
			continue
		}
		if t := strings.TrimSpace(fmt.Sprint(v)); t != "" {
			out = append(out, Pair{c, t})
		}
	}
	return out
}

// Map is the pairs by name, for templates ({{.Attr.topic}}).
func Map(ps []Pair) map[string]string {
	m := make(map[string]string, len(ps))
	for _, p := range ps {
		m[p.Name] = p.Value
	}
	return m
}

// Carry puts src's attributes of s on dst: each as a meta field of its
// name, the Spec under SpecKey and the sample record's id under FromKey.
func Carry(dst, src *record.Record, s Spec) {
	if dst.Meta == nil {
		dst.Meta = map[string]any{}
	}
	for _, c := range s.Columns {
		if v := Value(src, c); v != nil {
			dst.Meta[c] = v
		}
	}
	dst.Meta[SpecKey] = s
	from := src.ID
	if f, ok := src.Meta[FromKey].(string); ok && f != "" {
		from = f
	}
	dst.Meta[FromKey] = from
}

// Clash returns the first column of s that is also one of a stage's own
// meta fields (which carrying it would overwrite), "" when none is.
func Clash(s Spec, own ...string) string {
	for _, c := range s.Columns {
		if slices.Contains(own, c) || c == SpecKey || c == FromKey {
			return c
		}
	}
	return ""
}
