package structured

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/model"
)

const personSchema = `{"type":"object","properties":{"name":{"type":"string"},"age":{"type":"integer","minimum":0}},"required":["name","age"],"additionalProperties":false}`

func mustCompile(t *testing.T) *Schema {
	t.Helper()
	s, err := Compile([]byte(personSchema), "person")
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestCheck(t *testing.T) {
	s := mustCompile(t)
	for _, tc := range []struct {
		reply, err string
	}{
		{`{"name":"Ann","age":3}`, ""},
		{"```json\n{\"name\":\"Ann\",\"age\":3}\n```", ""},
		{`{"name":"Ann"}`, "age"},
		{`{"name":"Ann","age":-1}`, "minimum"},
		{`{"name":"Ann","age":3,"x":1}`, "additional"},
		{`{"name":"Ann","age":3} and more`, "after the JSON"},
		{`Sure! {"name":"Ann","age":3}`, "not the JSON"},
		{``, "empty"},
		{"```python\nprint(1)\n```", "not JSON"},
	} {
		v, err := s.Check(tc.reply)
		switch {
		case tc.err == "" && err != nil:
			t.Errorf("Check(%q) = %v, want no error", tc.reply, err)
		case tc.err == "" && v.(map[string]any)["name"] != "Ann":
			t.Errorf("Check(%q) = %v", tc.reply, v)
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("Check(%q) = %v, want an error with %q", tc.reply, err, tc.err)
		}
	}
}

func TestLoad(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "s.json")
	ym := filepath.Join(dir, "s.yaml")
	os.WriteFile(js, []byte(personSchema), 0o644)
	os.WriteFile(ym, []byte("type: object\nproperties:\n  topic: {type: string}\n  score: {type: number}\n"), 0o644)
	for _, tc := range []struct {
		in    any
		props string
		err   string
	}{
		{map[string]any{"type": "object", "properties": map[string]any{"b": map[string]any{}, "a": map[string]any{}}}, "a,b", ""},
		{js, "age,name", ""},
		{` {"type": "object", "properties": {"z": {}}}`, "z", ""},
		{ym, "score,topic", ""},
		{map[string]any{"type": "array", "items": map[string]any{"type": "string"}}, "", ""},
		{filepath.Join(dir, "missing.json"), "", "no such file"},
		{map[string]any{"type": "object", "properties": map[string]any{"a": map[string]any{"$ref": "http://example.com/x.json"}}}, "", "external reference"},
		{map[string]any{"type": 12}, "", "schema"},
		{[]any{"x"}, "", "want a mapping"},
	} {
		s, err := Load(tc.in, "")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("Load(%v) = %v, want an error with %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil {
			t.Errorf("Load(%v): %v", tc.in, err)
			continue
		}
		if got := strings.Join(s.Properties, ","); got != tc.props || s.Name != "reply" || len(s.Hash) != 64 {
			t.Errorf("Load(%v) = properties %q name %q, want %q", tc.in, got, s.Name, tc.props)
		}
	}
}

func TestRequest(t *testing.T) {
	s := mustCompile(t)
	req := model.Request{Messages: []model.Message{{Role: "system", Content: "sys"}, {Role: "user", Content: "Who?"}}}
	n := s.Request(req, true)
	if string(n.JSONSchema) != personSchema || n.SchemaName != "person" || n.Messages[1].Content != "Who?" {
		t.Errorf("native request %+v", n)
	}
	p := s.Request(req, false)
	if len(p.JSONSchema) != 0 || !strings.HasPrefix(p.Messages[1].Content, "Who?\n\nReply with only a JSON value") ||
		!strings.Contains(p.Messages[1].Content, personSchema) || req.Messages[1].Content != "Who?" {
		t.Errorf("prompt request %+v (the original must not change: %q)", p, req.Messages[1].Content)
	}
}

func TestGate(t *testing.T) {
	refusal := &model.Error{Status: 400, Err: &model.HTTPError{Status: 400, Message: "response_format is not supported"}}
	for _, tc := range []struct {
		mode        Mode
		refuses     bool
		wantNative  bool
		wantNatives int // calls made with native true, over 8 concurrent Do
	}{
		{Auto, false, true, 8},
		{Auto, true, false, 1},
		{Native, true, true, 8},
		{Prompt, false, false, 0},
	} {
		g := &Gate{Mode: tc.mode}
		var mu sync.Mutex
		natives := 0
		var wg sync.WaitGroup
		for range 8 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				native, err := g.Do(context.Background(), func(_ context.Context, native bool) error {
					if native {
						mu.Lock()
						natives++
						mu.Unlock()
						if tc.refuses {
							return refusal
						}
					}
					return nil
				})
				if tc.mode != Native && (err != nil || native != tc.wantNative) {
					t.Errorf("%s refuses %v: Do = %v, %v", tc.mode, tc.refuses, native, err)
				}
			}()
		}
		wg.Wait()
		if natives != tc.wantNatives {
			t.Errorf("%s refuses %v: %d native calls, want %d", tc.mode, tc.refuses, natives, tc.wantNatives)
		}
	}
	// A failure that is not a refusal settles nothing.
	g := &Gate{}
	boom := errors.New("boom")
	if _, err := g.Do(context.Background(), func(context.Context, bool) error { return boom }); err != boom {
		t.Errorf("Do = %v", err)
	}
	if _, decided := g.Native(); decided {
		t.Error("a failed call settled the mode")
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{"": Auto, "auto": Auto, "native": Native, "prompt": Prompt} {
		if got, err := ParseMode(in); got != want || err != nil {
			t.Errorf("ParseMode(%q) = %q, %v", in, got, err)
		}
	}
	if _, err := ParseMode("nativ"); err == nil {
		t.Error("ParseMode(nativ): no error")
	}
}

// FuzzCheck: no reply crashes the check, and a reply it accepts is valid.
func FuzzCheck(f *testing.F) {
	s, err := Compile([]byte(personSchema), "")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{`{"name":"a","age":1}`, "```json\n{}\n```", `[1,2]`, `{"age":1e400}`, `"x"`, ``} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		v, err := s.Check(reply)
		if err != nil {
			return
		}
		m, ok := v.(map[string]any)
		if !ok || len(m) != 2 {
			t.Fatalf("Check(%q) accepted %v", reply, v)
		}
	})
}

// FuzzFromYAML: no schema file crashes the compiler.
func FuzzFromYAML(f *testing.F) {
	for _, seed := range []string{"type: object\nproperties: {a: {type: string}}\n", "{}", "- a", "type: [1", "$ref: '#/x'"} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		s, err := FromYAML([]byte(doc), "")
		if err == nil && s.JSON == nil {
			t.Fatal("compiled without JSON")
		}
	})
}
