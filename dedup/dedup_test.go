package dedup

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/synthloop/synthloop/text"
)

func TestNormalize(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"  Hello,   World!! ", "hello world"},
		{"Tab\tand\nnewline", "tab and newline"},
		{"ＡＢＣ１２３", "abc123"},
		{"日本語　の　文章。", "日本語 の 文章"},
		{"don't—stop", "dontstop"},
		{"$5 + 3 = 8", "5 3 8"},
		{"Café", "café"},
		{"zero\u200bwidth", "zerowidth"},
	} {
		if got := Normalize(tc.in); got != tc.want {
			t.Errorf("Normalize(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestExact(t *testing.T) {
	e := NewExact()
	for _, tc := range []struct {
		id, text, first string
		dup             bool
	}{
		{"a", "Write a poem about the sea.", "a", false},
		{"b", "write a POEM about the sea", "a", true},
		{"c", "Write a poem about the sky.", "c", false},
		{"d", "  Write a poem,  about the sky ", "c", true},
		{"e", "海について詩を書いて。", "e", false},
		{"f", "海について詩を書いて", "e", true},
	} {
		if first, dup, err := e.Add(tc.id, tc.text); err != nil || first != tc.first || dup != tc.dup {
			t.Errorf("Add(%q, %q) = %q, %v, want %q, %v", tc.id, tc.text, first, dup, tc.first, tc.dup)
		}
	}
	if e.Len() != 3 {
		t.Errorf("Len = %d, want 3", e.Len())
	}
}

func TestShingles(t *testing.T) {
	for _, tc := range []struct {
		in   string
		unit Unit
		k    int
		want int
	}{
		{"", Words, 3, 0},
		{"one two", Words, 3, 1},
		{"one two three four", Words, 3, 2},
		{"a a a a a", Words, 2, 1}, // repeated grams count once
		{"日本語の文章", Words, 3, 4},    // CJK characters are tokens
		{"abcd", Chars, 2, 3},
		{"ab cd", Chars, 5, 1},
	} {
		if got := len(Shingles(tc.in, tc.unit, tc.k)); got != tc.want {
			t.Errorf("len(Shingles(%q, %s, %d)) = %d, want %d", tc.in, tc.unit, tc.k, got, tc.want)
		}
	}
	if a, b := Shingles("Hello, World", Words, 1), Shingles("hello world", Words, 1); fmt.Sprint(a) != fmt.Sprint(b) {
		t.Errorf("shingles differ by case and punctuation: %v vs %v", a, b)
	}
}

func TestBanding(t *testing.T) {
	for _, tc := range []struct {
		t     float64
		perms int
	}{{0.8, 128}, {0.5, 128}, {0.9, 256}, {0.8, 16}} {
		b, r := Banding(tc.t, tc.perms)
		if b*r > tc.perms || b < 1 || r < 1 {
			t.Errorf("Banding(%v, %d) = %d×%d", tc.t, tc.perms, b, r)
		}
		// The S-curve's midpoint (1/b)^(1/r) sits near the threshold.
		if mid := math.Pow(1/float64(b), 1/float64(r)); math.Abs(mid-tc.t) > 0.12 {
			t.Errorf("Banding(%v, %d) = %d×%d, S-curve midpoint %.2f", tc.t, tc.perms, b, r, mid)
		}
	}
}

func TestMinHashOptionsErrors(t *testing.T) {
	for _, o := range []MinHashOptions{
		{Threshold: 1.5}, {Permutations: 1}, {Unit: "byte"}, {ShingleSize: -1}, {Bands: 4}, {Bands: 20, Rows: 10},
	} {
		if _, err := NewMinHash(o); err == nil || !strings.HasPrefix(err.Error(), "dedup: ") {
			t.Errorf("NewMinHash(%+v) error = %v, want a dedup: error", o, err)
		}
	}
}

func TestMinHashNearDuplicates(t *testing.T) {
	m, err := NewMinHash(MinHashOptions{Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	base := "Write a short story about a robot who learns to paint landscapes in the mountains during winter"
	for _, tc := range []struct {
		id, text, dupOf string
	}{
		{"a", base, ""},
		{"b", base + " nights", "a"},
		{"c", "Explain how photosynthesis works in plants to a ten year old child using simple words", ""},
		{"d", "Explain how photosynthesis works in plants to a ten year old child using simple words please", "c"},
		{"e", "List five prime numbers greater than one hundred and explain why each of them is prime", ""},
		{"f", "海辺の町に住む猫が魚屋さんと友達になる短い物語を書いてください", ""},
		{"g", "海辺の町に住む猫が魚屋さんと友達になる短い物語を書いてください。", "f"},
	} {
		sig := m.Signature(tc.text)
		got, dup, err := m.Check(sig)
		if err != nil {
			t.Fatal(err)
		}
		if dup != (tc.dupOf != "") || got.ID != tc.dupOf {
			t.Errorf("%s: Check = %+v, %v, want duplicate of %q", tc.id, got, dup, tc.dupOf)
		}
		if !dup {
			if err := m.Add(tc.id, sig); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// jaccard is the exact similarity of two shingle sets.
func jaccard(a, b []uint64) float64 {
	set := map[uint64]bool{}
	for _, x := range a {
		set[x] = true
	}
	inter := 0
	for _, x := range b {
		if set[x] {
			inter++
		}
	}
	return float64(inter) / float64(len(a)+len(b)-inter)
}

// TestMinHashAccuracy checks the estimate against exact Jaccard on random
// pairs over the whole similarity range: with 256 permutations the standard
// error is at most 0.5/16 ≈ 0.031, so 4.5σ bounds every one of 200 pairs.
func TestMinHashAccuracy(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	h := NewHasher(256, 42)
	var sumErr float64
	const pairs = 200
	for p := 0; p < pairs; p++ {
		n := 20 + rng.IntN(80)
		a := make([]uint64, n)
		for i := range a {
			a[i] = rng.Uint64()
		}
		keep := rng.IntN(n + 1)
		b := append([]uint64(nil), a[:keep]...)
		for i := rng.IntN(40); i >= 0; i-- {
			b = append(b, rng.Uint64())
		}
		exact := jaccard(a, b)
		est := h.Sign(a).Jaccard(h.Sign(b))
		if d := math.Abs(est - exact); d > 0.14 {
			t.Errorf("pair %d: estimate %.3f, exact %.3f", p, est, exact)
		}
		sumErr += math.Abs(est - exact)
	}
	if mean := sumErr / pairs; mean > 0.03 {
		t.Errorf("mean absolute error %.4f, want ≤ 0.03", mean)
	}
}

func TestMinHashDeterministic(t *testing.T) {
	a, b := NewHasher(64, 3), NewHasher(64, 3)
	s := Shingles("the same text gives the same signature", Words, 2)
	if fmt.Sprint(a.Sign(s)) != fmt.Sprint(b.Sign(s)) {
		t.Error("equal seeds gave different signatures")
	}
	if fmt.Sprint(a.Sign(s)) == fmt.Sprint(NewHasher(64, 4).Sign(s)) {
		t.Error("different seeds gave equal signatures")
	}
}

func TestDecontaminate(t *testing.T) {
	d, err := NewDecontaminator(0)
	if err != nil {
		t.Fatal(err)
	}
	jsonl := `{"text": "Which of the following is the capital city of France and has the Eiffel Tower in it?"}

{"text": "too short"}
{"text": "What is the boiling point of water at sea level measured in degrees Celsius on a normal day?"}
`
	if err := d.Load(strings.NewReader(jsonl), "mmlu.jsonl", "", true); err != nil {
		t.Fatal(err)
	}
	plain := "東京は日本の首都であり世界で最も人口の多い都市圏の一つです\n"
	if err := d.Load(strings.NewReader(plain), "ja.txt", "", false); err != nil {
		t.Fatal(err)
	}
	if d.Len() != 3 || d.Short != 1 {
		t.Errorf("Len, Short = %d, %d, want 3, 1", d.Len(), d.Short)
	}
	for _, tc := range []struct{ in, want string }{
		{"Quiz: which of the following is the capital city of France and has the Eiffel Tower in it? Answer.", "[eval item 1 of mmlu.jsonl]"},
		{"What is the boiling point of water at sea level measured in degrees Celsius on a normal day", "[eval item 4 of mmlu.jsonl]"},
		{"Which of the following is the capital city of Spain?", "[]"},
		{"質問：東京は日本の首都であり世界で最も人口の多い都市ですか", "[eval item 1 of ja.txt]"},
		{"大阪は日本の都市です", "[]"},
	} {
		var got []string
		for _, c := range d.Check(tc.in) {
			got = append(got, c.String())
		}
		if s := "[" + strings.Join(got, " ") + "]"; s != tc.want {
			t.Errorf("Check(%q) = %s, want %s", tc.in, s, tc.want)
		}
	}
	if err := d.Load(strings.NewReader(`{"question": "x"}`), "bad.jsonl", "", true); err == nil {
		t.Error("Load of a JSONL line without the text field succeeded")
	}
}

func TestScrub(t *testing.T) {
	for _, tc := range []struct {
		in, want string
		c        PIICounts
	}{
		{"Mail me at john.doe+x@example.co.uk today", "Mail me at [EMAIL] today", PIICounts{Emails: 1}},
		{"Call +1 (555) 123-4567 or 03-1234-5678.", "Call [PHONE] or [PHONE].", PIICounts{Phones: 2}},
		{"Card 4111 1111 1111 1111 expires", "Card [CARD] expires", PIICounts{Cards: 1}},
		{"Card 4111-1111-1111-1112 fails Luhn", "Card 4111-1111-1111-1112 fails Luhn", PIICounts{}},
		{"Order 1234567890123 shipped 2026-11-28", "Order 1234567890123 shipped 2026-11-28", PIICounts{}},
		{"The year 1999 had 365 days.", "The year 1999 had 365 days.", PIICounts{}},
		{"a@b.io, 5555555555554444", "[EMAIL], [CARD]", PIICounts{Emails: 1, Cards: 1}},
	} {
		got, c := Scrub(tc.in)
		if got != tc.want || c != tc.c {
			t.Errorf("Scrub(%q) = %q, %+v, want %q, %+v", tc.in, got, c, tc.want, tc.c)
		}
	}
}

func FuzzNormalizeShingles(f *testing.F) {
	for _, s := range []string{"", "Hello, World!", "日本語　の文章。", "ＡＢＣ", "a\u200b b", "\xff\xfe"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		n := Normalize(s)
		if !utf8.ValidString(n) && utf8.ValidString(s) {
			t.Fatalf("Normalize(%q) = %q, invalid UTF-8", s, n)
		}
		if Normalize(n) != n {
			t.Fatalf("Normalize not idempotent on %q: %q then %q", s, n, Normalize(n))
		}
		if strings.Contains(n, "  ") || strings.TrimSpace(n) != n {
			t.Fatalf("Normalize(%q) = %q, uncollapsed space", s, n)
		}
		if toks := (text.CJKTokenizer{}).Tokens(s); isASCII(s) {
			want := make([]uint64, len(toks))
			for i, tok := range toks {
				want[i] = hashToken(tok)
			}
			if got := wordHashes(s); fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("wordHashes(%q) differs from the tokenizer's %q", s, toks)
			}
		}
		for _, u := range []Unit{Words, Chars} {
			sh := Shingles(s, u, 3)
			if (len(sh) == 0) != (len(Shingles(n, u, 3)) == 0) {
				t.Fatalf("Shingles(%q, %s) and of its normal form disagree on emptiness", s, u)
			}
			seen := map[uint64]bool{}
			for _, x := range sh {
				if seen[x] {
					t.Fatalf("Shingles(%q, %s) repeats %x", s, u, x)
				}
				seen[x] = true
			}
		}
	})
}

func TestWordHashesASCII(t *testing.T) {
	for _, s := range []string{"", "Hello, World!", "  a1 B2--c3 ", "don't stop", "x", "tab\tsep\n9"} {
		toks := text.CJKTokenizer{}.Tokens(s)
		want := make([]uint64, len(toks))
		for i, tok := range toks {
			want[i] = hashToken(tok)
		}
		if got := wordHashes(s); fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("wordHashes(%q) = %v, want the hashes of %q", s, got, toks)
		}
	}
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
