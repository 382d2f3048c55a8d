package bestofn

import (
	"testing"

	"github.com/synthloop/synthloop/record"
)

func TestPrompt(t *testing.T) {
	for _, tc := range []struct {
		in   record.Record
		want string
	}{
		{record.Record{Instruction: " Sum the numbers. "}, "Sum the numbers."},
		{record.Record{Instruction: "Sum the numbers.", Input: "3, 4"}, "Sum the numbers.\n\n3, 4"},
		{record.Record{Instruction: "Tell a joke.", Input: "<noinput>"}, "Tell a joke."},
	} {
		if got := Prompt(&tc.in); got != tc.want {
			t.Errorf("Prompt(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReference(t *testing.T) {
	r := &record.Record{Input: "in", Output: "out", Meta: map[string]any{"answer": "42", "n": 7.5}}
	for _, tc := range []struct{ spec, want string }{
		{"", "out"}, {"output", "out"}, {"input", "in"}, {"meta.answer", "42"}, {"meta.n", "7.5"}, {"meta.none", ""},
	} {
		f, err := Reference(tc.spec)
		if err != nil {
			t.Fatalf("Reference(%q): %v", tc.spec, err)
		}
		if got := f(r); got != tc.want {
			t.Errorf("Reference(%q) = %q, want %q", tc.spec, got, tc.want)
		}
	}
	for _, bad := range []string{"meta.", "answer", "Output"} {
		if _, err := Reference(bad); err == nil {
			t.Errorf("Reference(%q) accepted", bad)
		}
	}
}
