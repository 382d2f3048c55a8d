package modeltest

import "testing"

// FuzzAnthropicBreakpoints: any body is read without panicking, and the
// prefixes it finds grow.
func FuzzAnthropicBreakpoints(f *testing.F) {
	for _, s := range []string{
		`{"system":[{"type":"text","text":"rules","cache_control":{"type":"ephemeral"}}],"messages":[{"role":"user","content":"hi"}]}`,
		`{"system":"rules","messages":[{"role":"user","content":[{"type":"text","text":"doc","cache_control":{"type":"ephemeral"}},{"type":"text","text":"q"}]}]}`,
		`{"messages":[{"role":"user","content":[{"type":"tool_result","content":"x","cache_control":{}}]}]}`, `{}`, `[]`, `{"messages":null}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		prev := 0
		for _, p := range anthropicBreakpoints(body) {
			if p.tokens < prev {
				t.Fatalf("prefix of %d tokens after one of %d", p.tokens, prev)
			}
			prev = p.tokens
		}
	})
}
