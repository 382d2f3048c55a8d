package confkit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

type inner struct {
	Threshold float64 `yaml:"threshold" doc:"cut-off"`
}

type shared struct {
	JudgeModel string `yaml:"judge_model" doc:"judges"`
}

type settings struct {
	Samples  int               `yaml:"samples" doc:"how many"`
	Name     string            `yaml:"name" doc:"a name"`
	Nested   inner             `yaml:"nested" doc:"inside"`
	List     []inner           `yaml:"list" doc:"several"`
	Weights  map[string]int    `yaml:"weights" doc:"per key"`
	Timeout  time.Duration     `yaml:"timeout" doc:"bound"`
	Shared   shared            `yaml:",inline"`
	Temp     *float64          `yaml:"temperature" doc:"sampling"`
	Ignored  string            `yaml:"-"`
	Labels   map[string]string `yaml:"labels" doc:"labels"`
	internal int
}

type top struct {
	Generate struct {
		Settings settings `yaml:"settings"`
	} `yaml:"generate"`
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       string // the whole error
	}{
		{"unknown key with suggestion", "generate:\n  settings:\n    sampels: 3\n",
			`c.yaml:3:5: generate.settings.sampels: unknown field "sampels" (did you mean "samples"?)`},
		{"unknown key without suggestion", "generate:\n  settings:\n    zzzzzzzz: 3\n",
			`c.yaml:3:5: generate.settings.zzzzzzzz: unknown field "zzzzzzzz"; valid fields: judge_model, labels, list, name, nested, samples, temperature, timeout, weights`},
		{"case-insensitive suggestion", "generate:\n  settings:\n    Samples: 3\n",
			`c.yaml:3:5: generate.settings.Samples: unknown field "Samples" (did you mean "samples"?)`},
		{"transposition", "generate:\n  settings:\n    naem: x\n",
			`c.yaml:3:5: generate.settings.naem: unknown field "naem" (did you mean "name"?)`},
		{"wrong type", "generate:\n  settings:\n    samples: lots\n",
			`c.yaml:3:14: generate.settings.samples: want int, got "lots"`},
		{"list for an int", "generate:\n  settings:\n    samples: [1, 2]\n",
			`c.yaml:3:14: generate.settings.samples: want int, got a list`},
		{"fraction for an int", "generate:\n  settings:\n    samples: 1.5\n",
			`c.yaml:3:14: generate.settings.samples: want int, got 1.5`},
		{"int out of range", "generate:\n  settings:\n    samples: 99999999999999999999\n",
			`c.yaml:3:14: generate.settings.samples: want int, got 99999999999999999999, which is out of range`},
		{"wrong type in a list", "generate:\n  settings:\n    list:\n      - threshold: high\n",
			`c.yaml:4:20: generate.settings.list[0].threshold: want number, got "high"`},
		{"nested path", "generate:\n  settings:\n    nested:\n      treshold: 1\n",
			`c.yaml:4:7: generate.settings.nested.treshold: unknown field "treshold" (did you mean "threshold"?)`},
		{"path into a list", "generate:\n  settings:\n    list:\n      - threshold: 1\n      - thresold: 2\n",
			`c.yaml:5:9: generate.settings.list[1].thresold: unknown field "thresold" (did you mean "threshold"?)`},
		{"inline field", "generate:\n  settings:\n    judge_modle: x\n",
			`c.yaml:3:5: generate.settings.judge_modle: unknown field "judge_modle" (did you mean "judge_model"?)`},
		{"list for a mapping", "generate:\n  settings: [1]\n",
			`c.yaml:2:13: generate.settings: expected a mapping of judge_model, labels, list, name, nested, samples, temperature, timeout, weights`},
		{"scalar for a list", "generate:\n  settings:\n    list: 3\n",
			`c.yaml:3:11: generate.settings.list: expected a list`},
		{"map value type", "generate:\n  settings:\n    weights: {a: x}\n",
			`c.yaml:3:18: generate.settings.weights.a: want int, got "x"`},
		{"bad duration", "generate:\n  settings:\n    timeout: soon\n",
			`c.yaml:3:14: generate.settings.timeout: time: invalid duration "soon"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("c.yaml", []byte(tt.yaml), "generate")
			if err != nil {
				t.Fatal(err)
			}
			var v top
			if f.Decode(f.Root, "", &v) {
				t.Fatalf("Decode accepted %q: %+v", tt.yaml, v)
			}
			got := f.Err().Error()
			if got != tt.want {
				t.Errorf("error\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

func TestDecodeKeepsDefaults(t *testing.T) {
	f, err := Parse("c.yaml", []byte("samples: 3\njudge_model: j\ntimeout: 2s\n"), "samples")
	if err != nil {
		t.Fatal(err)
	}
	v := settings{Name: "default", Nested: inner{Threshold: 0.5}}
	if !f.Decode(f.Root, "", &v) {
		t.Fatal(f.Err())
	}
	if v.Samples != 3 || v.Name != "default" || v.Nested.Threshold != 0.5 || v.Shared.JudgeModel != "j" || v.Timeout != 2*time.Second {
		t.Errorf("decoded %+v", v)
	}
}

func TestParseErrors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"invalid", "a: [\n", "c.yaml: invalid YAML"},
		{"two documents", "a: 1\n---\na: 2\n", "c.yaml: expected exactly one YAML document"},
		{"empty", "", "c.yaml: expected exactly one YAML document"},
		{"not a mapping", "- a\n", "c.yaml:1:1: the top level must be a mapping with a and b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.yaml", []byte(tt.yaml), "a and b")
			var e *Error
			if !errors.As(err, &e) || !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("Parse error = %v, want an *Error starting %q", err, tt.want)
			}
		})
	}
}

func TestErrorsSorted(t *testing.T) {
	f, err := Parse("c.yaml", []byte("b: 1\na: 2\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	f.Add(Value(f.Root, "a"), "a", "second")
	f.Add(Value(f.Root, "b"), "b", "first")
	f.Add(nil, "", "no position")
	want := "c.yaml: no position\nc.yaml:1:4: b: first\nc.yaml:2:4: a: second"
	if got := f.Err().Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}

func TestClosest(t *testing.T) {
	cands := []string{"temperature", "seed", "model", "stages", "top_p"}
	tests := []struct{ in, want string }{
		{"temprature", "temperature"}, // deletion
		{"Seed", "seed"},              // case
		{"MODLE", "model"},            // case and transposition
		{"modle", "model"},            // transposition costs 1
		{"zzzzzzzz", ""},              // nothing plausible
		{"top-p", "top_p"},            // substitution
		{"", ""},
	}
	for _, tt := range tests {
		if got := Closest(tt.in, cands); got != tt.want {
			t.Errorf("Closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"", "", 0},
		{"abc", "", 3},
		{"ab", "ba", 1},  // one transposition, not two substitutions
		{"ca", "abc", 3}, // OSA, not Damerau: no edit inside a transposed pair
		{"kitten", "sitting", 3},
		{"日本語", "日語本", 1},
	}
	for _, tt := range tests {
		if got := Distance(tt.a, tt.b); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := Distance(tt.b, tt.a); got != tt.want {
			t.Errorf("Distance(%q, %q) = %d, want %d (symmetric)", tt.b, tt.a, got, tt.want)
		}
	}
}

func TestRegistry(t *testing.T) {
	r := NewRegistry[int]("widget")
	r.Register("b", 2)
	r.Register("a", 1)
	if v, ok := r.Lookup("a"); !ok || v != 1 {
		t.Errorf("Lookup(a) = %d, %v", v, ok)
	}
	if _, ok := r.Lookup("c"); ok {
		t.Error("Lookup(c) found a value")
	}
	if got := strings.Join(r.Names(), ","); got != "a,b" {
		t.Errorf("Names = %s", got)
	}
	if got := r.All(); len(got) != 2 || got[0] != 1 || got[1] != 2 {
		t.Errorf("All = %v", got)
	}
	if got, want := r.Unknown("bb"), `unknown widget type "bb" (did you mean "b"?); known types: a, b`; got != want {
		t.Errorf("Unknown = %q, want %q", got, want)
	}
	for _, name := range []string{"a", ""} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("Register(%q) did not panic", name)
				}
			}()
			r.Register(name, 3)
		}()
	}
}

func TestFields(t *testing.T) {
	temp := 0.7
	got := Fields(&settings{Samples: 4, Weights: map[string]int{"b": 2, "a": 1}, Timeout: time.Minute, Temp: &temp, List: []inner{{1}}})
	want := []Field{
		{"samples", "int", "4", "how many"},
		{"name", "string", "", "a name"},
		{"nested", "mapping", "", "inside"},
		{"nested.threshold", "number", "0", "cut-off"},
		{"list", "list of mapping", "[{threshold: 1}]", "several"},
		{"list[].threshold", "number", "0", "cut-off"}, // each entry's settings, as their type documents them all
		{"weights", "map of int", "{a: 1, b: 2}", "per key"},
		{"timeout", "duration", "1m0s", "bound"},
		{"judge_model", "string", "", "judges"},
		{"temperature", "number", "0.7", "sampling"},
		{"labels", "map of string", "", "labels"},
	}
	if len(got) != len(want) {
		t.Fatalf("Fields = %+v\nwant %+v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("field %d = %+v, want %+v", i, got[i], want[i])
		}
	}
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("generate:\n  settings:\n    samples: 3\n    nested: {threshold: 0.5}\n"))
	f.Add([]byte("generate: {settings: {list: [{threshold: 1}], weights: {a: 1}}}\n"))
	f.Add([]byte("&a x: *a\n"))
	f.Add([]byte("generate: !!map {settings: !!str 1}\n"))
	f.Add([]byte("generate:\n  settings:\n    timeout: 3s\n    temperature: .5\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cf, err := Parse("f.yaml", data, "generate")
		if err != nil {
			var e *Error
			if !errors.As(err, &e) || e.File != "f.yaml" {
				t.Fatalf("Parse error %T %v does not name the file", err, err)
			}
			return
		}
		var v top
		if cf.Decode(cf.Root, "", &v) != (cf.Err() == nil) {
			t.Fatalf("Decode's result disagrees with its errors: %v", cf.Err())
		}
		for _, e := range cf.Errs {
			if e.File != "f.yaml" || e.Msg == "" {
				t.Fatalf("error without file or message: %+v", e)
			}
		}
	})
}

type widget struct{ def int }

func (w widget) NewConfig() any { return &inner{Threshold: float64(w.def)} }

type invalid struct {
	Threshold float64 `yaml:"threshold"`
	err       error
}

func (v *invalid) Validate() error { return v.err }

func TestDecodeTyped(t *testing.T) {
	r := NewRegistry[widget]("widget")
	r.Register("gauge", widget{def: 3})
	tests := []struct {
		name, yaml, typ string
		threshold       float64 // of the settings; 0: settings must be nil
		want            string  // the whole error, "" for none
	}{
		{"defaults kept", "w:\n  type: gauge\n", "gauge", 3, ""},
		{"with decoded", "w:\n  type: gauge\n  with: {threshold: 5}\n", "gauge", 5, ""},
		{"missing type", "w:\n  with: {}\n", "", 0, `c.yaml:2:7: w.type: missing; one of: gauge`},
		{"unknown type", "w:\n  type: gauje\n", "gauje", 0, `c.yaml:2:9: w.type: unknown widget type "gauje" (did you mean "gauge"?); known types: gauge`},
		{"bad with", "w:\n  type: gauge\n  with: {treshold: 5}\n", "gauge", 0, `c.yaml:3:10: w.with.treshold: unknown field "treshold" (did you mean "threshold"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Parse("c.yaml", []byte(tt.yaml), "w")
			if err != nil {
				t.Fatal(err)
			}
			settings, decoded := DecodeTyped(f, r, Value(f.Root, "w"), "w", tt.typ)
			if got := fmt.Sprint(f.Err()); tt.want != "" && got != tt.want || tt.want == "" && f.Err() != nil {
				t.Fatalf("error %v, want %q", f.Err(), tt.want)
			}
			if tt.threshold != 0 && (settings == nil || settings.(*inner).Threshold != tt.threshold) {
				t.Errorf("settings %+v, want threshold %g", settings, tt.threshold)
			}
			if tt.threshold == 0 && settings != nil {
				t.Errorf("settings %+v, want nil: checks of them would restate %q", settings, tt.want)
			}
			if wantDecoded := tt.want == "" && strings.Contains(tt.yaml, "with"); decoded != wantDecoded {
				t.Errorf("decoded = %v, want %v", decoded, wantDecoded)
			}
		})
	}
}

func TestValidateKeepsPositions(t *testing.T) {
	f, err := ParseInto("c.yaml", []byte("a: 1\nb: 2\n"), "a", &struct {
		A int `yaml:"a"`
		B int `yaml:"b"`
	}{})
	if err != nil {
		t.Fatal(err)
	}
	f.Validate(Value(f.Root, "a"), "a", &invalid{err: errors.New("plain")})
	f.Validate(nil, "", &invalid{err: Errors{At("other.yaml", Value(f.Root, "b"), "b", "positioned")}})
	f.Validate(nil, "", &invalid{})
	f.Validate(nil, "", widget{})
	want := "c.yaml:1:4: a: plain\nother.yaml:2:4: b: positioned"
	if got := f.Err().Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
}
