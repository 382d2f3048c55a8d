package codet

import (
	"reflect"
	"strings"
	"testing"
)

func TestExtractSolution(t *testing.T) {
	for _, tc := range []struct {
		reply, want string
		ok          bool
	}{
		{"```python\ndef f(x):\n    return x\n```", "def f(x):\n    return x", true},
		{"Here:\n```py\ndef f(): pass\n```\nand\n```\nother\n```", "def f(): pass", true},
		{"def f(x):\n    return 1", "def f(x):\n    return 1", true},
		{"I cannot solve this.", "", false},
		{"```python\n\n```", "", false},
	} {
		got, ok := extractSolution(tc.reply)
		if got != tc.want || ok != tc.ok {
			t.Errorf("extractSolution(%q) = %q, %v; want %q, %v", tc.reply, got, ok, tc.want, tc.ok)
		}
	}
}

func TestExtractTests(t *testing.T) {
	for _, tc := range []struct {
		reply, fn string
		want      []string
	}{
		{"```python\nassert f(1) == 2\n  assert f(2) == 3  \nassert f(1) == 2\nprint(f(3))\n```", "f", []string{"assert f(1) == 2", "assert f(2) == 3"}},
		{"assert f(1) == 2\nassert g(1) == 2\nassert(f(0) == 1)", "f", []string{"assert f(1) == 2", "assert(f(0) == 1)"}},
		{"assert f(1) == 2 # outside\n```\nassert f(5) == 6\n```", "", []string{"assert f(5) == 6"}},
		{"no tests", "f", nil},
	} {
		if got := extractTests(tc.reply, tc.fn); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("extractTests(%q, %q) = %q, want %q", tc.reply, tc.fn, got, tc.want)
		}
	}
}

func TestFunctionName(t *testing.T) {
	for in, want := range map[string]string{
		"Write a Python function `sum_even(xs)` that …": "sum_even",
		"Implement clamp(x, lo, hi).":                   "clamp",
		"No function here.":                             "",
	} {
		if got := functionName(in); got != want {
			t.Errorf("functionName(%q) = %q, want %q", in, got, want)
		}
	}
}

func FuzzExtract(f *testing.F) {
	for _, s := range []string{"```python\nassert f(1) == 2\n```", "def f(): pass", "```\n```", "assert(f(0))\n```py\nassert f(2)\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		if code, ok := extractSolution(reply); ok && (code == "" || !strings.Contains(reply, code)) {
			t.Fatalf("solution %q is empty or not from the reply", code)
		}
		seen := map[string]bool{}
		for _, tc := range extractTests(reply, "f") {
			if !strings.HasPrefix(tc, "assert") || strings.Contains(tc, "\n") || !strings.Contains(tc, "f(") || seen[tc] || !strings.Contains(reply, tc) {
				t.Fatalf("test %q: not one new assert line of the reply", tc)
			}
			seen[tc] = true
		}
	})
}
