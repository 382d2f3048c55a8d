package grammar

import (
	"errors"
	"strings"
	"testing"
)

const person = `{
  "type": "object",
  "properties": {
    "name": {"type": "string", "maxLength": 5},
    "age": {"type": "integer", "minimum": 0, "maximum": 130},
    "tags": {"type": "array", "items": {"enum": ["a", "b"]}, "maxItems": 2},
    "pet": {"anyOf": [{"type": "null"}, {"$ref": "#/$defs/pet"}]}
  },
  "required": ["name", "age"],
  "additionalProperties": false,
  "$defs": {"pet": {"type": "object", "properties": {"kind": {"const": "cat"}, "w": {"type": "number"}}, "required": ["kind"]}}
}`

func TestAccepts(t *testing.T) {
	tests := []struct {
		schema string
		accept []string
		reject []string
	}{
		{person,
			[]string{`{"name":"ann","age":3}`, `{"name":"","age":130,"tags":["a","b"]}`, `{"name":"bob","age":0,"pet":null}`,
				`{"name":"bob","age":0,"tags":[],"pet":{"kind":"cat","w":-1.5}}`, `{"name":"\u00e9\n","age":7}`, `{"name":"été","age":7}`},
			[]string{`{"age":3,"name":"ann"}`, `{"name":"ann"}`, `{"name":"annabel","age":3}`, `{"name":"ann","age":131}`,
				`{"name":"ann","age":-1}`, `{"name":"ann","age":3,"x":1}`, `{"name":"ann","age":3,"tags":["a","b","a"]}`,
				`{"name":"ann","age":03}`, `{"name":"ann","age":3.0}`, `{"name":"ann", "age":3}`, `{"name":"\ud83d","age":3}`,
				`{"name":"ann","age":3,"pet":{"w":1}}`, `{"name":"ann","age":3}x`, "{\"name\":\"a\x01\",\"age\":3}", "{\"name\":\"\xff\",\"age\":3}"}},
		{`{"type":"number","exclusiveMinimum":0.5,"maximum":2}`,
			[]string{`0.500001`, `1`, `2`, `2.000000`, `1.25`},
			[]string{`0.5`, `0`, `-1`, `2.000001`, `1e0`, `.5`, `1.`, `0.0000001`}},
		{`{"type":"integer","minimum":-20,"maximum":-10}`,
			[]string{`-10`, `-20`, `-15`},
			[]string{`-9`, `-21`, `-0`, `10`, `-100`}},
		{`{"type":["string","null"],"minLength":2}`,
			[]string{`"ab"`, `null`, `"\"\\"`},
			[]string{`"a"`, `""`, `nul`, `1`}},
		{`{"type":"object"}`,
			[]string{`{}`, `{"a":1,"b":[true,{"c":null}],"a":"x"}`, `{"":-0.5}`},
			[]string{`[]`, `{"a"}`, `{"a":1,}`, `{,}`}},
		{`{"oneOf":[{"type":"string"},{"type":"integer"}]}`,
			[]string{`"x"`, `12`},
			[]string{`1.5`, `true`}},
		{`{"$defs":{"t":{"type":"object","properties":{"kids":{"type":"array","items":{"$ref":"#/$defs/t"}}},"required":["kids"]}},"$ref":"#/$defs/t"}`,
			[]string{`{"kids":[]}`, `{"kids":[{"kids":[]},{"kids":[{"kids":[]}]}]}`},
			[]string{`{}`, `{"kids":[{}]}`}},
		{`{"type":"array","items":{"type":"boolean"},"minItems":1,"maxItems":2}`,
			[]string{`[true]`, `[false,true]`},
			[]string{`[]`, `[true,true,true]`, `[1]`}},
		{`{"enum":[1,"x",[1,2],{"b":1,"a":2},null]}`,
			[]string{`1`, `"x"`, `[1,2]`, `{"b":1,"a":2}`, `null`},
			[]string{`2`, `"y"`, `[1]`, `{"a":2,"b":1}`}},
		{`{"type":"string","enum":["a","bb",3]}`, []string{`"a"`, `"bb"`}, []string{`3`}},
		{`{"type":"object","properties":{"a":{"type":"integer"},"b":{"type":"integer"},"c":{"type":"integer"}},"required":["b"]}`,
			[]string{`{"b":1}`, `{"a":1,"b":2}`, `{"b":1,"c":2}`, `{"a":1,"b":2,"c":3}`},
			[]string{`{}`, `{"a":1}`, `{"a":1,"c":3}`, `{"c":1,"b":2}`}},
		{`true`, []string{`1`, `"s"`, `[{}]`}, []string{``, ` 1`}},
	}
	for _, tt := range tests {
		g, err := Compile([]byte(tt.schema))
		if err != nil {
			t.Fatalf("Compile(%s): %v", tt.schema, err)
		}
		for _, s := range tt.accept {
			if !g.Accepts([]byte(s)) {
				t.Errorf("schema %.40s...: Accepts(%s) = false, want true", tt.schema, s)
			}
			for i := range len(s) {
				if !g.Live([]byte(s[:i])) {
					t.Errorf("schema %.40s...: Live(%s) = false, want true", tt.schema, s[:i])
					break
				}
			}
		}
		for _, s := range tt.reject {
			if g.Accepts([]byte(s)) {
				t.Errorf("schema %.40s...: Accepts(%s) = true, want false", tt.schema, s)
			}
		}
	}
}

func TestCompileRefusesUnsupported(t *testing.T) {
	tests := []struct{ schema, want string }{
		{`{"type":"string","pattern":"a+"}`, `"pattern"`},
		{`{"type":"string","format":"date"}`, `"format"`},
		{`{"type":"array","uniqueItems":true}`, `"uniqueItems"`},
		{`{"type":"object","properties":{"a":{"type":"integer","multipleOf":2}}}`, `"multipleOf" is not supported (at #/properties/a)`},
		{`{"allOf":[{"type":"string"},{"maxLength":2}]}`, `"allOf"`},
		{`{"anyOf":[{"type":"string"}],"maxLength":2}`, `"anyOf" together with "maxLength"`},
		{`{"oneOf":[{"type":"string"},{"maxLength":2}]}`, `"oneOf"`},
		{`{"$ref":"http://example.com/s.json"}`, `$ref`},
		{`{"type":"integer","minimum":5,"maximum":4}`, `no JSON value`},
		{`{"type":"object","properties":{"a":false},"required":["a"]}`, `no JSON value`},
		{`{"$defs":{"t":{"type":"object","properties":{"t":{"$ref":"#/$defs/t"}},"required":["t"]}},"$ref":"#/$defs/t"}`, `no JSON value`},
	}
	for _, tt := range tests {
		_, err := Compile([]byte(tt.schema))
		if !errors.Is(err, ErrUnsupported) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("Compile(%s) = %v, want ErrUnsupported naming %s", tt.schema, err, tt.want)
		}
	}
	if _, err := Compile([]byte(`{"type":`)); err == nil {
		t.Error("Compile accepted a schema that is not JSON")
	}
}

func TestAnyObject(t *testing.T) {
	g := AnyObject()
	for _, s := range []string{`{}`, `{"a":[1,2,{"b":"c"}]}`} {
		if !g.Accepts([]byte(s)) {
			t.Errorf("AnyObject().Accepts(%s) = false", s)
		}
	}
	for _, s := range []string{`[]`, `1`, `"x"`, `{`} {
		if g.Accepts([]byte(s)) {
			t.Errorf("AnyObject().Accepts(%s) = true", s)
		}
	}
}

func TestGuideMasks(t *testing.T) {
	g, err := Compile([]byte(`{"type":"object","properties":{"ok":{"type":"boolean"}},"required":["ok"]}`))
	if err != nil {
		t.Fatal(err)
	}
	toks := [][]byte{nil, []byte(`{"ok":`), []byte(`{`), []byte(`"`), []byte(`ok`), []byte(`":`), []byte(`true`), []byte(`t`), []byte(`}`), []byte(`x`), []byte(`true}`)}
	v := NewVocab(toks, []int32{0}, len(toks)+1)
	gd := NewConstraint(g, v).Start()
	walk := []int32{1, 10}
	wantAllowed := [][]int32{{1, 2}, {6, 7, 10}, {0}}
	for i := 0; ; i++ {
		allow := gd.Allowed()
		var got []int32
		for id, ok := range allow {
			if ok {
				got = append(got, int32(id))
			}
		}
		if !equal(got, wantAllowed[i]) {
			t.Errorf("step %d: allowed %v, want %v", i, got, wantAllowed[i])
		}
		if i == len(walk) {
			break
		}
		gd.Advance(walk[i])
	}
	if !gd.Complete() {
		t.Error("not complete after {\"ok\":true}")
	}
}

func equal(a, b []int32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestNestedOverlappingAlternativesStayBounded: two look-alike recursive
// alternatives would double the readings at each level of nesting.
func TestNestedOverlappingAlternativesStayBounded(t *testing.T) {
	g, err := Compile([]byte(`{"$defs":{"a":{"anyOf":[{"type":"array","items":{"$ref":"#/$defs/a"}},{"type":"array","items":{"$ref":"#/$defs/a"}}]}},"$ref":"#/$defs/a"}`))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("[", 200) + strings.Repeat("]", 200)
	s := start(g.root, done, nil)
	for i := range len(text) {
		if s = advance(s, text[i]); len(s) == 0 || len(s) > maxStacks {
			t.Fatalf("after %d bytes: %d readings", i+1, len(s))
		}
	}
	if !s.accepting() {
		t.Error("the nested arrays are not accepted")
	}
}
