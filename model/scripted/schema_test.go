package scripted

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/synthloop/synthloop/model"
)

// TestSchemaReply: a request with a schema gets JSON that validates, the
// same for the same request.
func TestSchemaReply(t *testing.T) {
	for _, schema := range []string{
		`{"type":"object","properties":{"answer":{"type":"string"},"difficulty":{"type":"integer","minimum":1,"maximum":3},"score":{"type":"number","minimum":0.5,"maximum":0.6},"ok":{"type":"boolean"}},"required":["answer","difficulty"],"additionalProperties":false}`,
		`{"type":"object","properties":{"subtopics":{"type":"array","items":{"type":"string","minLength":1},"minItems":2,"maxItems":4,"uniqueItems":true}},"required":["subtopics"]}`,
		`{"type":"object","properties":{"level":{"enum":["easy","hard"]},"tag":{"const":"x"},"code":{"type":"string","maxLength":3},"n":{"type":["integer","null"]}}}`,
		`{"type":"array","items":{"type":"object","properties":{"q":{"type":"string","minLength":40}},"required":["q"]},"minItems":1}`,
		`{"anyOf":[{"type":"object","properties":{"a":{"type":"string"}}}]}`,
	} {
		doc, _ := jsonschema.UnmarshalJSON(strings.NewReader(schema))
		c := jsonschema.NewCompiler()
		if err := c.AddResource("s.json", doc); err != nil {
			t.Fatal(err)
		}
		s, err := c.Compile("s.json")
		if err != nil {
			t.Fatal(err)
		}
		for _, prompt := range []string{"Answer about the sea.", "海について答えてください。"} {
			req := model.Request{Messages: []model.Message{{Role: "user", Content: prompt}}, N: 2, JSONSchema: json.RawMessage(schema)}
			resp, err := New(1).Generate(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			again, _ := New(1).Generate(context.Background(), req)
			for i, ch := range resp.Choices {
				v, err := jsonschema.UnmarshalJSON(strings.NewReader(ch.Text))
				if err != nil {
					t.Fatalf("%s: reply %q is not JSON: %v", schema, ch.Text, err)
				}
				if err := s.Validate(v); err != nil {
					t.Errorf("%s: reply %s does not validate: %v", schema, ch.Text, err)
				}
				if again.Choices[i].Text != ch.Text {
					t.Errorf("the same request got %q, then %q", ch.Text, again.Choices[i].Text)
				}
			}
		}
	}
}

// FuzzSchemaReply: no schema crashes the stand-in, and its reply is JSON.
func FuzzSchemaReply(f *testing.F) {
	for _, s := range []string{`{"type":"object","properties":{"a":{"type":"array","items":{}}}}`, `{"enum":[]}`, `{"minItems":1e300,"type":"array"}`, `[]`, `{"type":["null"]}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, schema string) {
		out := schemaReply(New(0).rng(model.Request{}, 0), json.RawMessage(schema), false)
		if !json.Valid([]byte(out)) {
			t.Fatalf("%s: reply %q is not JSON", schema, out)
		}
	})
}
