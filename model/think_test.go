package model_test

import (
	"context"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

func TestSplitThink(t *testing.T) {
	tests := []struct {
		name, in          string
		reasoning, answer string
		ok                bool
	}{
		{"whole block", "<think>\nadd 2 and 2\n</think>\n\n4", "add 2 and 2", "4", true},
		{"leading space", "  \n<think>r</think>a ", "r", "a ", true},
		{"opened in the template", "the user wants 4\n</think>\n\nIt is 4.", "the user wants 4", "It is 4.", true},
		{"truncated", "<think>still going", "still going", "", true},
		{"empty block", "<think></think>\n\nhi", "", "hi", true},
		{"no tags", "just an answer", "", "just an answer", false},
		{"tag later in the answer", "Use <think>x</think> tags.", "", "Use <think>x</think> tags.", false},
		{"close after a later open", "a <think> b </think> c", "", "a <think> b </think> c", false},
		{"second block stays in the answer", "<think>a</think>b<think>c</think>", "a", "b<think>c</think>", true},
		{"empty", "", "", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, a, ok := model.SplitThink(tt.in)
			if r != tt.reasoning || a != tt.answer || ok != tt.ok {
				t.Errorf("SplitThink(%q) = %q, %q, %v; want %q, %q, %v", tt.in, r, a, ok, tt.reasoning, tt.answer, tt.ok)
			}
		})
	}
}

// nonSpace counts the bytes of s that are not the whitespace SplitThink trims.
func nonSpace(s string) int {
	n := 0
	for i := range len(s) {
		if !strings.ContainsRune(" \t\r\n", rune(s[i])) {
			n++
		}
	}
	return n
}

// FuzzSplitThink checks that a split never loses or invents bytes: the
// reasoning and the answer are pieces of the input, in that order, and with
// the tags taken away they account for every byte but trimmed whitespace.
func FuzzSplitThink(f *testing.F) {
	for _, s := range []string{"<think>a</think>b", "a</think>b", "<think>a", "x", " <think>\n</think>\n", "<think><think></think></think>", "</think>", "a<think>b</think>c"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		r, a, ok := model.SplitThink(in)
		if !ok {
			if r != "" || a != in {
				t.Fatalf("no split but got %q, %q", r, a)
			}
			return
		}
		if !strings.HasSuffix(in, a) {
			t.Fatalf("answer %q is not the end of %q", a, in)
		}
		ri := strings.Index(in, r)
		if ri < 0 || ri+len(r) > len(in)-len(a) {
			t.Fatalf("reasoning %q is not a piece of %q before the answer %q", r, in, a)
		}
		tags := 0
		if strings.HasPrefix(strings.TrimLeft(in, " \t\r\n"), "<think>") {
			tags += len("<think>")
		}
		if strings.Contains(in[:len(in)-len(a)], "</think>") {
			tags += len("</think>")
		}
		if got, want := nonSpace(r)+nonSpace(a)+tags, nonSpace(in); got != want {
			t.Fatalf("SplitThink(%q) = %q, %q: %d bytes accounted for, want %d", in, r, a, got, want)
		}
		if strings.Trim(r, " \t\r\n") != r || strings.TrimLeft(a, " \t\r\n") != a {
			t.Fatalf("untrimmed split %q, %q", r, a)
		}
	})
}

// TestThinkTagsSplitByLayer checks that the reliability layer splits a
// <think> block off every provider's answers, that the cache hands the
// split back, and that think_tags: false keeps the text whole.
func TestThinkTagsSplitByLayer(t *testing.T) {
	off := false
	for _, tt := range []struct {
		name              string
		thinkTags         *bool
		reasoning, answer string
	}{
		{"default", nil, "2+2 is 4", "4"},
		{"off", &off, "", "<think>2+2 is 4</think>\n4"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			srv := modeltest.NewServer(modeltest.Texts("<think>2+2 is 4</think>\n4"))
			defer srv.Close()
			c, _ := open(t, srv, model.Config{ThinkTags: tt.thinkTags}, model.Options{Cache: newMemCache()})
			for i, wantCached := range []bool{false, true} {
				res, err := c.Generate(context.Background(), req("2+2?"))
				if err != nil {
					t.Fatal(err)
				}
				ch := res.Choices[0]
				if ch.Reasoning != tt.reasoning || ch.Text != tt.answer || res.Cached != wantCached {
					t.Errorf("call %d: reasoning %q text %q cached %v; want %q %q %v", i, ch.Reasoning, ch.Text, res.Cached, tt.reasoning, tt.answer, wantCached)
				}
			}
			if srv.Requests() != 1 {
				t.Errorf("%d requests, want 1", srv.Requests())
			}
		})
	}
}

// streamSplit runs text through a ThinkStream in pieces cut at cuts.
func streamSplit(text string, cuts []int) (reasoning, answer string) {
	var ts model.ThinkStream
	prev := 0
	for _, c := range cuts {
		if c < prev || c > len(text) {
			continue
		}
		r, a := ts.Next(text[prev:c])
		reasoning, answer, prev = reasoning+r, answer+a, c
	}
	r, a := ts.Next(text[prev:])
	reasoning, answer = reasoning+r, answer+a
	r, a = ts.Close()
	return reasoning + r, answer + a
}

// FuzzThinkStream checks that however the text is cut into pieces, the
// stream splits it as SplitThink does, except that a close tag without an
// open one is answer text.
func FuzzThinkStream(f *testing.F) {
	for _, s := range []string{"<think>a</think>b", " <think>\n x \n</think>\n\n y ", "<think>a", "<thi", "plain", "a</think>b", "<think>a</thi", "<think></think>", "  "} {
		f.Add(s, uint8(1), uint8(3))
	}
	f.Fuzz(func(t *testing.T, text string, c1, c2 uint8) {
		r, a := streamSplit(text, []int{int(c1) % (len(text) + 1), int(c2) % (len(text) + 1)})
		wr, wa, ok := model.SplitThink(text)
		if !strings.HasPrefix(strings.TrimLeft(text, " \t\r\n"), "<think>") {
			wr, wa = "", text
		} else if !ok {
			t.Fatalf("SplitThink(%q) did not split", text)
		}
		if r != wr || a != wa {
			t.Fatalf("stream %q cut at %d,%d = %q, %q; SplitThink: %q, %q", text, c1, c2, r, a, wr, wa)
		}
	})
}

// TestReasoningTokensPricedOnce: reasoning tokens are part of the
// completion tokens the providers report, billed once at the output price,
// and counted in Stats.
func TestReasoningTokensPricedOnce(t *testing.T) {
	srv := modeltest.NewServer(func(*modeltest.Request) modeltest.Reply {
		return modeltest.Reply{
			Choices: []modeltest.Choice{{Reasoning: "long thought", Text: "ok"}},
			Usage:   &model.Usage{PromptTokens: 1000, CompletionTokens: 3000, ReasoningTokens: 2000},
		}
	})
	defer srv.Close()
	c, _ := open(t, srv, model.Config{Ref: "openai/o3"}, model.Options{APIKey: "k"})
	res, err := c.Generate(context.Background(), req("think hard"))
	if err != nil {
		t.Fatal(err)
	}
	want := (1000*2.0 + 3000*8.0) / 1e6 // o3: $2 in, $8 out per million
	if res.CostUSD != want || res.Usage.ReasoningTokens != 2000 || res.Choices[0].Reasoning != "long thought" {
		t.Errorf("cost %v usage %+v reasoning %q; want cost %v", res.CostUSD, res.Usage, res.Choices[0].Reasoning, want)
	}
	if st := c.Stats(); st.ReasoningTokens != 2000 || st.CompletionTokens != 3000 {
		t.Errorf("stats %+v", st)
	}
}
