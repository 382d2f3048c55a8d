package insight

import (
	"reflect"
	"testing"
)

func TestRootVerb(t *testing.T) {
	tk, err := kagomeFull()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		in, verb, object string
		ok               bool
	}{
		{"海について詩を書いてください。", "書く", "詩", true},
		{"次の文章を要約してください。", "要約する", "文章", true},
		{"Pythonで関数を書いて", "書く", "関数", true},
		{"この記事のタイトルを考えてください", "考える", "タイトル", true},
		{"機械学習を説明してみてください。", "説明する", "機械学習", true},    // みる is an auxiliary, nouns join
		{"以下の記事を読みました。感想を書いてください。", "書く", "感想", true}, // the last sentence's verb
		{"東京へ行く方法を教えて。", "教える", "方法", true},
		{"明日は晴れると思いますか？", "思う", "", true}, // no を
		{"日本の首都はどこですか？", "", "", false},   // a copula, no verb
	} {
		verb, obj, ok := RootVerb(tk.Tokenize(tc.in))
		if verb != tc.verb || obj != tc.object || ok != tc.ok {
			t.Errorf("RootVerb(%q) = %q, %q, %v; want %q, %q, %v", tc.in, verb, obj, ok, tc.verb, tc.object, tc.ok)
		}
	}
}

func TestVerbDiversity(t *testing.T) {
	ds, skipped, err := VerbDiversity([]string{
		"詩を書いてください。", "物語を書いてください。", "詩を書いて。", "手紙を書いてください。", "メールを書いて", "歌詞を書いて",
		"文章を要約してください。", "日本の首都はどこですか？", "Write a poem.", "Write a song about rain.", "What is love?",
		"请写一首诗。",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []Diversity{
		{Lang: "en", Parser: "prose part-of-speech tags", Parsed: 2, NoVerb: 1, Verbs: []Verb{
			{Verb: "write", N: 2, Objects: []Count{{"poem", 1}, {"song", 1}}},
		}},
		{Lang: "ja", Parser: "kagome IPA morphology", Parsed: 7, NoVerb: 1, Verbs: []Verb{
			{Verb: "書く", N: 6, Objects: []Count{{"詩", 2}, {"メール", 1}, {"手紙", 1}, {"歌詞", 1}}}, // the top 4 objects
			{Verb: "要約する", N: 1, Objects: []Count{{"文章", 1}}},
		}},
	}
	if !reflect.DeepEqual(ds, want) || skipped != 1 {
		t.Errorf("VerbDiversity = %+v, %d skipped\nwant %+v, 1", ds, skipped, want)
	}
	if ds, _, _ := VerbDiversity([]string{"你好"}); len(ds) != 0 {
		t.Errorf("VerbDiversity of Chinese alone = %+v, want no chart", ds)
	}
}

// TestVerbDiversityBounded: a long list is parsed at MaxDiversity evenly
// spread instructions, not its first ones.
func TestVerbDiversityBounded(t *testing.T) {
	insts := make([]string, 3*MaxDiversity)
	for i := range insts {
		insts[i] = "Write a poem."
		if i >= MaxDiversity {
			insts[i] = "Draw a cat."
		}
	}
	ds, _, err := VerbDiversity(insts)
	if err != nil {
		t.Fatal(err)
	}
	if len(ds) != 1 || ds[0].Parsed != MaxDiversity || len(ds[0].Verbs) != 2 || ds[0].Verbs[0].Verb != "draw" {
		t.Errorf("VerbDiversity of %d = %+v", len(insts), ds)
	}
}

func FuzzRootVerb(f *testing.F) {
	for _, s := range []string{"海について詩を書いてください。", "をを", "を書く", "。を。", "する", "要約する", ""} {
		f.Add(s)
	}
	tk, err := kagomeFull()
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		verb, obj, ok := RootVerb(tk.Tokenize(s))
		if ok != (verb != "") || !ok && obj != "" {
			t.Errorf("RootVerb(%q) = %q, %q, %v", s, verb, obj, ok)
		}
	})
}
