package modeltest

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"math/rand/v2"
	"reflect"
	"strings"
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
		// For the canonical key: names that are one name once unescaped
		// or once invalid UTF-8 is replaced (the last is kept), numbers at
		// float64's edges and where encoding/json switches to exponents,
		// a byte order mark, which encoding/json refuses.
		`{"a":1,"\u0061":2,"b":{"c":[],"c":{}}}`, "{\"\xff\":1,\"\xfe\":2,\"\\ud800\":3}", "{\"\xff\":1,\"\ufffd\":2}",
		`[-0,1e-400,5e-324,1.7976931348623157e308,1e21,1e20,1e-7,0.000001,123456789012345678901234,-1.5E-10]`,
		"\ufeff{}", " \t\r\n{} ", `{} {}`,
	} {
		f.Add([]byte(s))
	}
	// encoding/json's depth limit: 10,000 nested values decode, 10,001 do not.
	for _, n := range []int{10000, 10001} {
		f.Add([]byte(strings.Repeat("[", n) + strings.Repeat("]", n)))
		f.Add([]byte(strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)))
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

// TestCanonicalKeyRandom compares canonicalKey with encoding/json's on
// generated bodies: nested values with duplicate and unsorted keys, numbers
// in every form (out of float64's range too), strings that encoding/json
// escapes, white space, and bodies cut short or followed by more.
func TestCanonicalKeyRandom(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	names := []string{`"a"`, `"b"`, `"model"`, `"Model"`, `"é"`, `"a\u0000"`, `""`, `"<&>"`, `"\ud800"`, `"z\"q"`}
	numbers := []string{"0", "-0", "1", "1.0", "1e3", "1E-7", "1e-6", "0.000001", "1e21", "1e20", "-1.5e-10",
		"123456789012345678901234", "9007199254740993", "1e400", "-1e-400", "0.1", "2.5e+3"}
	texts := []string{`"hi"`, `"<b>&amp;</b>"`, `"line\nbreak\ttab"`, `"\u2028\u2029"`, `"\u00e9t\u00e9"`, `"\ud83d\ude00"`,
		`"\udc00"`, "\"\xff\xfe\"", `"\/slash\\"`, `"\b\f\u001f"`, `"日本"`}
	var value func(depth int) string
	value = func(depth int) string {
		switch k := rng.IntN(8); {
		case k < 2 && depth < 4:
			var b strings.Builder
			b.WriteString("{")
			for i := range rng.IntN(5) {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(names[rng.IntN(len(names))] + " : " + value(depth+1))
			}
			b.WriteString("}")
			return b.String()
		case k < 3 && depth < 4:
			var parts []string
			for range rng.IntN(4) {
				parts = append(parts, value(depth+1))
			}
			return "[ " + strings.Join(parts, ",") + "]"
		case k < 5:
			return numbers[rng.IntN(len(numbers))]
		case k < 7:
			return texts[rng.IntN(len(texts))]
		default:
			return []string{"true", "false", "null"}[rng.IntN(3)]
		}
	}
	for range 20000 {
		body := " " + value(0) + "\n"
		switch rng.IntN(10) {
		case 0:
			body = body[:rng.IntN(len(body)+1)]
		case 1:
			body += []string{"1", "{}", "x", " "}[rng.IntN(4)]
		}
		if got, want := canonicalKey([]byte(body)), canonicalKeyV1([]byte(body)); got != want {
			t.Fatalf("canonicalKey(%q) = %s, encoding/json's %s", body, got, want)
		}
	}
}

func BenchmarkCanonicalKey(b *testing.B) {
	body := []byte(`{"model":"instant","messages":[{"role":"user","content":"Task 00001: explain tides at level 3 of 5."}],"max_tokens":64}`)
	for _, bc := range []struct {
		name string
		key  func([]byte) string
	}{{"tokens", canonicalKey}, {"any", canonicalKeyV1}} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				bc.key(body)
			}
		})
	}
}
