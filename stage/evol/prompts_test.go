package evol

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/golden"
)

func TestGoldenPrompts(t *testing.T) {
	tasks := map[string][2]string{
		"en": {"Write a short poem about autumn.", "Sort these numbers:\n\n5, 3, 9"},
		"ja": {"秋についての短い詩を書いてください。", "次の数を並べ替えてください。\n\n5, 3, 9"},
	}
	for _, lang := range []string{"en", "ja"} {
		ps, err := loadPrompts(nil, lang)
		if err != nil {
			t.Fatal(err)
		}
		for i, op := range Operations {
			task := tasks[lang][i%2] // some with an input after a blank line
			got, p, err := ps.evolve(op, task)
			if err != nil {
				t.Fatal(err)
			}
			golden.Text(t, op+"."+lang, got)
			if !strings.Contains(got, "<<<\n"+task+"\n>>>") {
				t.Errorf("%s.%s: the task is not delimited", op, lang)
			}
			if opOf(got) != op {
				t.Errorf("%s.%s: the scripted teacher reads it as %q", op, lang, opOf(got))
			}
			// No phrase of the prompt may count as a leak when the task holds it.
			if l := leak(defaultLeaks, got, got); l != "" {
				t.Errorf("%s.%s: leak check trips on the prompt itself: %q", op, lang, l)
			}
			b, _ := templateFS.ReadFile(p.Name)
			if sum := sha256.Sum256(b); p.Hash != hex.EncodeToString(sum[:]) {
				t.Errorf("%s: hash is not the file's sha256", p.Name)
			}
		}
		got, err := ps.equal.Render(equalData{Before: tasks[lang][0], After: tasks[lang][0] + " (in four lines)"})
		if err != nil {
			t.Fatal(err)
		}
		golden.Text(t, "equal."+lang, got)
	}
	if _, err := loadPrompts(nil, "fr"); err == nil {
		t.Error("loadPrompts(nil, fr) succeeded")
	}
}

func TestLeak(t *testing.T) {
	for _, tc := range []struct {
		parent, evolved, want string
	}{
		{"Write a poem.", "Write a poem about the sea.", ""},
		{"Write a poem.", "#Rewritten Prompt#: Write a poem about the sea.", "#rewritten prompt#"},
		{"Write a poem.", "**New task:** Write a poem about the sea.", "new task:"},
		{"Write a poem.", "Task: Write a poem about the sea.", "task:"},
		{"Write a poem.", "Complete this task: write a poem.", ""}, // "task:" only counts as a label
		{"Write a poem.", "Here is the rewritten task: write a sonnet.", "rewritten task"},
		{"Write a poem.", "Building on the given prompt, write a sonnet.", "given prompt"},
		{"Explain >>> in Python.", "Explain >>> and ... in the Python REPL.", ""}, // the parent had it
		{"詩を書いてください。", "新しいタスク：海の詩を書いてください。", "新しいタスク:"},
		{"詩を書いてください。", "元のタスクに加えて、海の詩にしてください。", "元のタスク"},
		{"詩を書いてください。", "海についての詩を五行で書いてください。", ""},
	} {
		if got := leak(defaultLeaks, tc.parent, tc.evolved); got != tc.want {
			t.Errorf("leak(%q, %q) = %q, want %q", tc.parent, tc.evolved, got, tc.want)
		}
	}
}

func TestNewWords(t *testing.T) {
	for _, tc := range []struct {
		parent, evolved string
		want            int
	}{
		{"Write a poem.", "Write a poem.", 0},
		{"Write a poem about the sea.", "About the sea, write a poem!", 0},
		{"Write a poem about the sea.", "Write a poem.", 0},
		{"Write a poem.", "Write a poem about the sea.", 3},
		{"Write a poem.", "Write a poem a poem.", 2},
		{"詩を書いて。", "海の詩を書いて。", 2},
	} {
		if got := newWords(tc.parent, tc.evolved); got != tc.want {
			t.Errorf("newWords(%q, %q) = %d, want %d", tc.parent, tc.evolved, got, tc.want)
		}
	}
}

func TestAnswerChecks(t *testing.T) {
	en, ja := refusalMarkers("en"), refusalMarkers("ja")
	for _, tc := range []struct {
		markers []string
		answer  string
		words   int
		want    string
	}{
		{en, "I'm sorry, I can't help with that.", 7, "sorry"},
		{en, "I’m SORRY, but no.", 4, "sorry"},
		{en, "Could you clarify which poem you mean?", 7, "could you clarify"},
		{en, "Sorry to hear about your cat. Here is a long and careful answer ...", 80, ""}, // long: not a refusal
		{en, "The answer is 42.", 4, ""},
		{ja, "申し訳ありませんが、お答えできません。", 9, "申し訳"},
		{ja, "もう少し詳しく教えていただけますか。", 9, "もう少し詳しく"},
		{ja, "この方法では解決できません。代わりに次の手順を試してください。", 15, ""},
		{en, "申し訳ありません。", 3, ""}, // Japanese markers only in Japanese runs
	} {
		if got := refusal(tc.markers, tc.answer, tc.words, 80); got != tc.want {
			t.Errorf("refusal(%q) = %q, want %q", tc.answer, got, tc.want)
		}
	}
	for _, tc := range []struct {
		answer string
		want   int
	}{
		{"... !!! ???", 0},
		{"The, of it and the.", 0},
		{"Yes.", 0},
		{"Paris.", 1},
		{"そうですね。", 0},
		{"東京です。", 2},
		{"The answer is 42.", 2},
	} {
		if got := contentWords(tc.answer); got != tc.want {
			t.Errorf("contentWords(%q) = %d, want %d", tc.answer, got, tc.want)
		}
	}
}

func TestParseVerdict(t *testing.T) {
	for _, tc := range []struct {
		reply  string
		same   bool
		reason string
		err    bool
	}{
		{"Both ask for a poem.\nVerdict: SAME", true, "Both ask for a poem.", false},
		{"The second adds a length.\n**Verdict:** DIFFERENT", false, "The second adds a length.", false},
		{"verdict : same.", true, "", false},
		{"理由です。\nVerdict：DIFFERENT", false, "理由です。", false},
		{"Verdict: SAME\nOn reflection:\nVerdict: DIFFERENT", false, "Verdict: SAME\nOn reflection:", false},
		{"They are equal.", false, "", true},
		{"Verdict: maybe", false, "", true},
		{"", false, "", true},
	} {
		same, reason, err := parseVerdict(tc.reply)
		if (err != nil) != tc.err || same != tc.same || reason != tc.reason {
			t.Errorf("parseVerdict(%q) = %v, %q, %v; want %v, %q, error %v", tc.reply, same, reason, err, tc.same, tc.reason, tc.err)
		}
	}
}

func FuzzParseVerdict(f *testing.F) {
	for _, s := range []string{"Verdict: SAME", "x\n**Verdict:** different", "", "Verdict：Same\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, reply string) {
		same, reason, err := parseVerdict(reply)
		if err != nil && (same || reason != "") {
			t.Fatalf("an error with a verdict: %v %q", same, reason)
		}
		if err == nil && !strings.Contains(strings.ToLower(reply), "verdict") {
			t.Fatalf("a verdict from a reply without one: %q", reply)
		}
	})
}

func TestCleanEvolved(t *testing.T) {
	for in, want := range map[string]string{
		"  Write a poem.  ":            "Write a poem.",
		`"Write a poem."`:              "Write a poem.",
		"「詩を書いてください。」":                 "詩を書いてください。",
		`"Say "hi" twice."`:            `"Say "hi" twice."`,
		"“Write a poem.”":              "Write a poem.",
		"New task: Write a poem.":      "New task: Write a poem.",
		`"`:                            `"`,
		"'Explain the 'and' operator'": "'Explain the 'and' operator'",
	} {
		if got := cleanEvolved(in); got != want {
			t.Errorf("cleanEvolved(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseSeeds(t *testing.T) {
	for _, tc := range []struct {
		in   string
		ids  []string
		errs string
	}{
		{"Explain gravity.\n\n  Name a color.  \n", []string{"line-1", "line-3"}, ""},
		{"\xef\xbb\xbf{\"id\":\"t1\",\"instruction\":\"Sort.\",\"instances\":[{\"input\":\"2 1\",\"output\":\"1 2\"}]}\n", []string{"t1"}, ""},
		{`{"instruction":"A"}` + "\n" + `{"instrucion":"B"}`, nil, "line 2"},
		{`{"id":"x","instruction":"A"}` + "\n" + `{"id":"x","instruction":"B"}`, nil, "duplicate id"},
		{`{"input":"no instruction"}`, nil, "no instruction"},
		{`{"instruction":"A"} {"instruction":"B"}`, nil, "more than one"},
	} {
		recs, err := parseSeeds(strings.NewReader(tc.in))
		if tc.errs != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errs) {
				t.Errorf("parseSeeds(%q) error %v, want %q", tc.in, err, tc.errs)
			}
			continue
		}
		if err != nil {
			t.Errorf("parseSeeds(%q): %v", tc.in, err)
			continue
		}
		var ids []string
		for _, r := range recs {
			ids = append(ids, r.ID)
		}
		if strings.Join(ids, ",") != strings.Join(tc.ids, ",") {
			t.Errorf("parseSeeds(%q) ids %v, want %v", tc.in, ids, tc.ids)
		}
	}
}

func FuzzParseSeeds(f *testing.F) {
	f.Add("Explain gravity.\nName a color.\n")
	f.Add(`{"id":"a","instruction":"x","input":"y","output":"z"}`)
	f.Add(`{"instances":[{"input":"","output":"o"}],"instruction":"i"}` + "\n\n")
	f.Fuzz(func(t *testing.T, in string) {
		recs, err := parseSeeds(strings.NewReader(in))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for i, r := range recs {
			if strings.TrimSpace(r.Instruction) == "" || seen[r.ID] || r.Seq != int64(i+1) {
				t.Fatalf("record %d: %+v", i, r)
			}
			seen[r.ID] = true
		}
	})
}
