package insight

import (
	"fmt"
	"regexp"
	"strings"
	"sync"
	"unicode"

	"github.com/jdkato/prose/v2"
)

// Tagged is a word and its Penn Treebank part-of-speech tag.
type Tagged struct {
	Word, Tag string
}

// englishTagger is prose's averaged-perceptron tagger (trained on the Penn
// Treebank's news text), loaded on the first English instruction: about
// 0.2 s, and its weights stay live for the process. Named-entity
// extraction, which would load a second model, is off.
var englishTagger = sync.OnceValues(func() (m *prose.Model, err error) {
	defer func() {
		if r := recover(); r != nil { // prose panics on an unreadable embedded model
			err = fmt.Errorf("load prose tagger: %v", r)
		}
	}()
	doc, err := prose.NewDocument("Load.", prose.WithExtraction(false), prose.WithSegmentation(false))
	if err != nil {
		return nil, err
	}
	return doc.Model, nil
})

// sentenceStart finds a capitalized word opening the text, a sentence or a
// line. The tagger, trained on news, reads a capitalized imperative opening
// a sentence as a proper noun (Explain/NNP, Describe/NNP, Find/IN):
// lowercased, it tags them as verbs. All-capitals words (USA) and "I" are
// left as they are.
var sentenceStart = regexp.MustCompile(`(^|[.!?:]\s+|\n\s*)([A-Z][a-z]+)\b`)

// TagEnglish splits s into words and tags them, after lowercasing the
// word opening each sentence (see sentenceStart).
func TagEnglish(s string) ([]Tagged, error) {
	m, err := englishTagger()
	if err != nil {
		return nil, err
	}
	s = sentenceStart.ReplaceAllStringFunc(s, strings.ToLower)
	doc, err := prose.NewDocument(s, prose.UsingModel(m), prose.WithExtraction(false), prose.WithSegmentation(false))
	if err != nil {
		return nil, fmt.Errorf("tag: %w", err)
	}
	toks := doc.Tokens()
	out := make([]Tagged, len(toks))
	for i, t := range toks {
		out[i] = Tagged{t.Text, t.Tag}
	}
	return out, nil
}

// EnglishRootVerb finds the root verb of an English instruction and its
// direct noun object, the pair the Self-Instruct paper reads off a
// constituency parse, here from part-of-speech tags alone:
//
//   - The verb is the first imperative: a base-form verb (VB, VBP) opening a
//     sentence or a clause after a comma or colon, past "please", "kindly"
//     and adverbs ("Briefly describe"). A word tagged as a noun there but
//     followed by a determiner, number, possessive or wh-word is taken as
//     the verb too: "List three benefits" tags list/NN.
//   - Without an imperative (a question, a statement), it is the first verb
//     of the first sentence that has one, past modals and the auxiliaries
//     be, do and have when a verb follows them ("How do I sort"). A sentence
//     whose only verb is a form of be ("What is the capital?") has no root
//     verb, as a copula with a noun has no verb-object structure.
//   - The object is the head (last noun) of the first noun phrase right
//     after the verb, past determiners, numbers, adjectives, participles
//     and pronouns ("Tell me a joke"); a preposition, wh-word, another verb
//     or punctuation first means none ("Explain why the sky is blue").
//
// Verbs and objects are lowercased; objects keep their number (tips).
// Measured on testdata/verbs_en.tsv (see TestEnglishRootVerbAccuracy).
func EnglishRootVerb(toks []Tagged) (verb, object string, ok bool) {
	v := imperative(toks)
	if v < 0 {
		v = firstVerb(toks)
	}
	if v < 0 {
		return "", "", false
	}
	return strings.ToLower(toks[v].Word), directObject(toks[v+1:]), true
}

// imperative returns the index of the first verb opening a sentence or
// clause, or -1.
func imperative(toks []Tagged) int {
	start := true
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case t.Tag == "." || t.Tag == "," || t.Tag == ":":
			start = true
			continue
		case !start:
			continue
		case isPolite(t.Word) || t.Tag == "UH" || t.Tag == "RB":
			continue // still at the start: "please", "kindly", "Briefly describe"
		}
		start = false
		if (t.Tag == "VB" || t.Tag == "VBP") && !(isAux(t.Word) && hasVerbAfter(toks[i+1:])) {
			return i // not "Do you know", but "Do your homework"
		}
		misread := t.Tag == "NN" || t.Tag == "NNP" || t.Tag == "IN" && !prepositions[strings.ToLower(t.Word)]
		if misread && i+1 < len(toks) && isWord(t.Word) {
			switch toks[i+1].Tag {
			case "DT", "CD", "PRP$", "WRB", "WP", "WDT", "PDT":
				return i
			}
		}
	}
	return -1
}

// firstVerb returns the index of the first main verb of the first sentence
// that has one, or -1.
func firstVerb(toks []Tagged) int {
	sentence := 0
	for sentence < len(toks) {
		end := sentence
		for end < len(toks) && toks[end].Tag != "." {
			end++
		}
		s := toks[sentence:end]
		for i, t := range s {
			if !isVerb(t.Tag) || t.Tag == "VBG" || t.Tag == "VBN" {
				continue
			}
			if t.Tag == "MD" || isAux(t.Word) && hasVerbAfter(s[i+1:]) || isBe(t.Word) {
				continue
			}
			return sentence + i
		}
		sentence = end + 1
	}
	return -1
}

// hasVerbAfter reports whether a verb follows in the sentence.
func hasVerbAfter(toks []Tagged) bool {
	for _, t := range toks {
		if t.Tag == "." {
			return false
		}
		if isVerb(t.Tag) {
			return true
		}
	}
	return false
}

// directObject is the head noun of the noun phrase opening toks, or "".
func directObject(toks []Tagged) string {
	head, headTag := "", ""
	for _, t := range toks {
		switch {
		case strings.HasPrefix(t.Tag, "NNP") && head != "" && !strings.HasPrefix(headTag, "NNP"):
			return strings.ToLower(head) // a name after a common noun is in apposition: the novel Emma
		case strings.HasPrefix(t.Tag, "NN"):
			head, headTag = t.Word, t.Tag
		case head != "":
			return strings.ToLower(head) // the noun run has ended
		case t.Tag == "DT" || t.Tag == "PDT" || t.Tag == "CD" || t.Tag == "PRP$" || t.Tag == "PRP" || t.Tag == "POS" ||
			strings.HasPrefix(t.Tag, "JJ") || t.Tag == "VBG" || t.Tag == "VBN" || t.Tag == "HYPH" || t.Word == "-":
			continue // within the phrase before its nouns
		default:
			return ""
		}
	}
	return strings.ToLower(head)
}

func isVerb(tag string) bool { return strings.HasPrefix(tag, "VB") || tag == "MD" }

func isBe(w string) bool {
	switch strings.ToLower(w) {
	case "be", "is", "are", "am", "was", "were", "been", "being", "'s", "'re", "'m":
		return true
	}
	return false
}

func isAux(w string) bool {
	switch strings.ToLower(w) {
	case "do", "does", "did", "have", "has", "had":
		return true
	}
	return isBe(w)
}

// prepositions is the closed class of words the tagger tags IN: a word
// tagged IN opening an instruction that is not one of them is a verb it
// misread (outline/IN, predict/IN).
var prepositions = map[string]bool{}

func init() {
	for _, w := range strings.Fields(`about above across after against along although among around as at because before
		behind below beneath beside besides between beyond but by despite down during except for from if in inside into
		like near of off on once onto out outside over past per since so than that though through throughout till to
		toward towards under unless unlike until up upon via whereas whether while with within without`) {
		prepositions[w] = true
	}
}

func isPolite(w string) bool {
	w = strings.ToLower(w)
	return w == "please" || w == "kindly"
}

// isWord reports whether w is made of letters: a tagged noun that is a
// number or a symbol is never an imperative.
func isWord(w string) bool {
	return w != "" && strings.IndexFunc(w, func(r rune) bool { return !unicode.IsLetter(r) }) < 0
}
