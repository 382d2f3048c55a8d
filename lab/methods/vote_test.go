package methods

import (
	"reflect"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/lab"
)

// answers turns "a b a -c" into samples; a leading "-" marks a sample that
// ran into the token limit.
func answers(s string) []lab.Answer {
	var out []lab.Answer
	for _, f := range strings.Fields(s) {
		text, cut := strings.CutPrefix(f, "-")
		out = append(out, lab.Answer{Text: text, Stopped: !cut})
	}
	return out
}

func TestVotes(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []Vote
	}{
		{"", nil},
		{"a", []Vote{{"a", 1}}},
		{"b a a c b a", []Vote{{"a", 3}, {"b", 2}, {"c", 1}}},
		{"c b a", []Vote{{"c", 1}, {"b", 1}, {"a", 1}}}, // ties keep first appearance
		{"-a -a b", []Vote{{"b", 1}}},                   // cut-off samples do not vote
	} {
		if got := Votes(answers(tc.in), func(a lab.Answer) bool { return a.Stopped }); !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Votes(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestPreferencePair(t *testing.T) {
	for _, tc := range []struct {
		in               string
		minShare         float64
		chosen, rejected string
		why              Drop
	}{
		{in: "a a a b", minShare: 0.5, chosen: "a", rejected: "b"},
		{in: "a b a c a b", minShare: 0.5, chosen: "a", rejected: "c"}, // the least common is rejected
		{in: "a b a c a d", minShare: 0.5, chosen: "a", rejected: "b"}, // among equals, the first seen
		{in: "a a b c", minShare: 0.5, chosen: "a", rejected: "b"},     // 2 of 4 meets 0.5
		{in: "a a b c", minShare: 0.6, why: NoMajority},                // 2 of 4 misses 0.6
		{in: "a a -a -a b", minShare: 0.5, why: NoMajority},            // cut-off samples count in the share
		{in: "a a b b c", minShare: 0.3, why: Tie},                     // no strict majority
		{in: "a a a a", minShare: 0.5, why: Unanimous},                 // nothing to reject
		{in: "-a -b", minShare: 0.5, why: NoAnswer},
		{in: "x -y x z", minShare: 0.5, chosen: "x", rejected: "z"}, // a cut-off sample is never rejected
	} {
		c, r, why := PreferencePair(answers(tc.in), func(a lab.Answer) bool { return a.Stopped }, tc.minShare)
		if why != tc.why {
			t.Errorf("PreferencePair(%q, %g) dropped %q, want %q", tc.in, tc.minShare, why, tc.why)
			continue
		}
		if why == Kept && (c.Text != tc.chosen || r.Text != tc.rejected) {
			t.Errorf("PreferencePair(%q, %g) = %q over %q, want %q over %q", tc.in, tc.minShare, c.Text, r.Text, tc.chosen, tc.rejected)
		}
	}
}
