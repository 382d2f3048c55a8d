package selfinstruct

import (
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseNumberedList(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		next int
		want []string
	}{
		{"completion style", " Explain tides.\n10. Name three rivers.\n11. Sort the list.", 9, []string{"Explain tides.", "Name three rivers.", "Sort the list."}},
		{"chat style", "9. Explain tides.\n10. Name three rivers.", 9, []string{"Explain tides.", "Name three rivers."}},
		{"preamble dropped", "Here are more tasks:\n\n9. Explain tides.\n10) Name three rivers.", 9, []string{"Explain tides.", "Name three rivers."}},
		{"multi-line item joined", " Rewrite the text\n   so it is formal.\n10. Next one.", 9, []string{"Rewrite the text so it is formal.", "Next one."}},
		{"blank line ends item", "9. Explain tides.\n10. Name rivers.\n\nLet me know if you need more!", 9, []string{"Explain tides.", "Name rivers."}},
		{"no space after number is not a marker", " Compute 3.5 times 2.\n10.Next", 9, []string{"Compute 3.5 times 2. 10.Next"}},
		{"empty", "", 9, nil},
		{"only spaces", " \n \n", 9, nil},
		{"crlf", " A task here.\r\n10. Another task.", 9, []string{"A task here.", "Another task."}},
		{"preamble before a list restarting at 1", "Sure! Here are some more tasks:\n\n1. Explain tides.\n2. Name three rivers.", 9, []string{"Explain tides.", "Name three rivers."}},
		{"preamble without a blank line", "Here you go:\n1. Explain tides.", 9, []string{"Explain tides."}},
		{"empty items skipped", "9. \n10. Real task.", 9, []string{"Real task."}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseNumberedList(tc.in, tc.next); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseNumberedList(%q, %d) = %q, want %q", tc.in, tc.next, got, tc.want)
			}
		})
	}
}

func TestParseAlpaca(t *testing.T) {
	reply := " Name a fruit.\n4. Input:\n<noinput>\n4. Output:\nApple.\n###\n5. Instruction: Translate to French.\n5. Input:\nHello\n5. Output:\nBonjour\n###\n6. Instruction: Broken item\n6. Output:\nx\n###\n7. Instruction: Cut off\n7. Inp"
	got := parseAlpaca(reply, 4, true)
	if len(got) != 4 {
		t.Fatalf("got %d items: %+v", len(got), got)
	}
	if got[0].Instruction != "Name a fruit." || got[0].Input != "" || got[0].Output != "Apple." || got[0].Err != "" {
		t.Errorf("item 0 = %+v", got[0])
	}
	if got[1].Instruction != "Translate to French." || got[1].Input != "Hello" || got[1].Output != "Bonjour" {
		t.Errorf("item 1 = %+v", got[1])
	}
	if !strings.HasPrefix(got[2].Err, "malformed") || !strings.HasPrefix(got[3].Err, "truncated") {
		t.Errorf("errors = %q, %q", got[2].Err, got[3].Err)
	}
	// Not truncated: the last item is parsed like the others.
	if got := parseAlpaca(" A.\n4. Input:\n<NoInput>\n4. Output:\nB", 4, false); len(got) != 1 || got[0].Err != "" || got[0].Input != "" {
		t.Errorf("untruncated = %+v", got)
	}
}

func TestParseGenInstances(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []instance
	}{
		{"examples", "Example 1\nInput: 2, 1\nOutput: 1, 2\nExample 2\nInput: b, a\nOutput: a, b", []instance{{"2, 1", "1, 2"}, {"b, a", "a, b"}}},
		{"example colon", "Example 1:\nInput: x\nOutput: y", []instance{{"x", "y"}}},
		{"field name kept in input", "Example 1\nSentence: I am here.\nOutput: Je suis là.", []instance{{"Sentence: I am here.", "Je suis là."}}},
		{"output only", "Output: Drink water and sleep well.", []instance{{"", "Drink water and sleep well."}}},
		{"multi-line output", "Output:\n- a\n- b", []instance{{"", "- a\n- b"}}},
		{"run-on input cut", "Example 1\nInput: q\nOutput: a\nInput: q2", []instance{{"q", "a"}}},
		{"no output marker in example", "Example 1\nJust text", []instance{{"", "Just text"}}},
		{"nothing", "I cannot help with that.", nil},
		{"word example mid-line is not a split", "Output: For Example 3 is odd.", []instance{{"", "For Example 3 is odd."}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseGenInstances(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseGenInstances(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseClassInstances(t *testing.T) {
	for _, tc := range []struct {
		name string
		in   string
		want []instance
	}{
		{"labels and inputs", "Class label: Positive\nInput: I love it.\nClass label: Negative\nSentence: I hate it.", []instance{{"I love it.", "Positive"}, {"Sentence: I hate it.", "Negative"}}},
		{"label only", "Class label: Montreal", []instance{{"", "Montreal"}}},
		{"leading text ignored", "Sure!\nClass label: A\nInput: q", []instance{{"q", "A"}}},
		{"none", "Positive: I love it.", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseClassInstances(tc.in); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseClassInstances(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestParseYesNo(t *testing.T) {
	for _, tc := range []struct {
		in      string
		yes, ok bool
	}{
		{" Yes", true, true}, {"yes.", true, true}, {"YES", true, true}, {"No", false, true}, {" no", false, true},
		{"\"Yes\"", true, true}, {"はい", true, true}, {"いいえ", false, true}, {"Maybe", false, false}, {"", false, false},
	} {
		if yes, ok := parseYesNo(tc.in); yes != tc.yes || ok != tc.ok {
			t.Errorf("parseYesNo(%q) = %v, %v, want %v, %v", tc.in, yes, ok, tc.yes, tc.ok)
		}
	}
}

func FuzzParseNumberedList(f *testing.F) {
	f.Add(" Explain tides.\n10. Name three rivers.", 9)
	f.Add("Here:\n\n9. A\n10) B\n\nbye", 9)
	f.Fuzz(func(t *testing.T, in string, next int) {
		items := parseNumberedList(in, next)
		if len(items) > maxItems {
			t.Fatalf("%d items, over the cap", len(items))
		}
		for _, it := range items {
			if it == "" || strings.TrimSpace(it) != it || strings.Contains(it, "\n") {
				t.Fatalf("bad item %q", it)
			}
		}
	})
}

func FuzzParseAlpaca(f *testing.F) {
	f.Add(" Name a fruit.\n4. Input:\n<noinput>\n4. Output:\nApple.\n###\n5. Instruction: x", 4, true)
	f.Fuzz(func(t *testing.T, in string, next int, truncated bool) {
		for _, it := range parseAlpaca(in, next, truncated) {
			if it.Err == "" && strings.EqualFold(it.Input, "<noinput>") {
				t.Fatalf("<noinput> kept: %+v", it)
			}
			if it.Err != "" && (it.Instruction != "" || it.Output != "") {
				t.Fatalf("failed item with fields: %+v", it)
			}
		}
	})
}

func FuzzParseInstances(f *testing.F) {
	f.Add("Example 1\nInput: a\nOutput: b\nExample 2\nInput: c\nOutput: d")
	f.Add("Class label: A\nInput: x\nClass label: B")
	f.Add("Output: y")
	f.Fuzz(func(t *testing.T, in string) {
		for _, ins := range [][]instance{parseGenInstances(in), parseClassInstances(in)} {
			for _, x := range ins {
				if strings.TrimSpace(x.Input) != x.Input || strings.TrimSpace(x.Output) != x.Output {
					t.Fatalf("untrimmed instance %q", x)
				}
				if utf8.ValidString(in) && (!utf8.ValidString(x.Input) || !utf8.ValidString(x.Output)) {
					t.Fatalf("invalid UTF-8 from valid input: %q", x)
				}
			}
			// The filters must handle whatever the parsers return.
			for _, v := range filterInstances(ins, true, 5) {
				_ = v.kept()
			}
		}
		parseYesNo(in)
	})
}
