package anthropic_test

import (
	"testing"

	"github.com/synthloop/synthloop/model/anthropic"
)

func FuzzParseResultLine(f *testing.F) {
	f.Add([]byte(`{"custom_id":"a","result":{"type":"succeeded","message":{"id":"m","type":"message","role":"assistant","model":"claude-haiku-4-5","content":[{"type":"text","text":"hi"}],"stop_reason":"end_turn","usage":{"input_tokens":3,"output_tokens":1}}}}`))
	f.Add([]byte(`{"custom_id":"b","result":{"type":"errored","error":{"type":"error","error":{"type":"invalid_request_error","message":"bad"}}}}`))
	f.Add([]byte(`{"custom_id":"c","result":{"type":"expired"}}`))
	f.Add([]byte(`{"custom_id":"d","result":{"type":"canceled"}}`))
	f.Add([]byte(`{"custom_id":"e","resu`))
	f.Fuzz(func(t *testing.T, line []byte) {
		r := anthropic.ParseResultLine(line)
		if (r.Response == nil) == (r.Err == nil) {
			t.Fatalf("result %+v has both or neither of response and error", r)
		}
		if r.Response != nil && len(r.Response.Choices) == 0 {
			t.Fatal("a response without choices")
		}
	})
}
