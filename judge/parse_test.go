package judge

import (
	"errors"
	"math"
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseScore(t *testing.T) {
	for _, tc := range []struct {
		reply    string
		lo, hi   float64
		integral bool
		want     float64 // -1: error
		reason   string
	}{
		{"Good answer.\nScore: 4", 0, 5, true, 4, "Good answer."},
		{"Good.\n**Score:** 5", 0, 5, true, 5, "Good."},
		{"**Score: 2**", 0, 5, true, 2, ""},
		{"ok\nScore: 4/5", 0, 5, true, 4, "ok"},
		{"ok\nFinal score = 3 points.", 0, 5, true, 3, "ok"},
		{"ok\nscore:0", 0, 5, true, 0, "ok"},
		{"ok\nScore：４", 0, 5, true, 4, "ok"},                                              // full-width colon and digit
		{"Score: 1\nOn reflection:\nScore: 3", 0, 5, true, 3, "Score: 1\nOn reflection:"}, // last line wins
		{"### Score: 7.5", 1, 10, false, 7.5, ""},
		{"ok\nScore: 8/10", 0, 5, true, -1, ""},       // another scale: not rescaled
		{"ok\nScore: 7", 0, 5, true, -1, ""},          // out of range
		{"ok\nScore: -1", 0, 5, true, -1, ""},         // out of range
		{"ok\nScore: 3.5", 0, 5, true, -1, ""},        // additive points are whole
		{"I give it 4 out of 5.", 0, 5, true, -1, ""}, // no score line: never guessed
		{"スコア：4", 0, 5, true, -1, ""},
		{"この回答は質問に答えている。\nScore: 4", 0, 5, true, 4, "この回答は質問に答えている。"}, // Japanese reasons, the asked-for line                 // wrong language
		{"", 0, 5, true, -1, ""},
		{"Score: 4 because it is good", 0, 5, true, -1, ""}, // trailing text: not the required form
		{"Score: 1e308", 0, 5, false, -1, ""},
	} {
		got, reason, err := ParseScore(tc.reply, tc.lo, tc.hi, tc.integral)
		if tc.want < 0 {
			if err == nil || !errors.Is(err, ErrNoScore) {
				t.Errorf("ParseScore(%q) = %v, %v; want an ErrNoScore", tc.reply, got, err)
			}
			continue
		}
		if err != nil || got != tc.want || reason != tc.reason {
			t.Errorf("ParseScore(%q) = %v, %q, %v; want %v, %q", tc.reply, got, reason, err, tc.want, tc.reason)
		}
	}
}

func TestParseWinner(t *testing.T) {
	for _, tc := range []struct {
		reply string
		want  Winner
	}{
		{"A is better.\nWinner: A", WinnerA},
		{"**Winner:** B", WinnerB},
		{"Winner: Answer B.", WinnerB},
		{"Winner: TIE", WinnerTie},
		{"Winner: A\nActually no.\nWinner: B", WinnerB},
		{"I prefer A.", ""},
		{"勝者：A", ""},
		{"Winner: C", ""},
	} {
		got, _, err := ParseWinner(tc.reply)
		if got != tc.want || (tc.want == "") != (err != nil) {
			t.Errorf("ParseWinner(%q) = %q, %v; want %q", tc.reply, got, err, tc.want)
		}
	}
}

// FuzzParseScore checks that whatever a judge says, a score comes back only
// from a line that states it, within range, and is never NaN or infinite.
func FuzzParseScore(f *testing.F) {
	for _, s := range []string{"Score: 4", "x\n**Score:** 5/5", "Score: 9", "Score：３", "Score: 2.5", "", "Score: -0", "Winner: A"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		s, reason, err := ParseScore(reply, 0, 5, true)
		if err != nil {
			if !errors.Is(err, ErrNoScore) {
				t.Fatalf("error %v does not wrap ErrNoScore", err)
			}
			return
		}
		if math.IsNaN(s) || s < 0 || s > 5 || s != math.Trunc(s) {
			t.Fatalf("ParseScore(%q) = %v: out of range or not whole", reply, s)
		}
		if !strings.Contains(strings.ToLower(fullWidth.Replace(reply)), "score") {
			t.Fatalf("ParseScore(%q) = %v from a reply with no score label", reply, s)
		}
		if utf8.ValidString(reply) && !utf8.ValidString(reason) {
			t.Fatalf("reason %q is not valid UTF-8", reason)
		}
		if _, _, err := ParseWinner(reply); err != nil && !errors.Is(err, ErrNoScore) {
			t.Fatal(err)
		}
	})
}
