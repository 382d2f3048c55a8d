package model

import (
	"strings"
	"testing"
)

func TestBadRequestHint(t *testing.T) {
	for _, tc := range []struct{ msg, want string }{
		{"chat: bad request: tokenizer: unknown symbol 'é'", "tokenizer cannot encode"},
		{"Unrecognized request argument supplied: presence_penalty", "drop_params"},
		{"presence_penalty is not supported by the built-in engine; list it in the model's drop_params", "drop_params"},
		{"This model's maximum context length is 8192 tokens", "context"},
		{"messages must alternate", "its message says why"},
	} {
		if got := badRequestHint(tc.msg); !strings.Contains(got, tc.want) {
			t.Errorf("%q: hint %q, want one about %q", tc.msg, got, tc.want)
		}
	}
}
