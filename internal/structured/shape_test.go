package structured

import (
	"context"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
)

func TestParseSetting(t *testing.T) {
	for in, want := range map[string]Mode{"": Off, "off": Off, "auto": Auto, "native": Native, "prompt": Prompt} {
		if got, err := ParseSetting(in); got != want || err != nil {
			t.Errorf("ParseSetting(%q) = %q, %v, want %q", in, got, err, want)
		}
	}
	if _, err := ParseSetting("json"); err == nil || !strings.Contains(err.Error(), "off, auto") {
		t.Errorf("ParseSetting(json) = %v", err)
	}
}

// TestShaper: how each setting shapes a request, what a refusal in auto
// mode falls back to (the stage's own text format), and what a record notes.
func TestShaper(t *testing.T) {
	schema := mustCompile(t)
	base := model.Request{Messages: []model.Message{{Role: "user", Content: "Who?"}}}
	refused := &model.HTTPError{Status: 400, Message: "response_format is not supported"}
	for _, tc := range []struct {
		setting string
		refuse  bool
		want    []Mode // how each call of two Do asked, in order
		label   string
	}{
		{"off", false, []Mode{Off, Off}, ""},
		{"native", false, []Mode{Native, Native}, "native"},
		{"prompt", false, []Mode{Prompt, Prompt}, "prompt"},
		{"auto", false, []Mode{Native, Native}, "native"},
		{"auto", true, []Mode{Native, Off, Off}, "text"},
	} {
		s, err := NewShaper(tc.setting, schema)
		if err != nil {
			t.Fatal(err)
		}
		var got []Mode
		var how Mode
		for range 2 {
			how, err = s.Do(context.Background(), base, func(_ context.Context, req model.Request, how Mode) error {
				got = append(got, how)
				switch how {
				case Native:
					if string(req.JSONSchema) != string(schema.JSON) || req.SchemaName != "person" {
						t.Errorf("%s: a native request without the schema", tc.setting)
					}
					if tc.refuse {
						return refused
					}
				case Prompt:
					if !strings.Contains(req.Messages[0].Content, "JSON Schema") || len(req.JSONSchema) > 0 {
						t.Errorf("%s: a prompt request %q", tc.setting, req.Messages[0].Content)
					}
				case Off:
					if req.Messages[0].Content != "Who?" || len(req.JSONSchema) > 0 {
						t.Errorf("%s: an off request was changed", tc.setting)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatalf("%s: %v", tc.setting, err)
			}
		}
		if strings.Join(modes(got), ",") != strings.Join(modes(tc.want), ",") {
			t.Errorf("%s (refuse %v): calls %v, want %v", tc.setting, tc.refuse, got, tc.want)
		}
		p := map[string]any{}
		s.Note(p, how)
		if s.Label(how) != tc.label || (tc.label == "" && len(p) != 0) || (tc.label != "" && (p["structured"] != tc.label || p["schema"] != schema.Hash)) {
			t.Errorf("%s: label %q, note %v, want %q", tc.setting, s.Label(how), p, tc.label)
		}
	}
	if _, err := NewShaper("yes", schema); err == nil {
		t.Error("NewShaper(yes) did not fail")
	}
}

func modes(ms []Mode) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	return out
}

func TestParser(t *testing.T) {
	type person struct {
		Name string `json:"name"`
		Age  int    `json:"age"`
	}
	s, _ := NewShaper("native", mustCompile(t))
	text := func(reply string) (string, error) { return "text:" + reply, nil }
	from := func(p person) (string, error) { return p.Name, nil }
	if got, _ := Parser(s, Off, text, from)("Ann"); got != "text:Ann" {
		t.Errorf("Off parser = %q", got)
	}
	if got, err := Parser(s, Native, text, from)(`{"name":"Ann","age":3}`); got != "Ann" || err != nil {
		t.Errorf("Native parser = %q, %v", got, err)
	}
	if _, err := Parser(s, Native, text, from)(`{"name":"Ann"}`); err == nil {
		t.Error("Native parser accepted a reply without a required property")
	}
	var none *Shaper
	if got, _ := Parser(none, Native, text, from)("x"); got != "text:x" {
		t.Errorf("a nil Shaper's parser = %q", got)
	}
}
