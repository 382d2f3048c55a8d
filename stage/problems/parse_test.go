package problems

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseProblems(t *testing.T) {
	for _, tc := range []struct {
		name, reply string
		want        []item
	}{
		{"continued", " Ann has 3 pens. She buys 2 more. How many?\n\nProblem 5: Bo has 4 cats.\nEach eats 2 fish. How many fish?\n",
			[]item{{4, "Ann has 3 pens. She buys 2 more. How many?", false}, {5, "Bo has 4 cats.\nEach eats 2 fish. How many fish?", false}}},
		{"restated header", "Problem 4: A.\nProblem 5: B.", []item{{4, "A.", false}, {5, "B.", false}}},
		{"markdown headers", "**Problem 4:** A.\n\n## Problem 5. B.\n**Problem 6**: C.", []item{{4, "A.", false}, {5, "B.", false}, {6, "C.", false}}},
		{"japanese", "りんごが3個。\n問題 5：みかんが4個。", []item{{4, "りんごが3個。", false}, {5, "みかんが4個。", false}}},
		{"solution cut", "Ann has 3 pens.\nAnswer: 3\nProblem 5: B.\n**Solution:** 7", []item{{4, "Ann has 3 pens.", true}, {5, "B.", true}}},
		{"blank items dropped", "\n\nProblem 5:\n\nProblem 6: C.", []item{{6, "C.", false}}},
		{"no header", "Only one problem here.", []item{{4, "Only one problem here.", false}}},
		{"empty", "  \n", nil},
		{"mid-line mention is not a header", "See Problem 2: it differs.", []item{{4, "See Problem 2: it differs.", false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := parseProblems(tc.reply, 4); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("parseProblems(%q) = %+v, want %+v", tc.reply, got, tc.want)
			}
		})
	}
}

func FuzzParseProblems(f *testing.F) {
	for _, s := range []string{"A.\nProblem 5: B.", "**Problem 4:** A\nAnswer: 3", "問題 2：x\n解答: y", "Problem 0: z", "Problem 99999999999: q"} {
		f.Add(s, 4)
	}
	f.Fuzz(func(t *testing.T, reply string, next int) {
		for _, it := range parseProblems(reply, next) {
			if it.Text == "" || it.Text != strings.TrimSpace(it.Text) {
				t.Fatalf("item %+v is blank or untrimmed", it)
			}
			if solutionRe.MatchString(it.Text) {
				t.Fatalf("item %q still holds a solution line", it.Text)
			}
			if !strings.Contains(reply, it.Text) {
				t.Fatalf("item %q is not a part of the reply", it.Text)
			}
		}
	})
}
