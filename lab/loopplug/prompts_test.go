package loopplug

import (
	"math"
	"reflect"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
)

// TestParsePrompts reads a prompts file's three kinds of line: problems,
// worked examples (lab-propose's proposer examples) for GRPO's replay, and
// scored completions (its proposer_reward rollouts) for its policy term.
func TestParsePrompts(t *testing.T) {
	demo := []tokenizer.Message{{Role: "user", Content: "12+3=="}, {Role: "assistant", Content: "45+6="}}
	for _, tc := range []struct {
		in     string
		ps     []task.Problem
		demos  []lab.Conversation
		scored []lab.Scored
		err    string
	}{
		{in: `{"prompt":"12+3=","difficulty":2}` + "\n", ps: []task.Problem{{Prompt: "12+3=", Difficulty: 2}}},
		{in: `{"prompt":"1+2=","difficulty":1}` + "\n" + `{"messages":[{"role":"user","content":"12+3=="},{"role":"assistant","content":"45+6="}]}` + "\n",
			ps: []task.Problem{{Prompt: "1+2=", Difficulty: 1}}, demos: []lab.Conversation{demo}},
		{in: `{"messages":[{"role":"user","content":"12+3=="},{"role":"assistant","content":"45+6="}]}` + "\n", err: "no prompts"},
		{in: `{"prompt":"1+2=","difficulty":1}` + "\n" + `{"messages":[{"role":"user","content":"12+3=="},{"role":"assistant","content":"45+6="}],"reward":0.625}` + "\n" +
			`{"messages":[{"role":"user","content":"12+3=="},{"role":"assistant","content":"4+6="}],"reward":0}` + "\n",
			ps: []task.Problem{{Prompt: "1+2=", Difficulty: 1}}, scored: []lab.Scored{{Messages: demo, Reward: 0.625},
				{Messages: lab.Conversation{{Role: "user", Content: "12+3=="}, {Role: "assistant", Content: "4+6="}}, Reward: 0}}},
		{in: `{"prompt":"1+2=","reward":1}` + "\n", err: ":1: not a prompt line"},
		{in: `{"prompt":"1+2="}` + "\n" + `{"messages":[{"role":"user","content":"a"}],"reward":1}` + "\n", err: ":2: not a prompt line"},
		{in: `{"prompt":"1+2=","messages":[{"role":"user","content":"a"},{"role":"assistant","content":"b"}]}` + "\n", err: ":1: not a prompt line"},
		{in: `{"messages":[{"role":"assistant","content":"a"},{"role":"user","content":"b"}]}` + "\n", err: ":1: not a prompt line"},
		{in: `{"prompt":"1+2="}` + "\n" + `{"difficulty":3}` + "\n", err: ":2: not a prompt line"},
		{in: "not json\n", err: ":1: not a prompt line"},
		{in: "", err: "no prompts"},
	} {
		got, err := parsePrompts("p.jsonl", []byte(tc.in))
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("parsePrompts(%q) = error %v, want one containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got.problems, tc.ps) || !reflect.DeepEqual(got.demos, tc.demos) || !reflect.DeepEqual(got.scored, tc.scored) {
			t.Errorf("parsePrompts(%q) = %+v, %v; want %v, %v, %v", tc.in, got, err, tc.ps, tc.demos, tc.scored)
		}
	}
}

func FuzzParsePrompts(f *testing.F) {
	f.Add([]byte(`{"prompt":"12+3=","difficulty":2}` + "\n" + `{"messages":[{"role":"user","content":"="},{"role":"assistant","content":"4+5="}]}`))
	f.Add([]byte(`{"prompt":""}`))
	f.Add([]byte("\n\n{"))
	f.Add([]byte(`{"prompt":"1="}` + "\n" + `{"messages":[{"role":"user","content":"="},{"role":"assistant","content":"4+5="}],"reward":0.5}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		got, err := parsePrompts("f", raw)
		if err != nil {
			return
		}
		ps, demos := got.problems, got.demos
		for _, s := range got.scored {
			if len(s.Messages) != 2 || s.Messages[0].Role != "user" || s.Messages[1].Role != "assistant" || math.IsNaN(s.Reward) || math.IsInf(s.Reward, 0) {
				t.Fatalf("scored %+v is not a user turn, an answer and a finite reward", s)
			}
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
