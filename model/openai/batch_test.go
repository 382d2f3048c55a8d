package openai_test

import (
	"testing"

	"github.com/synthloop/synthloop/model/openai"
)

func FuzzParseResultLine(f *testing.F) {
	f.Add([]byte(`{"id":"r1","custom_id":"a","response":{"status_code":200,"request_id":"x","body":{"id":"c","object":"chat.completion","created":1,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"hi"},"finish_reason":"stop"}],"usage":{"prompt_tokens":3,"completion_tokens":1,"total_tokens":4}}},"error":null}`))
	f.Add([]byte(`{"id":"r2","custom_id":"b","response":null,"error":{"code":"batch_expired","message":"late"}}`))
	f.Add([]byte(`{"id":"r3","custom_id":"c","response":{"status_code":400,"body":{"error":{"message":"bad"}}}}`))
	f.Add([]byte(`{"id":"r4","custom_id":"d","respo`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r := openai.ParseResultLine(line)
		if (r.Response == nil) == (r.Err == nil) {
			t.Fatalf("result %+v has both or neither of response and error", r)
		}
		if r.Response != nil && len(r.Response.Choices) == 0 {
			t.Fatal("a response without choices")
		}
	})
}
