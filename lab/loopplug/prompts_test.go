package loopplug

import (
	"reflect"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
)

// TestParsePrompts reads a prompts file's two kinds of line: problems,
// and worked examples (lab-propose's proposer examples) for GRPO's replay.
func TestParsePrompts(t *testing.T) {
	demo := []tokenizer.Message{{Role: "user", Content: "12+3=="}, {Role: "assistant", Content: "45+6="}}
	for _, tc := range []struct {
		in    string
		ps    []task.Problem
		demos []lab.Conversation
		err   string
	}{
		{in: `{"prompt":"12+3=","difficulty":2}` + "\n", ps: []task.Problem{{Prompt: "12+3=", Difficulty: 2}}},
		{in: `{"prompt":"1+2=","difficulty":1}` + "\n" + `{"messages":[{"role":"user","content":"12+3=="},{"role":"assistant","content":"45+6="}]}` + "\n",
			ps: []task.Problem{{Prompt: "1+2=", Difficulty: 1}}, demos: []lab.Conversation{demo}},
		{in: `{"messages":[{"role":"user","content":"12+3=="},{"role":"assistant","content":"45+6="}]}` + "\n", err: "no prompts"},
		{in: `{"prompt":"1+2=","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}` + "\n", err: ":1: not a prompt line"},
		{in: `{"messages":[{"role":"assistant","content":"a"},{"role":"user","content":"b"}]}` + "\n", err: ":1: not a prompt line"},
		{in: `{"prompt":"1+2="}` + "\n" + `{"difficulty":3}` + "\n", err: ":2: not a prompt line"},
		{in: "not json\n", err: ":1: not a prompt line"},
		{in: "", err: "no prompts"},
	} {
		ps, demos, err := parsePrompts("p.jsonl", []byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parsePrompts(%q) = error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(ps, tc.ps) || !reflect.DeepEqual(demos, tc.demos) {
			t.Errorf("parsePrompts(%q) = %v, %v, %v; want %v, %v", tc.in, ps, demos, err, tc.ps, tc.demos)
		}
	}
}

func FuzzParsePrompts(f *testing.F) {
	f.Add([]byte(`{"prompt":"12+3=","difficulty":2}` + "\n" + `{"messages":[{"role":"user","content":"="},{"role":"assistant","content":"4+5="}]}`))
	f.Add([]byte(`{"prompt":""}`))
	f.Add([]byte("\n\n{"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		ps, demos, err := parsePrompts("f", raw)
		if err != nil {
			return
		}
		if len(ps) == 0 {
			t.Fatal("no error and no prompts")
		}
		for _, p := range ps {
			if p.Prompt == "" {
				t.Fatalf("an empty prompt in %q", raw)
			}
		}
		for _, d := range demos {
			if len(d) != 2 || d[0].Role != "user" || d[1].Role != "assistant" {
				t.Fatalf("demo %v is not a user turn and an answer", d)
			}
		}
	})
}

// TestWithOwn: the round's own worked examples are replayed about as often
// as all the earlier ones together, and none is lost.
func TestWithOwn(t *testing.T) {
	conv := func(s string) lab.Conversation { return lab.Conversation{{Role: "user", Content: s}} }
	earlier := []lab.Conversation{conv("a"), conv("b"), conv("c"), conv("d"), conv("e"), conv("f"), conv("g")}
	own := []lab.Conversation{conv("x"), conv("y")}
	for _, tc := range []struct {
		earlier, own []lab.Conversation
		want         int // examples in the pool
	}{
		{earlier, nil, 7},
		{earlier, own, 7 + 3*2},
		{earlier[:1], own, 1 + 2},
	} {
		got := withOwn(tc.earlier, tc.own)
		if len(got) != tc.want || !reflect.DeepEqual(got[:len(tc.earlier)], tc.earlier) {
			t.Errorf("withOwn(%d, %d) has %d examples, want %d with the earlier ones first", len(tc.earlier), len(tc.own), len(got), tc.want)
		}
	}
}
