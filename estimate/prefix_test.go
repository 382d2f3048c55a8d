package estimate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
)

func TestPrefixCache(t *testing.T) {
	shared := strings.Repeat("A rubric line that every request repeats word for word. ", 100) // 5,600 bytes
	req := func(q string, marks ...int) model.Request {
		return model.Request{Messages: []model.Message{{Role: "system", Content: shared}, {Role: "user", Content: q}}, CacheBreakpoints: marks}
	}
	const in = 1500 // tokens of each request, as counted
	tests := []struct {
		provider         string
		marks            []int
		read1, write1    int // first request
		readMin, readMax int // second request's read
		write2           int
	}{
		// OpenAI: automatic, by prefix chunks; about shared's share of the tokens.
		{"openai", nil, 0, 0, 1300, in, 0},
		// Anthropic: only what is marked: written first, read after.
		{"anthropic", []int{0}, 0, in * 5609 / 5635, in * 5609 / 5635, in * 5609 / 5635, 0},
		{"anthropic", nil, 0, 0, 0, 0, 0},
		{"vllm", nil, 0, 0, 0, 0, 0},
	}
	for _, tt := range tests {
		p := newPrefixCache(tt.provider)
		r1, w1 := p.observe(req("first question here", tt.marks...), in)
		r2, w2 := p.observe(req("second question!!!!", tt.marks...), in)
		if r1 != tt.read1 || w1 != tt.write1 || r2 < tt.readMin || r2 > tt.readMax || w2 != tt.write2 {
			t.Errorf("%s %v: first read %d write %d, second read %d write %d; want %d, %d, %d..%d, %d",
				tt.provider, tt.marks, r1, w1, r2, w2, tt.read1, tt.write1, tt.readMin, tt.readMax, tt.write2)
		}
	}
	// Under the providers' minimum nothing is cached.
	p := newPrefixCache("openai")
	p.observe(req("a"), 900)
	if r, _ := p.observe(req("b"), 900); r != 0 {
		t.Errorf("a 900-token prompt had %d tokens cached", r)
	}
}

// FuzzInstance: any schema gives a value that encodes, without panicking
// or recursing without end.
func FuzzInstance(f *testing.F) {
	for _, s := range []string{`{"type":"object","properties":{"a":{"type":"array","items":{"type":"string"},"minItems":2}}}`,
		`{"enum":[1,2]}`, `{"type":["integer","null"],"minimum":3}`, `{"type":"object"}`, `{}`, `[]`, `{"items":{"items":{}}}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var schema map[string]any
		if json.Unmarshal([]byte(s), &schema) != nil {
			return
		}
		if _, err := json.Marshal(instance(schema, 0)); err != nil {
			t.Fatalf("instance(%s) does not encode: %v", s, err)
		}
	})
}
