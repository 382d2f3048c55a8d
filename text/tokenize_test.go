package text

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
)

// The want columns were checked against rouge_score's tokenize (lowercase,
// [^a-z0-9]+ to a space, split, keep ^[a-z0-9]+$) run under Python 3.
func TestRougeTokenizer(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello, World!", []string{"hello", "world"}},
		{"Write a 500-word essay on COVID-19.", []string{"write", "a", "500", "word", "essay", "on", "covid", "19"}},
		{"don't stop", []string{"don", "t", "stop"}},
		{"snake_case and camelCase", []string{"snake", "case", "and", "camelcase"}},
		{"e-mail: a.b@c.com", []string{"e", "mail", "a", "b", "c", "com"}},
		{"Python3.11", []string{"python3", "11"}},
		{"1,000.50 dollars", []string{"1", "000", "50", "dollars"}},
		{"  tabs\tand\nnewlines  ", []string{"tabs", "and", "newlines"}},
		{"x\u00a0y\u3000z", []string{"x", "y", "z"}},
		// Non-ASCII letters vanish, splitting words, as in rouge_score.
		{"café naïve", []string{"caf", "na", "ve"}},
		{"ÀB", []string{"b"}},
		{"Ｆｕｌｌ width", []string{"width"}},
		{"日本語の文章を要約してください", nil},
		// Python lowercases these two to ASCII: KELVIN SIGN to k, and İ to
		// i + U+0307, whose combining dot then splits the word.
		{"5\u212A", []string{"5k"}},
		{"İstanbul", []string{"i", "stanbul"}},
		{"bad \xff utf8", []string{"bad", "utf8"}},
	}
	for _, tt := range tests {
		if got := (RougeTokenizer{}).Tokens(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("RougeTokenizer.Tokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestCJKTokenizer(t *testing.T) {
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"Hello, World!", []string{"hello", "world"}},
		{"日本語のテスト、ＯＫ！", []string{"日", "本", "語", "の", "テ", "ス", "ト", "ok"}},
		{"Pythonで関数を書いて", []string{"python", "で", "関", "数", "を", "書", "い", "て"}},
		{"コーヒーを２杯", []string{"コ", "ー", "ヒ", "ー", "を", "2", "杯"}},
		{"人々は3D映画を見た", []string{"人", "々", "は", "3d", "映", "画", "を", "見", "た"}},
		{"请总结这篇文章。", []string{"请", "总", "结", "这", "篇", "文", "章"}},
		{"한국어 문장", []string{"한", "국", "어", "문", "장"}},
		// Other scripts stay whole words, lowercased.
		{"Café naïve ÀB", []string{"café", "naïve", "àb"}},
		{"Привет мир", []string{"привет", "мир"}},
		// A decomposed accent (e + U+0301) stays inside its word.
		{"cafe\u0301 ok", []string{"cafe\u0301", "ok"}},
		{"・「」…", nil},
	}
	for _, tt := range tests {
		if got := (CJKTokenizer{}).Tokens(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("CJKTokenizer.Tokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// On ASCII text the CJK tokenizer must agree with rouge_score's, so that
// English instructions score the same whichever a run is configured with.
func TestCJKMatchesRougeOnASCII(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	const alphabet = "abcXYZ019 .,-_'\t\n!?"
	for range 5000 {
		b := make([]byte, rng.IntN(40))
		for i := range b {
			b[i] = alphabet[rng.IntN(len(alphabet))]
		}
		s := string(b)
		if r, c := (RougeTokenizer{}).Tokens(s), (CJKTokenizer{}).Tokens(s); !slices.Equal(r, c) {
			t.Fatalf("Tokens(%q): rouge %q, cjk %q", s, r, c)
		}
	}
}

func TestJapaneseTokenizer(t *testing.T) {
	jt, err := NewJapaneseTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"日本語の文章を要約してください。", []string{"日本語", "の", "文章", "を", "要約", "し", "て", "ください"}},
		{"次の文を英語に翻訳しなさい", []string{"次", "の", "文", "を", "英語", "に", "翻訳", "し", "なさい"}},
		// ASCII words go through the CJK rules: lowercased, punctuation gone.
		{"Pythonで関数を書いてください", []string{"python", "で", "関数", "を", "書い", "て", "ください"}},
		{"「東京都」に住んでいます！", []string{"東京", "都", "に", "住ん", "で", "い", "ます"}},
		{"ＧＰＴ－４について説明して", []string{"gpt", "4", "について", "説明", "し", "て"}},
	}
	for _, tt := range tests {
		if got := jt.Tokens(tt.in); !slices.Equal(got, tt.want) {
			t.Errorf("JapaneseTokenizer.Tokens(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if jt2, _ := NewJapaneseTokenizer(); jt2 != jt {
		t.Error("NewJapaneseTokenizer loaded the dictionary twice")
	}
}

func TestWordCount(t *testing.T) {
	tests := []struct {
		in   string
		lang Lang
		want int
	}{
		{"", English, 0},
		{"Write a poem.", English, 3},
		// Python's len(s.split()): punctuation-only fields count, and
		// U+001C..U+001F separate words as they do in Python.
		{"Hello , world !", English, 4},
		{"a\x1cb\u3000c\u00a0d", English, 4},
		{"日本語の文章を要約してください。", Japanese, 8},
		{"Pythonで関数を書いてください", Japanese, 7},
		{"请总结这篇文章。", Chinese, 7},
		{"한국어 문장을 요약하세요", Korean, 3},
		// "" guesses the language per text.
		{"日本語の文章を要約してください。", "", 8},
		{"Write a poem about the sea", "", 6},
	}
	for _, tt := range tests {
		if got := WordCount(tt.in, tt.lang); got != tt.want {
			t.Errorf("WordCount(%q, %q) = %d, want %d", tt.in, tt.lang, got, tt.want)
		}
	}
}

func TestGuessLang(t *testing.T) {
	tests := []struct {
		in   string
		want Lang
	}{
		{"", English},
		{"Write a poem about the sea.", English},
		{"Translate 'こんにちは' into French.", English},
		{"日本語の文章を要約してください。", Japanese},
		{"Pythonで関数を書いてください", Japanese},
		{"カタカナのみ", Japanese},
		{"请总结这篇文章。", Chinese},
		{"한국어 문장을 요약하세요", Korean},
		{"Écris un poème sur la mer.", English},
	}
	for _, tt := range tests {
		if got := GuessLang(tt.in); got != tt.want {
			t.Errorf("GuessLang(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := CJKShare("ab日本"); got != 0.5 {
		t.Errorf("CJKShare(%q) = %v, want 0.5", "ab日本", got)
	}
}

func TestParseLang(t *testing.T) {
	tests := []struct {
		in      string
		want    Lang
		wantErr bool
	}{
		{"", "", false},
		{"auto", "", false},
		{"ja", Japanese, false},
		{"ja-JP", Japanese, false},
		{"zh_TW", Chinese, false},
		{"EN", English, false},
		{"fr", "fr", false},
		{"japanese", "", true},
		{"j1", "", true},
	}
	for _, tt := range tests {
		got, err := ParseLang(tt.in)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ParseLang(%q) = %q, %v; want %q, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err != nil && !strings.HasPrefix(err.Error(), "text: ") {
			t.Errorf("ParseLang(%q) error %q lacks the text: prefix", tt.in, err)
		}
	}
}

func TestNewTokenizer(t *testing.T) {
	for _, name := range []string{TokenizerRouge, TokenizerCJK, TokenizerKagome} {
		tok, err := NewTokenizer(name)
		if err != nil || tok == nil {
			t.Errorf("NewTokenizer(%q) = %v, %v", name, tok, err)
		}
	}
	if _, err := NewTokenizer("mecab"); err == nil || !strings.Contains(err.Error(), `"mecab"`) {
		t.Errorf("NewTokenizer(%q) error = %v, want one naming it", "mecab", err)
	}
	for lang, want := range map[Lang]Tokenizer{English: RougeTokenizer{}, "fr": CJKTokenizer{}, "ru": CJKTokenizer{}, Chinese: CJKTokenizer{}, Korean: CJKTokenizer{}} {
		if got, err := TokenizerFor(lang); err != nil || got != want {
			t.Errorf("TokenizerFor(%q) = %T, %v; want %T", lang, got, err, want)
		}
	}
	if got, err := TokenizerFor(Japanese); err != nil {
		t.Errorf("TokenizerFor(ja) error %v", err)
	} else if _, ok := got.(*JapaneseTokenizer); !ok {
		t.Errorf("TokenizerFor(ja) = %T, want *JapaneseTokenizer", got)
	}
	if _, err := TokenizerFor(""); err == nil {
		t.Error("TokenizerFor(\"\") = nil error, want one")
	}
}

func ExampleWordCount() {
	fmt.Println(WordCount("Write a haiku about autumn leaves.", English))
	fmt.Println(WordCount("秋の落ち葉について俳句を書いてください。", Japanese))
	fmt.Println(GuessLang("秋の落ち葉について俳句を書いてください。"))
	// Output:
	// 6
	// 9
	// ja
}

func ExampleCJKTokenizer() {
	fmt.Printf("%q\n", CJKTokenizer{}.Tokens("Pythonで素数を判定して"))
	fmt.Printf("%q\n", RougeTokenizer{}.Tokens("Pythonで素数を判定して"))
	// Output:
	// ["python" "で" "素" "数" "を" "判" "定" "し" "て"]
	// ["python"]
}
