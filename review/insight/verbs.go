package insight

import (
	"fmt"
	"strings"
	"sync"

	"github.com/ikawaha/kagome-dict/ipa"
	"github.com/ikawaha/kagome/v2/tokenizer"

	"github.com/synthloop/synthloop/text"
)

// Diversity is the Self-Instruct paper's instruction diversity chart (its
// figure 2) for the instructions of one language: the most common root
// verbs and, for each, its most common direct objects. English is tagged by
// prose's part-of-speech tagger (EnglishRootVerb), Japanese by kagome's
// morphology (RootVerb); other languages are not parsed.
type Diversity struct {
	Lang string `json:"lang"`
	// Parser names what found the verbs, for the page to say.
	Parser string `json:"parser"`
	// Parsed counts the instructions a root verb was found in; NoVerb those
	// without one (a copula question, a noun phrase).
	Parsed int    `json:"parsed"`
	NoVerb int    `json:"no_verb"`
	Verbs  []Verb `json:"verbs"`
}

// Verb is a root verb, in its dictionary form, and its direct objects ("" for
// none) with their counts.
type Verb struct {
	Verb    string  `json:"verb"`
	N       int     `json:"n"`
	Objects []Count `json:"objects"`
}

// The paper's chart shows the 20 most common verbs and their 4 most common
// objects.
const (
	topVerbs   = 20
	topObjects = 4
)

// MaxDiversity bounds the instructions parsed for the chart: tagging one
// English instruction takes about 0.25 ms of CPU, so 1,000 add 0.25 s to
// every Insight page, and the chart's top 20 verbs and their objects are
// drawn from 1,000 as well as from more.
const MaxDiversity = 1000

// kagomeFull is kagome with the full IPA dictionary: the shrunk one the text
// package loads has no dictionary forms, and without them 書い, 書き and 書く
// would count as three verbs. It is loaded on the first Japanese instruction
// only: about 88 MB live, for the life of the process.
var kagomeFull = sync.OnceValues(func() (t *tokenizer.Tokenizer, err error) {
	defer func() {
		if r := recover(); r != nil { // ipa panics on an unreadable embedded dictionary
			err = fmt.Errorf("load kagome IPA dictionary: %v", r)
		}
	}()
	return tokenizer.New(ipa.Dict(), tokenizer.OmitBosEos())
})

// rootVerb finds the root verb and object of s in language lang.
func rootVerb(lang text.Lang, s string) (verb, object string, ok bool, err error) {
	switch lang {
	case text.Japanese:
		tk, err := kagomeFull()
		if err != nil {
			return "", "", false, err
		}
		verb, object, ok = RootVerb(tk.Tokenize(s))
		return verb, object, ok, nil
	case text.English:
		toks, err := TagEnglish(s)
		if err != nil {
			return "", "", false, err
		}
		verb, object, ok = EnglishRootVerb(toks)
		return verb, object, ok, nil
	}
	return "", "", false, nil
}

// parsers names the parser of each language with a chart, in chart order.
var parsers = []struct {
	lang text.Lang
	name string
}{
	{text.English, "prose part-of-speech tags"},
	{text.Japanese, "kagome IPA morphology"},
}

// VerbDiversity parses the English and Japanese instructions among insts,
// at most MaxDiversity of them spread evenly over insts, and returns a
// chart for each of the two languages that has any, and how many
// instructions in other languages were not parsed.
func VerbDiversity(insts []string) (ds []Diversity, skipped int, err error) {
	if len(insts) > MaxDiversity {
		even := make([]string, MaxDiversity)
		for i := range even {
			even[i] = insts[i*len(insts)/MaxDiversity]
		}
		insts = even
	}
	type tally struct {
		d       Diversity
		verbs   map[string]int
		objects map[string]map[string]int
	}
	by := map[text.Lang]*tally{}
	for _, p := range parsers {
		by[p.lang] = &tally{d: Diversity{Lang: string(p.lang), Parser: p.name, Verbs: []Verb{}}, verbs: map[string]int{}, objects: map[string]map[string]int{}}
	}
	for _, s := range insts {
		lang := text.GuessLang(s)
		t := by[lang]
		if t == nil {
			skipped++
			continue
		}
		verb, obj, ok, err := rootVerb(lang, s)
		if err != nil {
			return nil, 0, fmt.Errorf("verb diversity: %w", err)
		}
		if !ok {
			t.d.NoVerb++
			continue
		}
		t.d.Parsed++
		t.verbs[verb]++
		if t.objects[verb] == nil {
			t.objects[verb] = map[string]int{}
		}
		t.objects[verb][obj]++
	}
	ds = []Diversity{}
	for _, p := range parsers {
		t := by[p.lang]
		if t.d.Parsed+t.d.NoVerb == 0 {
			continue
		}
		for _, c := range counts(t.verbs)[:min(topVerbs, len(t.verbs))] {
			os := counts(t.objects[c.Name])
			t.d.Verbs = append(t.d.Verbs, Verb{Verb: c.Name, N: c.N, Objects: os[:min(topObjects, len(os))]})
		}
		ds = append(ds, t.d)
	}
	return ds, skipped, nil
}

// RootVerb finds the root verb of a Japanese instruction and its direct
// object. Japanese is head-final, so the root of a sentence is its last
// independent verb (動詞 自立; not the auxiliary ください or いる), and
// the request usually comes last: the last sentence with such a verb is
// taken. A サ変 noun before する is the verb (要約する, not する). The
// direct object is the noun, or run of nouns (機械学習), marked by the
// case particle を between the previous verb and the root.
func RootVerb(toks []tokenizer.Token) (verb, object string, ok bool) {
	root := -1
	for i, t := range toks {
		if pos := t.POS(); len(pos) > 1 && pos[0] == "動詞" && pos[1] == "自立" {
			root = i
		}
	}
	if root < 0 {
		return "", "", false
	}
	verb = base(toks[root])
	if root > 0 && verb == "する" && isNoun(toks[root-1], "サ変接続") {
		verb = toks[root-1].Surface + "する"
	}
	for i := root - 1; i > 0; i-- {
		pos := toks[i].POS()
		if len(pos) > 0 && pos[0] == "動詞" || toks[i].Surface == "。" {
			break // another clause
		}
		if toks[i].Surface != "を" || len(pos) < 2 || pos[1] != "格助詞" {
			continue
		}
		j := i
		for j > 0 && isNoun(toks[j-1], "") {
			j--
		}
		var b strings.Builder
		for _, t := range toks[j:i] {
			b.WriteString(t.Surface)
		}
		object = b.String()
		break
	}
	return verb, object, true
}

func base(t tokenizer.Token) string {
	if b, ok := t.BaseForm(); ok && b != "" && b != "*" {
		return b
	}
	return t.Surface
}

// isNoun reports whether t is a noun (of the subclass sub, when not "").
// Suffixes and pronouns count, so 文章/全体 and それ are objects too.
func isNoun(t tokenizer.Token, sub string) bool {
	pos := t.POS()
	return len(pos) > 1 && pos[0] == "名詞" && (sub == "" || pos[1] == sub)
}
