package export

import (
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/synthloop/synthloop/record"
)

// FuzzLines checks that every JSONL format keeps every text of a record, for
// instruction records and for conversations with any sequence of roles.
func FuzzLines(f *testing.F) {
	f.Add("Translate.", "hello", "bonjour", "sua")
	f.Add("", "", "", "")
	f.Add("指示", "入力\n", "出力 \"quoted\" <tag> &", "uuaau")
	f.Add("a\u2028b", "\x00", "\\", "ssss")
	f.Fuzz(func(t *testing.T, instruction, input, output, roles string) {
		for _, s := range []string{instruction, input, output} {
			if !utf8.ValidString(s) {
				return // records come out of JSON, so their strings are always valid UTF-8
			}
		}
		recs := []*record.Record{{Instruction: instruction, Input: input, Output: output}}
		if roles != "" {
			conv := &record.Record{}
			for i, c := range roles {
				role := map[rune]string{'s': "system", 'u': "user", 'a': "assistant"}[c]
				if role == "" {
					role = "user"
				}
				conv.Messages = append(conv.Messages, record.Turn{Role: role, Content: []string{instruction, input, output}[i%3]})
			}
			recs = append(recs, conv)
		}
		for _, r := range recs {
			// A training export leaves out exactly the records with no answer.
			for _, line := range []func(*record.Record, bool) any{alpacaLine, shareGPTLine, openAILine} {
				if got := line(r, false) != nil; got != answered(r) {
					t.Errorf("training export wrote %v for a record with answer %v", got, answered(r))
				}
			}
			// The audit form is always written; it must keep every text.
			want := strings.Join(texts(turns(r)), "\x1f")

			var oa struct{ Messages []record.Turn }
			decode(t, openAILine(r, true), &oa)
			if got := strings.Join(texts(oa.Messages), "\x1f"); got != want {
				t.Errorf("openai lost text: %q != %q", got, want)
			}
			var sg struct{ Conversations []shareGPTTurn }
			decode(t, shareGPTLine(r, true), &sg)
			var sgTexts []string
			for _, c := range sg.Conversations {
				sgTexts = append(sgTexts, c.Value)
			}
			if got := strings.Join(sgTexts, "\x1f"); got != want {
				t.Errorf("sharegpt lost text: %q != %q", got, want)
			}
			var al struct {
				Instruction, Input, Output string
				History                    [][2]string
			}
			decode(t, alpacaLine(r, true), &al)
			if len(r.Messages) == 0 && (al.Instruction != instruction || al.Input != input || al.Output != output) {
				t.Errorf("alpaca changed an instruction record: %+v", al)
			}
			// Every assistant turn of a conversation survives in output or history.
			var answers []string
			for _, h := range al.History {
				answers = append(answers, h[1])
			}
			answers = append(answers, al.Output)
			var wantAnswers []string
			pendingUser := false
			for _, m := range r.Messages {
				switch m.Role {
				case "assistant":
					wantAnswers = append(wantAnswers, m.Content)
					pendingUser = false
				case "user":
					pendingUser = true
				}
			}
			if pendingUser {
				// A conversation ending on a user turn exports it with an empty output.
				wantAnswers = append(wantAnswers, "")
			}
			if len(r.Messages) > 0 && len(wantAnswers) > 0 && strings.Join(answers, "\x1f") != strings.Join(wantAnswers, "\x1f") {
				t.Errorf("alpaca answers %q, want %q", answers, wantAnswers)
			}
		}
	})
}

func texts(ts []record.Turn) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Content)
	}
	return out
}

func decode(t *testing.T, v any, into any) {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), "\n") {
		t.Fatalf("line contains a raw newline: %s", b)
	}
	if err := json.Unmarshal(b, into); err != nil {
		t.Fatal(err)
	}
}
