package loop

import (
	"bytes"
	"encoding/json"
	"reflect"
	"testing"
)

// FuzzChildMsg: a line from a baseline child either fails to parse or is
// exactly one message that encodes back to what it parses as.
func FuzzChildMsg(f *testing.F) {
	for _, s := range []string{
		`{"event":{"Run":"","Round":2,"Step":"train","Done":3,"Total":10,"Note":"loss 1.2"}}`,
		`{"round":{"index":2,"status":"done","cpu_seconds":1.5,"metrics":{"pass_at_1":0.25}}}`,
		`{"done":{}}`,
		`{"done":{"error":"loop: stopped","stopped":true}}`,
		`{"event":{},"done":{}}`,
		`{}`, `null`, `[`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		m, err := parseChildMsg(line)
		if err != nil {
			return
		}
		b, err := json.Marshal(m)
		if err != nil {
			t.Fatalf("%s parsed, but does not encode: %v", line, err)
		}
		again, err := parseChildMsg(b)
		if err != nil || !reflect.DeepEqual(normal(t, again), normal(t, m)) {
			t.Fatalf("%s → %s → %+v, %v", line, b, again, err)
		}
	})
}

// normal is m as JSON: messages compare by what they say, not by their pointers.
func normal(t *testing.T, m childMsg) string {
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// FuzzChildStart: the parent's start line either fails or gives a valid
// config with the text it carried.
func FuzzChildStart(f *testing.F) {
	ok, _ := json.Marshal(childStart{Source: "loop.yaml", Text: "name: x\ngenerate: {type: none}\n"})
	f.Add(ok)
	f.Add([]byte(`{"source":"a.yaml","text":"rounds: -1"}`))
	f.Add([]byte(`{"text":1}`))
	f.Add([]byte(`not json`))
	f.Fuzz(func(t *testing.T, line []byte) {
		cfg, _, err := parseChildStart(line)
		if err != nil {
			return
		}
		var s childStart
		if json.Unmarshal(line, &s) != nil || !bytes.Equal(cfg.Text, []byte(s.Text)) || cfg.Source != s.Source {
			t.Fatalf("%s parsed as %q from %q", line, cfg.Text, cfg.Source)
		}
	})
}
