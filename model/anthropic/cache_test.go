package anthropic_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// TestCacheBreakpoints checks which blocks of the wire request carry
// cache_control for a request's CacheBreakpoints.
func TestCacheBreakpoints(t *testing.T) {
	msgs := []model.Message{{Role: "system", Content: "rules"}, {Role: "user", Content: "document"},
		{Role: "assistant", Content: "noted"}, {Role: "user", Content: "question"}}
	tests := []struct {
		marks []int
		want  string // per block: system blocks, then each message's: "c" cached, "." not
	}{
		{nil, ". | . . ."},
		{[]int{0}, "c | . . ."},
		{[]int{1}, ". | c . ."},
		{[]int{0, 2}, "c | . c ."},
		{[]int{0, 1, 2, 3, 3}, "c | c c c"}, // a repeated index marks once
		{[]int{9}, ". | . . ."},             // out of range: ignored
	}
	for _, tt := range tests {
		srv := modeltest.NewAnthropicServer(modeltest.Echo)
		if _, err := open(t, srv, model.Config{}).Generate(context.Background(), model.Request{Messages: msgs, CacheBreakpoints: tt.marks}); err != nil {
			t.Fatal(err)
		}
		var body struct {
			System   []map[string]any `json:"system"`
			Messages []struct {
				Content []map[string]any `json:"content"`
			} `json:"messages"`
		}
		if err := json.Unmarshal(srv.Log()[0].Body, &body); err != nil {
			t.Fatal(err)
		}
		mark := func(b map[string]any) string {
			if cc, ok := b["cache_control"].(map[string]any); ok && cc["type"] == "ephemeral" {
				return "c"
			}
			return "."
		}
		got := ""
		for _, b := range body.System {
			got += mark(b)
		}
		got += " |"
		for _, m := range body.Messages {
			for _, b := range m.Content {
				got += " " + mark(b)
			}
		}
		if got != tt.want {
			t.Errorf("breakpoints %v: %q, want %q", tt.marks, got, tt.want)
		}
		srv.Close()
	}
}
