package lab

import (
	"testing"

	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/lab/task"
)

func TestLengthOK(t *testing.T) {
	add := task.ReverseAddition{}
	p := task.Problem{Prompt: "321+654=", Difficulty: 3}
	for _, tc := range []struct {
		a    Answer
		want bool
	}{
		{Answer{"9750", true}, true},
		{Answer{"9751", true}, true}, // wrong, but it could be right
		{Answer{"975", true}, false}, // a sum has exactly n+1 digits
		{Answer{"97500", true}, false},
		{Answer{"9750", false}, false}, // never closed with <|end|>
		{Answer{"", true}, false},
	} {
		if got := LengthOK(add, p, tc.a); got != tc.want {
			t.Errorf("LengthOK(%+v) = %v, want %v", tc.a, got, tc.want)
		}
	}
}

func TestMajority(t *testing.T) {
	ans := func(texts ...string) []Answer {
		var out []Answer
		for _, s := range texts {
			out = append(out, Answer{Text: s, Stopped: s != "cut"})
		}
		return out
	}
	stopped := func(a Answer) bool { return a.Stopped }
	for _, tc := range []struct {
		name      string
		answers   []Answer
		ok        func(Answer) bool
		wantText  string
		wantShare float64
	}{
		{"none", nil, nil, "", 0},
		{"unanimous", ans("12", "12", "12"), nil, "12", 1},
		{"three of five", ans("12", "13", "12", "14", "12"), nil, "12", 0.6},
		{"tie goes to the first to lead", ans("b", "a", "a", "b"), nil, "a", 0.5},
		{"failed answers still count as voters", ans("cut", "cut", "cut", "7", "7"), stopped, "7", 0.4},
		{"failed answers cannot win", ans("cut", "cut", "cut", "7"), stopped, "7", 0.25},
		{"all failed", ans("cut", "cut"), stopped, "", 0},
	} {
		text, share := Majority(tc.answers, tc.ok)
		if text != tc.wantText || share != tc.wantShare {
			t.Errorf("%s: Majority = %q, %g; want %q, %g", tc.name, text, share, tc.wantText, tc.wantShare)
		}
	}
}

func TestFilterPick(t *testing.T) {
	add := task.ReverseAddition{}
	p := task.Problem{Prompt: "321+654=", Difficulty: 3}
	a := func(text string, stopped bool) Answer { return Answer{Text: text, Stopped: stopped} }
	vote := Filter{Length: true, Samples: 5, Agree: 0.7}
	for _, tc := range []struct {
		name      string
		f         Filter
		answers   []Answer
		wantLabel string
		wantAgree float64
		wantKept  bool
	}{
		{"unfiltered keeps a wrong length", Filter{}, []Answer{a("97", true)}, "97", 1, true},
		{"unfiltered keeps an unfinished answer", Filter{}, []Answer{a("9755555", false)}, "9755555", 1, true},
		{"length filter drops a short answer", Filter{Length: true}, []Answer{a("97", true)}, "", 0, false},
		{"length filter keeps a plausible wrong answer", Filter{Length: true}, []Answer{a("9760", true)}, "9760", 1, true},
		{"4 of 5 agree", vote, []Answer{a("9750", true), a("9750", true), a("9760", true), a("9750", true), a("9750", true)}, "9750", 0.8, true},
		{"3 of 5 agree", vote, []Answer{a("9750", true), a("9750", true), a("9760", true), a("9770", true), a("9750", true)}, "9750", 0.6, false},
		{"too-long answers cannot carry the vote", vote, []Answer{a("97555", true), a("97555", true), a("97555", true), a("9750", true), a("9750", true)}, "9750", 0.4, false},
		{"vote without length filter", Filter{Agree: 0.7}, []Answer{a("97", true), a("97", true), a("97", true), a("97", false)}, "97", 1, true},
		{"no answers", vote, nil, "", 0, false},
	} {
		label, agree, kept := tc.f.Pick(add, p, tc.answers)
		if label != tc.wantLabel || agree != tc.wantAgree || kept != tc.wantKept {
			t.Errorf("%s: Pick = %q, %g, %v; want %q, %g, %v", tc.name, label, agree, kept, tc.wantLabel, tc.wantAgree, tc.wantKept)
		}
	}
}

// TestAnswerCutsAtSpecialTokens: a completion holding a special token other
// than the <|end|> that stopped it is cut before it and not stopped, so its
// text always encodes again.
func TestAnswerCutsAtSpecialTokens(t *testing.T) {
	m, err := NewModel(task.Copy{}, Arch{Dim: 8, Layers: 1, Heads: 1, Hidden: 8, MaxSeq: 16}, 1)
	if err != nil {
		t.Fatal(err)
	}
	ids, _ := m.Tok.Encode("ab")
	eos, _ := m.Tok.SpecialID(tokenizer.EOS)
	for _, tc := range []struct {
		toks    []int32
		stopped bool
		want    Answer
	}{
		{[]int32{int32(ids[0]), int32(ids[1])}, true, Answer{"ab", true}},
		{[]int32{int32(ids[0]), int32(ids[1])}, false, Answer{"ab", false}},
		{[]int32{int32(ids[0]), int32(eos), int32(ids[1])}, true, Answer{"a", false}},
		{[]int32{int32(eos)}, true, Answer{"", false}},
	} {
		if got := m.answer(tc.toks, tc.stopped); got != tc.want {
			t.Errorf("answer(%v, %v) = %+v, want %+v", tc.toks, tc.stopped, got, tc.want)
		}
		if _, err := m.Tok.Encode(m.answer(tc.toks, tc.stopped).Text); err != nil {
			t.Errorf("answer(%v) does not encode: %v", tc.toks, err)
		}
	}
}
