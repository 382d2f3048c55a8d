package grammar

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/verify"
)

// gen is a random schema of the supported subset that can also draw
// values valid for itself, spelled as the automaton spells them.
type gen struct {
	typ        string // object, array, string, integer, number, boolean, null, enum, anyOf, ref
	props      []genProp
	free       bool // object without properties: any keys allowed
	items      *gen
	minN, maxN int // items or characters; maxN < 0: unbounded
	lo, hi     *int
	enum       []string
	alts       []*gen
}

type genProp struct {
	name     string
	g        *gen
	required bool
}

func randomGen(r *rand.Rand, depth int) *gen {
	kinds := []string{"string", "integer", "number", "boolean", "null", "enum"}
	if depth > 0 {
		kinds = append(kinds, "object", "object", "array", "anyOf")
	}
	g := &gen{typ: kinds[r.IntN(len(kinds))], maxN: -1}
	bound := func() *int {
		if r.IntN(2) == 0 {
			return nil
		}
		v := r.IntN(200) - 100
		return &v
	}
	switch g.typ {
	case "object":
		n := r.IntN(4)
		g.free = n == 0 && r.IntN(2) == 0
		for i := range n {
			g.props = append(g.props, genProp{name: []string{"a", "b\"q", "ç", "d/e"}[i], g: randomGen(r, depth-1), required: r.IntN(2) == 0})
		}
	case "array":
		g.items = randomGen(r, depth-1)
		g.minN = r.IntN(3)
		if r.IntN(2) == 0 {
			g.maxN = g.minN + r.IntN(3)
		}
	case "string":
		g.minN = r.IntN(3)
		if r.IntN(2) == 0 {
			g.maxN = g.minN + r.IntN(4)
		}
	case "integer", "number":
		g.lo, g.hi = bound(), bound()
		if g.lo != nil && g.hi != nil && *g.lo > *g.hi {
			g.lo, g.hi = g.hi, g.lo
		}
	case "enum":
		all := []string{`"x"`, `"y z"`, `1`, `-2.5`, `true`, `null`, `[1,"a"]`, `{"k":false}`, `"\n"`}
		r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
		g.enum = all[:1+r.IntN(3)]
	case "anyOf":
		for range 1 + r.IntN(3) {
			g.alts = append(g.alts, randomGen(r, depth-1))
		}
	}
	return g
}

func (g *gen) schema() string {
	var b strings.Builder
	switch g.typ {
	case "object":
		b.WriteString(`{"type":"object"`)
		if !g.free {
			b.WriteString(`,"properties":{`)
			var req []string
			for i, p := range g.props {
				if i > 0 {
					b.WriteByte(',')
				}
				name, _ := json.Marshal(p.name)
				fmt.Fprintf(&b, "%s:%s", name, p.g.schema())
				if p.required {
					req = append(req, string(name))
				}
			}
			b.WriteString(`}`)
			if len(req) > 0 {
				fmt.Fprintf(&b, `,"required":[%s]`, strings.Join(req, ","))
			}
			b.WriteString(`,"additionalProperties":false`)
		}
		b.WriteString(`}`)
	case "array":
		fmt.Fprintf(&b, `{"type":"array","items":%s,"minItems":%d`, g.items.schema(), g.minN)
		if g.maxN >= 0 {
			fmt.Fprintf(&b, `,"maxItems":%d`, g.maxN)
		}
		b.WriteString(`}`)
	case "string":
		fmt.Fprintf(&b, `{"type":"string","minLength":%d`, g.minN)
		if g.maxN >= 0 {
			fmt.Fprintf(&b, `,"maxLength":%d`, g.maxN)
		}
		b.WriteString(`}`)
	case "integer", "number":
		fmt.Fprintf(&b, `{"type":%q`, g.typ)
		if g.lo != nil {
			fmt.Fprintf(&b, `,"minimum":%d`, *g.lo)
		}
		if g.hi != nil {
			fmt.Fprintf(&b, `,"maximum":%d`, *g.hi)
		}
		b.WriteString(`}`)
	case "enum":
		fmt.Fprintf(&b, `{"enum":[%s]}`, strings.Join(g.enum, ","))
	case "anyOf":
		var alts []string
		for _, a := range g.alts {
			alts = append(alts, a.schema())
		}
		fmt.Fprintf(&b, `{"anyOf":[%s]}`, strings.Join(alts, ","))
	default:
		fmt.Fprintf(&b, `{"type":%q}`, g.typ)
	}
	return b.String()
}

// value draws a valid value of g in the automaton's spelling.
func (g *gen) value(r *rand.Rand) string {
	switch g.typ {
	case "object":
		var parts []string
		if g.free {
			for i := range r.IntN(3) {
				parts = append(parts, fmt.Sprintf(`"k%d":%d`, i, r.IntN(9)))
			}
		}
		for _, p := range g.props {
			if p.required || r.IntN(2) == 0 {
				name, _ := json.Marshal(p.name)
				parts = append(parts, string(name)+":"+p.g.value(r))
			}
		}
		return "{" + strings.Join(parts, ",") + "}"
	case "array":
		n := g.minN + r.IntN(3)
		if g.maxN >= 0 {
			n = min(n, g.maxN)
		}
		var parts []string
		for range n {
			parts = append(parts, g.items.value(r))
		}
		return "[" + strings.Join(parts, ",") + "]"
	case "string":
		n := g.minN + r.IntN(4)
		if g.maxN >= 0 {
			n = min(n, g.maxN)
		}
		chars := []string{"a", "é", `\n`, `\"`, `\u0041`, "😀", `\\`, "/", `\/`}
		var b strings.Builder
		for range n {
			b.WriteString(chars[r.IntN(len(chars))])
		}
		return `"` + b.String() + `"`
	case "integer", "number":
		lo, hi := -1000, 1000
		if g.lo != nil {
			lo = *g.lo
		}
		if g.hi != nil {
			hi = *g.hi
		}
		v := lo + r.IntN(hi-lo+1)
		if g.typ == "number" && v < hi && r.IntN(2) == 0 {
			if v < 0 {
				return fmt.Sprintf("-%d.%d", -v-1, 1+r.IntN(999))
			}
			return fmt.Sprintf("%d.%d", v, 1+r.IntN(999))
		}
		return fmt.Sprint(v)
	case "enum":
		return g.enum[r.IntN(len(g.enum))]
	case "anyOf":
		return g.alts[r.IntN(len(g.alts))].value(r)
	case "boolean":
		return []string{"true", "false"}[r.IntN(2)]
	}
	return "null"
}

func mustVerifier(t *testing.T, schema string) verify.Verifier {
	t.Helper()
	v, err := verify.New(&verify.Config{Kind: verify.JSONSchema, Schema: schema})
	if err != nil {
		t.Fatalf("verify.New(%s): %v", schema, err)
	}
	return v
}

// valid reports whether text is exactly one JSON value valid for the
// schema, by the validator the verify package uses.
func valid(t *testing.T, v verify.Verifier, text string) bool {
	if !json.Valid([]byte(text)) || strings.TrimSpace(text) != text || strings.HasPrefix(text, "```") {
		return false
	}
	d, err := v.Verify(context.Background(), verify.Check{Candidate: text})
	if err != nil {
		t.Fatal(err)
	}
	return d.Pass
}

// FuzzGrammar checks the automaton of random schemas against the JSON
// Schema validator: every text it accepts (a random byte string, and every
// accepted prefix of a random walk along its live bytes) validates, and
// every valid value drawn in its spelling is accepted with all its prefixes
// live. Texts valid for the schema but spelled otherwise (whitespace, other
// property orders, exponents) are outside what it accepts by design.
func FuzzGrammar(f *testing.F) {
	f.Add(uint64(1), []byte(`{"a":1}`))
	f.Add(uint64(7), []byte("\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"))
	f.Add(uint64(42), []byte(`[true,"x",null]`))
	f.Add(uint64(99), []byte(`"\u00e9"`))
	f.Fuzz(func(t *testing.T, seed uint64, walk []byte) {
		r := rand.New(rand.NewPCG(seed, 0))
		gs := randomGen(r, 3)
		schema := gs.schema()
		g, err := Compile([]byte(schema))
		if err != nil {
			t.Fatalf("Compile(%s): %v", schema, err)
		}
		v := mustVerifier(t, schema)
		for range 3 {
			text := gs.value(r)
			if !valid(t, v, text) {
				t.Fatalf("generator bug: %s is not valid for %s", text, schema)
			}
			if !g.Accepts([]byte(text)) {
				t.Fatalf("schema %s: Accepts(%s) = false for a valid value", schema, text)
			}
			for i := range len(text) {
				if !g.Live([]byte(text[:i])) {
					t.Fatalf("schema %s: prefix %q of valid %s is dead", schema, text[:i], text)
				}
			}
		}
		if g.Accepts(walk) && !valid(t, v, string(walk)) {
			t.Fatalf("schema %s: accepts %q, which is not valid", schema, walk)
		}
		// The walk: at each step choose among the bytes that stay live.
		s := start(g.root, done, nil)
		var text []byte
		for _, c := range walk {
			var live []byte
			var next []state
			for b := range 256 {
				if n := advance(s, byte(b)); len(n) > 0 {
					live, next = append(live, byte(b)), append(next, n)
				}
			}
			if len(live) == 0 {
				if !s.accepting() {
					t.Fatalf("schema %s: %q is live but has no next byte and is not complete", schema, text)
				}
				break
			}
			k := int(c) % len(live)
			text, s = append(text, live[k]), next[k]
			if s.accepting() && !valid(t, v, string(text)) {
				t.Fatalf("schema %s: accepts %q, which is not valid", schema, text)
			}
		}
	})
}

// FuzzCompile feeds arbitrary schemas to the compiler: it must refuse or
// compile them without panicking or looping, and a compiled grammar must
// run over arbitrary text; a text it accepts is valid JSON.
func FuzzCompile(f *testing.F) {
	for _, s := range []string{person, `true`, `false`, `{}`, `{"$ref":"#"}`, `{"anyOf":[{"$ref":"#"}]}`,
		`{"$defs":{"a":{"$ref":"#/$defs/b"},"b":{"$ref":"#/$defs/a"}},"$ref":"#/$defs/a"}`,
		`{"type":"array","items":{"$ref":"#"}}`, `{"enum":[]}`, `{"type":["integer","number"],"minimum":1e300}`,
		`{"oneOf":[{"enum":["a"]},{"enum":["a"]}]}`, `{"properties":{"a/b~":{"$ref":"#/properties/a~1b~0"}}}`} {
		f.Add([]byte(s), []byte(`{"name":"x","age":1}`))
	}
	f.Fuzz(func(t *testing.T, schema, text []byte) {
		g, err := Compile(schema)
		if err != nil {
			return
		}
		if g.Accepts(text) && !json.Valid(text) {
			t.Fatalf("schema %s accepts %q, which is not JSON", schema, text)
		}
		g.Live(text)
	})
}
