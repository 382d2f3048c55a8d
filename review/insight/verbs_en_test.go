package insight

import (
	"bufio"
	"os"
	"strings"
	"testing"
)

// TestEnglishRootVerbAccuracy measures EnglishRootVerb on hand-labelled
// instructions and fails if it gets worse than it was measured at.
func TestEnglishRootVerbAccuracy(t *testing.T) {
	for _, tc := range []struct {
		file string
		both float64 // the share with verb and object right when last measured
	}{
		{"testdata/verbs_en.tsv", 0.97},         // the set the rules were tuned on
		{"testdata/verbs_en_heldout.tsv", 0.85}, // labelled after, never tuned on
	} {
		t.Run(tc.file, func(t *testing.T) {
			if got := rootVerbAccuracy(t, tc.file); got < tc.both {
				t.Errorf("%s: verb and object right in %.0f%%, down from %.0f%%", tc.file, 100*got, 100*tc.both)
			}
		})
	}
}

// rootVerbAccuracy is the share of the file's instructions whose verb and
// object EnglishRootVerb gets right; it logs the misses.
func rootVerbAccuracy(t *testing.T, file string) float64 {
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var n, verbs, objects, both int
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.Split(line, "\t")
		if len(parts) != 3 {
			t.Fatalf("%s: %q has %d fields, want 3", file, line, len(parts))
		}
		toks, err := TagEnglish(parts[0])
		if err != nil {
			t.Fatal(err)
		}
		verb, obj, _ := EnglishRootVerb(toks)
		n++
		vok, ook := verb == parts[1], obj == parts[2]
		if vok {
			verbs++
		}
		if ook {
			objects++
		}
		if vok && ook {
			both++
		} else {
			t.Logf("miss: %q: got %q %q, labelled %q %q (tags %v)", parts[0], verb, obj, parts[1], parts[2], toks)
		}
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	t.Logf("%d instructions: verb right %d (%.0f%%), object right %d (%.0f%%), both %d (%.0f%%)",
		n, verbs, 100*float64(verbs)/float64(n), objects, 100*float64(objects)/float64(n), both, 100*float64(both)/float64(n))
	return float64(both) / float64(n)
}

func BenchmarkTagEnglish(b *testing.B) {
	if _, err := englishTagger(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := TagEnglish("Compose an email to your manager asking for a day off next Friday."); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEnglishRootVerb(t *testing.T) {
	for _, tc := range []struct {
		in, verb, object string
		ok               bool
	}{
		{"Write a poem about the sea.", "write", "poem", true},
		{"Explain why the sky is blue.", "explain", "", true}, // a clause, no noun object
		{"What is the capital of France?", "", "", false},     // a copula
		{"Given a list of numbers, find the largest one.", "find", "one", true},
		{"Tell me a joke.", "tell", "joke", true},
		{"Generate a catchy slogan for a coffee shop.", "generate", "slogan", true},
		{"How do I sort a list in Python?", "sort", "list", true},
		{"Do your homework.", "do", "homework", true},
		{"", "", "", false},
		{"!!! ???", "", "", false},
	} {
		toks, err := TagEnglish(tc.in)
		if err != nil {
			t.Fatal(err)
		}
		verb, obj, ok := EnglishRootVerb(toks)
		if verb != tc.verb || obj != tc.object || ok != tc.ok {
			t.Errorf("EnglishRootVerb(%q) = %q, %q, %v; want %q, %q, %v (tags %v)", tc.in, verb, obj, ok, tc.verb, tc.object, tc.ok, toks)
		}
	}
}

func FuzzEnglishRootVerb(f *testing.F) {
	for _, s := range []string{"Write a poem about the sea.", "Given x, do y.", "What is it?", "Please, please", ". , :", "", "A\nB", "Do"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		toks, err := TagEnglish(s)
		if err != nil {
			t.Fatal(err)
		}
		verb, obj, ok := EnglishRootVerb(toks)
		if ok != (verb != "") || !ok && obj != "" {
			t.Errorf("EnglishRootVerb(%q) = %q, %q, %v", s, verb, obj, ok)
		}
	})
}
