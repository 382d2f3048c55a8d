package modeltest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"reflect"
	"testing"

	"github.com/synthloop/synthloop/internal/openaiwire"
)

// FuzzDecodeRequest checks that the server reads any request body as
// encoding/json does: the same request and key, or an error for the same
// bodies.
func FuzzDecodeRequest(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":64}`,
		`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"a"},{"type":"text","text":"b"}]}],"n":3,"temperature":0.5,"stop":["x"]}`,
		`{"model":"m","messages":[],"tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"tool_choice":"auto","stream":true,"stream_options":{"include_usage":true}}`,
		`{"model":"m","response_format":{"type":"json_schema","json_schema":{"name":"s","schema":{"type":"object"},"strict":true}}}`,
		`{"model":"m","MODEL":"n","seed":1e3,"max_completion_tokens":null,"messages":[{"role":"user","content":null}]}`,
		`{"model":"\xff","messages":[{"role":"user","content":"\ud800"}]}`,
		`{"model":"m","model":"n"}`,
		`{"n":1.5}`, `{"messages":{}}`, `[1]`, `{`, ``, `null`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		if got, want := canonicalKey(body), canonicalKeyV1(body); got != want {
			t.Fatalf("canonicalKey(%q) = %s, encoding/json's %s", body, got, want)
		}
		var got, want openaiwire.ChatRequest
		gotErr := decodeRequest(body, &got)
		wantErr := json.Unmarshal(body, &want)
		if (gotErr == nil) != (wantErr == nil) {
			t.Fatalf("decodeRequest(%q) error %v, encoding/json's %v", body, gotErr, wantErr)
		}
		if gotErr != nil {
			if gotErr.Error() != wantErr.Error() {
				t.Fatalf("decodeRequest(%q) error %q, want encoding/json's %q", body, gotErr, wantErr)
			}
			return
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("decodeRequest(%q) = %+v, encoding/json reads %+v", body, got, want)
		}
	})
}

// canonicalKeyV1 is canonicalKey with encoding/json's decoder, as it was.
func canonicalKeyV1(body []byte) string {
	var v any
	if err := json.Unmarshal(body, &v); err == nil {
		if b, err := json.Marshal(v); err == nil {
			body = b
		}
	}
	sum := sha256.Sum256(body)
	return hex.EncodeToString(sum[:])
}
