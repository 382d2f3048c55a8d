package answer

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestExtract(t *testing.T) {
	for _, tc := range []struct {
		spec, reply, want string
		ok                bool
	}{
		{"auto", `So $x = \boxed{\frac{1}{2}}$.`, `\frac{1}{2}`, true},
		{"auto", "First \\boxed{3}, then corrected: \\boxed{4}.", "4", true},
		{"boxed", `\boxed{\{1, 2\}}`, `\{1, 2\}`, true},
		{"boxed", `\boxed 7.`, "7", true},
		{"boxed", `\fbox{x+1}`, "x+1", true},
		{"boxed", `\boxed{unclosed`, "", false},
		{"boxed", `no box here`, "", false},
		{"auto", "Step 1: 3+4=7.\nAnswer: 7", "7", true},
		{"auto", "Work.\n**Final Answer:** $12$.", "12", true},
		{"auto", "Natalia sold 48/2 = 24 clips in May.\n#### 72", "72", true},
		{"auto", "Therefore, the answer is 15 apples.", "15 apples", true},
		{"auto", "計算すると 3+4=7 です。\n答え: 7", "7", true},
		{"auto", "よって\n答：１２", "１２", true},
		{"answer_line", "Answer: 3\nWait, no.\nFinal answer: 5", "5", true},
		{"answer_line", "Final answer: \\boxed{5}", "5", true},
		{"auto", "We get 3, then 4.5, then 1,234.", "1,234", true},
		{"last_number", "half is 1/2", "1/2", true},
		{"last_number", "none", "", false},
		{"none", "  42 \n", "42", true},
		{"json:answer", `{"answer": 42, "why": "x"}`, "42", true},
		{"json:result.value", "Let me think.\n```json\n{\"result\": {\"value\": \"3/4\"}}\n```", "3/4", true},
		{"json:result.value", "Reasoning {not json}.\nThen {\"result\": {\"value\": 1.5}}", "1.5", true},
		{"json:list.1", `{"list": [1, 2, 3]}`, "2", true},
		{"json:missing", `{"answer": 1}`, "", false},
	} {
		e, err := ParseExtractor(tc.spec)
		if err != nil {
			t.Fatalf("ParseExtractor(%q): %v", tc.spec, err)
		}
		got, ok := e.Extract(tc.reply)
		if ok != tc.ok || got.Text != tc.want {
			t.Errorf("%s.Extract(%q) = %q, %v; want %q, %v", tc.spec, tc.reply, got.Text, ok, tc.want, tc.ok)
		}
	}
}

func TestExtractStart(t *testing.T) {
	reply := "First, 3 + 4 = 7.\nThen double it: 14.\nSo the answer is \\boxed{14}."
	s, ok := Extractor{}.Extract(reply)
	if !ok || reply[:s.Start] != "First, 3 + 4 = 7.\nThen double it: 14.\n" {
		t.Errorf("Extract start = %d (%q), want the start of the last line", s.Start, reply[:s.Start])
	}
}

func TestParseExtractorErrors(t *testing.T) {
	for _, spec := range []string{"json:", "boxes", "JSON"} {
		if _, err := ParseExtractor(spec); err == nil {
			t.Errorf("ParseExtractor(%q): want an error", spec)
		}
	}
	for _, spec := range []string{"auto", "boxed", "answer_line", "last_number", "none", "json:a.b"} {
		e, err := ParseExtractor(spec)
		if err != nil || e.String() != spec {
			t.Errorf("ParseExtractor(%q) = %v, %v", spec, e, err)
		}
	}
}

func TestCanonical(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"42", "42"},
		{"-7", "-7"},
		{"0.50", "1/2"},
		{"1,234", "1234"},
		{"1,234,567.5", "2469135/2"},
		{`\frac{3}{4}`, "3/4"},
		{`\dfrac{6}{8}`, "3/4"},
		{`-\frac12`, "-1/2"},
		{`\frac{\frac{1}{2}}{3}`, "1/6"},
		{`\left( 1, 2 \right)`, "(1, 2)"},
		{"[1,2)", "[1, 2)"},
		{"1, 2", "1, 2"},
		{"(1, 234)", "(1, 234)"},
		{"50%", "50%"},
		{`50\%`, "50%"},
		{`5\text{ cm}`, "5"},
		{"12 apples", "12"},
		{`\$3.50`, "7/2"},
		{`90^\circ`, "90"},
		{"x = 3", "3"},
		{"2^3", "8"},
		{"2^{10}", "1024"},
		{"3(2+1)", "9"},
		{`3 \cdot 4`, "12"},
		{"1.5e3", "1500"},
		{`\sqrt{2}`, `\sqrt(2)`},
		{`3\sqrt{2}`, `3\sqrt(2)`},
		{`\text{Yes}`, "yes"},
		{"The  Cat", "thecat"},
		{"7.", "7"},
		{"2^1000000", "2^1000000"},
		{"1e999", "1e999"},
		{"1/0", "1/0"},
	} {
		if got := Canonical(tc.in); got != tc.want {
			t.Errorf("Canonical(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestEqual(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		tol  Tolerance
		want bool
	}{
		{"0.5", `\frac{1}{2}`, Tolerance{}, true},
		{"1/2", "2/4", Tolerance{}, true},
		{"1,000", "1000", Tolerance{}, true},
		{"50%", "50", Tolerance{}, true},
		{"50%", "0.5", Tolerance{}, true},
		{"0.5", "50%", Tolerance{}, true},
		{"50%", "5", Tolerance{}, false},
		{"0.333", "1/3", Tolerance{}, false},
		{"0.333", "1/3", Tolerance{Abs: 0.001}, true},
		{"1005", "1000", Tolerance{Rel: 0.01}, true},
		{"-3", "3", Tolerance{}, false},
		{"(1, 2)", "1,2", Tolerance{}, true}, // 1,2 is not a thousands number but a tuple
		{"(1, 2)", "1, 2", Tolerance{}, true},
		{"(1, 2)", "(2, 1)", Tolerance{}, false},
		{"[1, 2)", "(1, 2)", Tolerance{}, false},
		{`\left(\frac{1}{2}, 3\right)`, "(0.5, 3)", Tolerance{}, true},
		{`\sqrt{2}`, `\sqrt{2}`, Tolerance{}, true},
		{`\text{yes}`, "Yes", Tolerance{}, true},
		{"x = 5", "5", Tolerance{}, true},
		{"$72", "72 dollars", Tolerance{}, true},
	} {
		if got := Equal(tc.a, tc.b, tc.tol); got != tc.want {
			t.Errorf("Equal(%q, %q, %+v) = %v, want %v (canonical %q, %q)", tc.a, tc.b, tc.tol, got, tc.want, Canonical(tc.a), Canonical(tc.b))
		}
	}
}

func FuzzExtract(f *testing.F) {
	for _, s := range []string{`\boxed{\frac{1}{2}}`, "Answer: 3\n#### 4", `{"a": {"b": [1]}}`, `\boxed{{{`, "答え：5", "1,234.5/6", `\boxed `} {
		f.Add(s, "auto")
		f.Add(s, "json:a.b.0")
	}
	f.Fuzz(func(t *testing.T, reply, spec string) {
		e, err := ParseExtractor(spec)
		if err != nil {
			return
		}
		s, ok := e.Extract(reply)
		if !ok {
			return
		}
		if s.Start < 0 || s.Start > len(reply) {
			t.Fatalf("Extract(%q) start %d outside the reply", reply, s.Start)
		}
		if s.Text == "" {
			t.Fatalf("Extract(%q) ok with an empty answer", reply)
		}
		if utf8.ValidString(reply) && !utf8.ValidString(s.Text) {
			t.Fatalf("Extract(%q) = %q: not UTF-8", reply, s.Text)
		}
	})
}

func FuzzCanonical(f *testing.F) {
	for _, s := range []string{"42", "0.5", "1,234", `\frac{1}{2}`, `\left(1, 2\right)`, "50%", `5\text{ cm}`, "2^{10}", `\sqrt{2}`,
		"x = y = 3", `\\,5`, `\LEFT(1\RIGHT)`, `\frac{\frac{1}{2}`, "((((1))))", "1e100", "-.5", "[1,2)", `\{1,2\}`} {
		f.Add(s, "1/2")
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 2000 || len(b) > 2000 {
			return
		}
		ca := Canonical(a)
		if cc := Canonical(ca); cc != ca {
			t.Fatalf("Canonical not idempotent: %q -> %q -> %q", a, ca, cc)
		}
		if !Equal(a, a, Tolerance{}) {
			t.Fatalf("Equal(%q, itself) = false", a)
		}
		if !Equal(a, ca, Tolerance{}) {
			t.Fatalf("Equal(%q, its canonical %q) = false", a, ca)
		}
		if Canonical(b) == ca && !Equal(a, b, Tolerance{}) {
			t.Fatalf("same canonical %q but not Equal: %q, %q", ca, a, b)
		}
		if Equal(a, b, Tolerance{}) != Equal(b, a, Tolerance{}) && !strings.Contains(a+b, "%") {
			t.Fatalf("Equal not symmetric: %q, %q", a, b)
		}
	})
}
