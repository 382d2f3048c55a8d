package scripted

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"sort"
	"strings"
)

// schemaReply answers a request that carries a JSON Schema as a model
// with structured output does: one JSON value that fits the schema. It
// knows the common keywords (type, properties, items, enum, const, the
// bounds of numbers, strings and lists, anyOf/oneOf); its strings are
// topics from the vocabulary, and a text property (answer, output, ...) is
// a sentence about one. It is filler with the right shape, like every
// reply of the stand-in.
func schemaReply(r *rand.Rand, schema json.RawMessage, ja bool) string {
	var s map[string]any
	if err := json.Unmarshal(schema, &s); err != nil {
		return "{}"
	}
	g := schemaGen{r: r, ja: ja}
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(g.value(s, "", 0))
	return strings.TrimSpace(b.String())
}

type schemaGen struct {
	r  *rand.Rand
	ja bool
}

// textKeys name properties that hold prose rather than a label.
var textKeys = []string{"answer", "output", "response", "text", "explanation", "reason", "reply", "content", "description", "body", "question", "instruction"}

func (g schemaGen) value(s map[string]any, key string, depth int) any {
	if depth > 8 {
		return nil
	}
	if c, ok := s["const"]; ok {
		return c
	}
	if e, ok := s["enum"].([]any); ok && len(e) > 0 {
		return e[g.r.IntN(len(e))]
	}
	for _, k := range []string{"anyOf", "oneOf", "allOf"} {
		if alts, ok := s[k].([]any); ok && len(alts) > 0 {
			if m, ok := alts[0].(map[string]any); ok {
				return g.value(m, key, depth+1)
			}
		}
	}
	typ, _ := s["type"].(string)
	if ts, ok := s["type"].([]any); ok {
		for _, t := range ts {
			if t, _ := t.(string); t != "null" {
				typ = t
				break
			}
		}
	}
	if typ == "" {
		switch {
		case s["properties"] != nil:
			typ = "object"
		case s["items"] != nil:
			typ = "array"
		default:
			typ = "string"
		}
	}
	switch typ {
	case "object":
		props, _ := s["properties"].(map[string]any)
		keys := make([]string, 0, len(props))
		for k := range props {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		out := make(map[string]any, len(keys))
		for _, k := range keys {
			m, _ := props[k].(map[string]any)
			out[k] = g.value(m, k, depth+1)
		}
		return out
	case "array":
		item, _ := s["items"].(map[string]any)
		lo, hi := bound(s, "minItems", 1), bound(s, "maxItems", 5)
		// A schema may ask for more than a reply could hold: 50 at most.
		n := min(max(lo, min(hi, 3+g.r.IntN(3))), 50)
		out := make([]any, 0, n)
		seen := map[string]bool{}
		for tries := 0; len(out) < n && tries < 10*n+10; tries++ {
			v := g.value(item, key, depth+1)
			k, _ := json.Marshal(v)
			if !seen[string(k)] {
				seen[string(k)] = true
				out = append(out, v)
			}
		}
		return out
	case "integer":
		lo, hi := bound(s, "minimum", 1), bound(s, "maximum", 5)
		if hi < lo {
			hi = lo
		}
		return lo + g.r.IntN(hi-lo+1)
	case "number":
		lo, hi := num(s, "minimum", 0), num(s, "maximum", 1)
		if hi < lo {
			hi = lo
		}
		return math.Round((lo+(hi-lo)*g.r.Float64())*100) / 100
	case "boolean":
		return g.r.IntN(2) == 0
	case "null":
		return nil
	}
	return g.text(s, key)
}

func (g schemaGen) text(s map[string]any, key string) string {
	var t string
	prose := false
	for _, k := range textKeys {
		if strings.Contains(strings.ToLower(key), k) {
			prose = true
		}
	}
	switch {
	case prose && g.ja:
		t = jaTopic(g.r) + "について、台本どおりの回答です。"
	case prose:
		t = "A scripted answer about " + enTopic(g.r) + "."
	case g.ja:
		t = jaTopic(g.r)
	default:
		t = enTopic(g.r)
	}
	rs := []rune(t)
	if lo := min(bound(s, "minLength", 0), 10_000); len(rs) < lo {
		rs = append(rs, []rune(strings.Repeat(".", lo-len(rs)))...)
	}
	if hi := bound(s, "maxLength", -1); hi >= 0 && len(rs) > hi {
		rs = rs[:hi]
	}
	return string(rs)
}

func num(s map[string]any, k string, def float64) float64 {
	if v, ok := s[k].(float64); ok && !math.IsInf(v, 0) && !math.IsNaN(v) {
		return v
	}
	return def
}

func bound(s map[string]any, k string, def int) int {
	v := num(s, k, float64(def))
	return int(math.Max(math.Min(v, 1e6), -1e6))
}
