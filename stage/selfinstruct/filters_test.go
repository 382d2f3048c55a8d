package selfinstruct

import (
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/text"
)

func failed(ds []record.Decision) []string {
	var out []string
	for _, d := range ds {
		if !d.Passed {
			out = append(out, d.Filter)
		}
	}
	return out
}

func TestInstructionFilters(t *testing.T) {
	en := newInstructionFilters(text.English, 4, 150, paperBlacklist, []string{"Write a program"}, true, true)
	alp, _ := blacklistWords(Blacklist{}, ModeAlpaca, "en")
	alpaca := newInstructionFilters(text.English, 4, 150, alp, []string{"Write a program"}, true, true)
	jaWords, _ := blacklistWords(Blacklist{}, ModeSelfInstruct, "ja")
	ja := newInstructionFilters(text.Japanese, 4, 150, jaWords, []string{"Write a program", "プログラムを書"}, true, false)
	long := strings.Repeat("word ", 151)
	for _, tc := range []struct {
		name string
		f    *instructionFilters
		in   string
		want []string // failed filters, in order
	}{
		{"ok", en, "Explain the water cycle to a child.", nil},
		{"three words", en, "Tell a joke.", []string{"length"}},
		{"four words", en, "Tell me a joke.", nil},
		{"150 words", en, strings.Repeat("word ", 150), nil},
		{"151 words", en, long, []string{"length"}},
		{"blacklist word", en, "Describe the image in detail please.", []string{"blacklist"}},
		{"blacklist case", en, "Describe the IMAGE in detail please.", []string{"blacklist"}},
		{"blacklist plural", en, "Sort these files by their size.", []string{"blacklist"}},
		{"blacklist whole word only", en, "Explain imagery in this poem briefly.", nil},
		{"blacklist inside word", en, "Summarize the mapping between the two lists.", nil},
		{"blacklist phrase", en, "Tell me how to go to the station.", []string{"blacklist"}},
		{"paper list lacks video", en, "Summarize the plot of the video.", []string{"blacklist"}}, // "plot"
		{"alpaca adds video", alpaca, "Describe this video clip in detail.", []string{"blacklist"}},
		{"paper keeps video", en, "Describe this video clip in detail.", nil},
		{"write a program", en, "Write a program that adds two numbers.", []string{"prefix"}},
		{"write a program lower", en, "write a program that adds two numbers.", nil}, // normalizeInstruction capitalizes first
		{"punctuation", en, "\"Quote\" this sentence back to me.", []string{"punctuation"}},
		{"dash", en, "- List three fruits that are red.", []string{"punctuation"}},
		{"non-ascii punctuation is not Python punctuation", en, "¿Cómo se dice hello en inglés?", []string{"ascii"}},
		{"non-ascii letter", en, "Élaborez un plan de voyage détaillé.", []string{"ascii"}},
		{"several", en, "Draw.", []string{"length", "blacklist"}},
		{"ja ok", ja, "次の文章を三文で要約してください。", nil},
		{"ja short", ja, "要約。", []string{"length"}},
		{"ja blacklist", ja, "この画像について説明してください。", []string{"blacklist"}},
		{"ja punctuation", ja, "「春」という言葉で俳句を作ってください。", []string{"punctuation"}},
		{"ja program", ja, "プログラムを書いて合計を求めてください。", []string{"prefix"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := failed(tc.f.check(tc.in)); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("check(%q) failed %v, want %v", tc.in, got, tc.want)
			}
		})
	}
}

func TestNormalizeInstruction(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"  write   a poem\nabout rain ", "Write a poem about rain"},
		{"explain SQL joins", "Explain SQL joins"},
		{"日本語の  文", "日本語の 文"},
	} {
		if got := normalizeInstruction(tc.in, text.English); got != tc.want {
			t.Errorf("normalizeInstruction(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestBlacklistWords(t *testing.T) {
	w, err := blacklistWords(Blacklist{Preset: "none"}, ModeSelfInstruct, "en")
	if err != nil || len(w) != 0 {
		t.Errorf("none = %v, %v", w, err)
	}
	w, _ = blacklistWords(Blacklist{Preset: "alpaca"}, ModeSelfInstruct, "en")
	if len(w) != 18 || w[17] != "diagram" {
		t.Errorf("alpaca = %v", w)
	}
	w, _ = blacklistWords(Blacklist{Words: []string{}}, ModeAlpaca, "en")
	if len(w) != 0 {
		t.Errorf("explicit empty list = %v, want none", w)
	}
}

func TestBlacklistUnmarshal(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want Blacklist
		err  bool
	}{
		{"alpaca", Blacklist{Preset: "alpaca"}, false},
		{[]string{"x", "y"}, Blacklist{Words: []string{"x", "y"}}, false},
		{"bogus", Blacklist{}, true},
		{42, Blacklist{}, true},
	} {
		var b Blacklist
		err := b.UnmarshalYAML(func(v any) error {
			rv, iv := reflect.ValueOf(v).Elem(), reflect.ValueOf(tc.in)
			if !iv.Type().AssignableTo(rv.Type()) {
				return &reflect.ValueError{Method: "assign"}
			}
			rv.Set(iv)
			return nil
		})
		if (err != nil) != tc.err || !tc.err && !reflect.DeepEqual(b, tc.want) {
			t.Errorf("UnmarshalYAML(%v) = %+v, %v", tc.in, b, err)
		}
	}
	var b Blacklist
	if err := b.UnmarshalText([]byte("paper")); err != nil || b.Preset != "paper" {
		t.Errorf("UnmarshalText = %+v, %v", b, err)
	}
}

func TestFilterInstances(t *testing.T) {
	type in = instance
	for _, tc := range []struct {
		name      string
		ins       []instance
		truncated bool
		max       int
		want      [][]string // failed filters per instance
	}{
		{"all good", []in{{"a", "1"}, {"b", "2"}}, false, 5, [][]string{nil, nil}},
		{"truncated last", []in{{"a", "1"}, {"b", "2"}}, true, 5, [][]string{nil, {"truncated"}}},
		{"input equals output", []in{{"same", "same"}, {"b", "2"}}, false, 5, [][]string{{"input_equals_output"}, nil}},
		{"empty output", []in{{"a", ""}, {"b", "2"}}, false, 5, [][]string{{"empty_output"}, nil}},
		{"colon", []in{{"Sentence:", "x"}, {"b", "Answer:"}, {"c", "ok"}}, false, 5, [][]string{{"colon"}, {"colon"}, nil}},
		{"conflict drops all", []in{{"a", "1"}, {"a", "2"}, {"b", "3"}}, false, 5, [][]string{{"conflicting_outputs"}, {"conflicting_outputs"}, {"conflicting_outputs"}}},
		{"empty input may differ", []in{{"", "1"}, {"", "2"}}, false, 5, [][]string{nil, nil}},
		{"duplicate", []in{{"a", "1"}, {"a", "1"}}, false, 5, [][]string{nil, {"duplicate"}}},
		{"max per task", []in{{"a", "1"}, {"b", "2"}, {"c", "3"}}, false, 2, [][]string{nil, nil, {"max_instances"}}},
		{"invalid ones do not conflict", []in{{"a", "a"}, {"a", "2"}}, false, 5, [][]string{{"input_equals_output"}, nil}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			vs := filterInstances(tc.ins, tc.truncated, tc.max)
			var got [][]string
			for _, v := range vs {
				got = append(got, failed(v.decisions))
				if v.kept() == (len(failed(v.decisions)) > 0) {
					t.Errorf("kept() disagrees with decisions for %+v", v)
				}
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("filterInstances(%v) = %v, want %v", tc.ins, got, tc.want)
			}
		})
	}
}

func TestScoreFormat(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		want string
	}{{0.7, "0.700"}, {0.7000000000000001, "0.7000000000000001"}, {0.70004, "0.70004"}, {0.8123, "0.812"}, {0, "0.000"}} {
		if got := score(tc.v, 0.7); got != tc.want {
			t.Errorf("score(%v) = %q, want %q", tc.v, got, tc.want)
		}
	}
}

func TestBlacklistHits(t *testing.T) {
	f := newInstructionFilters(text.English, 1, 150, paperBlacklist, nil, false, false)
	for _, tc := range []struct{ in, want string }{
		{"Sort the images and the image files.", `contains "image", "images", "files"`},
		{"Go To the map, then draw a plot.", `contains "map", "draw", "plot", "go to"`},
		{"Explain the_map and maps2 and mapé.", ""},
		{"(map) 'plot'", `contains "map", "plot"`},
		{"Use a mapping of drawings.", ""},
	} {
		var got string
		for _, d := range f.check(tc.in) {
			if d.Filter == "blacklist" {
				got = d.Reason
			}
		}
		if got != tc.want {
			t.Errorf("check(%q) blacklist reason = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzContainsWord checks the whole-word matcher against the regexp the paper
// used, on ASCII text where Go's \b and Python's agree.
func FuzzContainsWord(f *testing.F) {
	f.Add("Draw a map of the maps.", "map")
	f.Add("go to  go to", "go to")
	f.Add("_plot plot_", "plot")
	f.Fuzz(func(t *testing.T, s, w string) {
		if !isASCII(s) || !isASCII(w) || w == "" {
			return
		}
		lw := strings.ToLower(w)
		want := regexp.MustCompile(`(?i)\b` + regexp.QuoteMeta(lw) + `\b`).MatchString(s)
		if got := containsWord(asciiLower(s), lw); got != want {
			t.Fatalf("containsWord(%q, %q) = %v, regexp says %v", s, lw, got, want)
		}
	})
}
