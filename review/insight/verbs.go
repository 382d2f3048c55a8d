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
// figure 2): the most common root verbs of the instructions and, for each,
// its most common direct objects. Only Japanese instructions are parsed:
// there is no English part-of-speech tagger or parser among the Go modules
// this project may use, and a guess from word order would not be the
// paper's figure.
type Diversity struct {
	// Parsed counts the Japanese instructions a root verb was found in;
	// NoVerb the Japanese ones without (questions ending in a copula,
	// noun phrases); Skipped the instructions in other languages.
	Parsed  int    `json:"parsed"`
	NoVerb  int    `json:"no_verb"`
	Skipped int    `json:"skipped"`
	Verbs   []Verb `json:"verbs"`
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

// VerbDiversity parses the Japanese instructions among insts.
func VerbDiversity(insts []string) (Diversity, error) {
	d := Diversity{Verbs: []Verb{}}
	verbs := map[string]int{}
	objects := map[string]map[string]int{}
	for _, s := range insts {
		if text.GuessLang(s) != text.Japanese {
			d.Skipped++
			continue
		}
		tk, err := kagomeFull()
		if err != nil {
			return d, fmt.Errorf("verb diversity: %w", err)
		}
		verb, obj, ok := RootVerb(tk.Tokenize(s))
		if !ok {
			d.NoVerb++
			continue
		}
		d.Parsed++
		verbs[verb]++
		if objects[verb] == nil {
			objects[verb] = map[string]int{}
		}
		objects[verb][obj]++
	}
	for _, c := range counts(verbs)[:min(topVerbs, len(verbs))] {
		os := counts(objects[c.Name])
		d.Verbs = append(d.Verbs, Verb{Verb: c.Name, N: c.N, Objects: os[:min(topObjects, len(os))]})
	}
	return d, nil
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
