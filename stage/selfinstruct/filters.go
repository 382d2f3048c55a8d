package selfinstruct

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/text"
)

// Blacklist presets. The paper's words are about things a text model cannot
// see or make; Alpaca added media types.
var (
	paperBlacklist  = []string{"image", "images", "graph", "graphs", "picture", "pictures", "file", "files", "map", "maps", "draw", "plot", "go to"}
	alpacaBlacklist = append(append([]string{}, paperBlacklist...), "video", "audio", "music", "flowchart", "diagram")
	// The Japanese additions say the same things in Japanese; they match as
	// substrings because Japanese has no word boundaries.
	jaBlacklist = []string{"画像", "写真", "イラスト", "グラフ", "ファイル", "地図", "描いて", "描く", "プロット"}
	jaAlpacaAdd = []string{"動画", "音声", "音楽", "フローチャート", "図表"}
)

// blacklistWords resolves a Blacklist for a mode and language.
func blacklistWords(b Blacklist, mode, lang string) ([]string, error) {
	if b.Words != nil {
		return b.Words, nil
	}
	preset := b.Preset
	if preset == "" {
		preset = "paper"
		if mode == ModeAlpaca {
			preset = "alpaca"
		}
	}
	var words []string
	switch preset {
	case "paper":
		words = append(words, paperBlacklist...)
		if lang == "ja" {
			words = append(words, jaBlacklist...)
		}
	case "alpaca":
		words = append(words, alpacaBlacklist...)
		if lang == "ja" {
			words = append(append(words, jaBlacklist...), jaAlpacaAdd...)
		}
	case "none":
	default:
		return nil, fmt.Errorf("selfinstruct: blacklist: unknown preset %q (want paper, alpaca, none or a list of words)", preset)
	}
	return words, nil
}

// instructionFilters holds the static instruction filters, applied in the
// paper's order before the novelty filter.
type instructionFilters struct {
	lang               text.Lang
	minWords, maxWords int
	words              []string // ASCII words, lowercased, matched as whole words
	substrings         []string // non-ASCII words, lowercased, matched as substrings
	prefixes           []string
	punctuation        bool
	nonASCII           bool
}

func newInstructionFilters(lang text.Lang, minWords, maxWords int, words, prefixes []string, punctuation, nonASCII bool) *instructionFilters {
	f := &instructionFilters{lang: lang, minWords: minWords, maxWords: maxWords, prefixes: prefixes, punctuation: punctuation, nonASCII: nonASCII}
	for _, w := range words {
		switch {
		case w == "":
		case isASCII(w):
			f.words = append(f.words, strings.ToLower(w))
		default:
			f.substrings = append(f.substrings, strings.ToLower(w))
		}
	}
	return f
}

// containsWord reports whether w occurs in s between word boundaries, as
// Python's re.search(r"\b(w)\b", s, re.IGNORECASE) does: lower holds s with
// ASCII letters lowercased (same byte offsets), and a boundary is a change
// between a word character (Unicode letter, digit or "_") and anything else.
// A loop over strings.Index is several times faster than a regexp here.
func containsWord(lower, w string) bool {
	for off := 0; off <= len(lower)-len(w); {
		i := strings.Index(lower[off:], w)
		if i < 0 {
			return false
		}
		i += off
		end := i + len(w)
		// The text's ends count as non-word characters.
		before, after := false, false
		if i > 0 {
			r, _ := utf8.DecodeLastRuneInString(lower[:i])
			before = isWordRune(r)
		}
		if end < len(lower) {
			r, _ := utf8.DecodeRuneInString(lower[end:])
			after = isWordRune(r)
		}
		first, _ := utf8.DecodeRuneInString(w)
		last, _ := utf8.DecodeLastRuneInString(w)
		if before != isWordRune(first) && after != isWordRune(last) {
			return true
		}
		off = i + 1
	}
	return false
}

func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// asciiLower lowercases ASCII letters only, keeping byte offsets.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if 'A' <= c && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

// pythonPunct is Python's string.punctuation, the paper's first-character rule.
const pythonPunct = "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~"

// check runs every static filter and returns one decision per filter, so a
// rejected record shows all the reasons, not just the first.
func (f *instructionFilters) check(inst string) []record.Decision {
	ds := make([]record.Decision, 0, 6) // every filter, plus novelty appended by the caller
	n := text.WordCount(inst, f.lang)
	d := record.Decision{Filter: "length", Passed: n >= f.minWords && n <= f.maxWords, Value: float64(n)}
	switch {
	case n < f.minWords:
		d.Reason = fmt.Sprintf("%d words, fewer than %d", n, f.minWords)
	case n > f.maxWords:
		d.Reason = fmt.Sprintf("%d words, more than %d", n, f.maxWords)
	default:
		d.Reason = fmt.Sprintf("%d words", n)
	}
	ds = append(ds, d)

	var hits []string
	add := func(w string) {
		if !slices.Contains(hits, w) {
			hits = append(hits, w)
		}
	}
	if len(f.words) > 0 {
		lower := asciiLower(inst)
		for _, w := range f.words {
			if containsWord(lower, w) {
				add(w)
			}
		}
	}
	if len(f.substrings) > 0 {
		lower := strings.ToLower(inst)
		for _, w := range f.substrings {
			if strings.Contains(lower, w) {
				add(w)
			}
		}
	}
	d = record.Decision{Filter: "blacklist", Passed: len(hits) == 0}
	if len(hits) > 0 {
		d.Reason = "contains " + quoteAll(hits)
	}
	ds = append(ds, d)

	if len(f.prefixes) > 0 {
		d = record.Decision{Filter: "prefix", Passed: true}
		for _, p := range f.prefixes {
			if strings.HasPrefix(inst, p) {
				d.Passed, d.Reason = false, fmt.Sprintf("starts with %q", p)
				break
			}
		}
		ds = append(ds, d)
	}

	first, _ := utf8.DecodeRuneInString(inst)
	if f.punctuation {
		punct := strings.ContainsRune(pythonPunct, first)
		if f.lang != text.English && !punct {
			// Japanese and other scripts have their own punctuation (「」、。).
			punct = unicode.IsPunct(first)
		}
		d = record.Decision{Filter: "punctuation", Passed: !punct}
		if punct {
			d.Reason = fmt.Sprintf("starts with punctuation %q", first)
		}
		ds = append(ds, d)
	}
	if f.nonASCII {
		d = record.Decision{Filter: "ascii", Passed: first < utf8.RuneSelf}
		if !d.Passed {
			d.Reason = fmt.Sprintf("starts with non-ASCII %q", first)
		}
		ds = append(ds, d)
	}
	return ds
}

func quoteAll(ws []string) string {
	q := make([]string, len(ws))
	for i, w := range ws {
		q[i] = fmt.Sprintf("%q", w)
	}
	return strings.Join(q, ", ")
}

func allPassed(ds []record.Decision) bool {
	for _, d := range ds {
		if !d.Passed {
			return false
		}
	}
	return true
}

// normalizeInstruction cleans a parsed instruction as the paper does
// (whitespace collapsed) and, for English, upper-cases the first letter.
// The paper used Python's str.capitalize, which also lower-cases the rest
// ("Explain SQL" became "Explain sql"); we keep the rest as written.
func normalizeInstruction(s string, lang text.Lang) string {
	s = strings.TrimSpace(spaces.ReplaceAllString(s, " "))
	if lang == text.English && s != "" && s[0] >= 'a' && s[0] <= 'z' {
		s = string(s[0]-'a'+'A') + s[1:]
	}
	return s
}

// Instance filters, after prepare_for_finetuning.py in the paper's code.

// instanceVerdict is an instance with the decisions taken on it.
type instanceVerdict struct {
	instance
	decisions []record.Decision
}

func (v *instanceVerdict) reject(filter, reason string) {
	v.decisions = append(v.decisions, record.Decision{Filter: filter, Reason: reason})
}

func (v *instanceVerdict) kept() bool { return allPassed(v.decisions) }

// filterInstances applies the instance filters in the paper's order: the
// truncated last instance, invalid instances (input equal to output, empty
// output, input or output ending with ":"), a shared input with different
// outputs (which rejects every instance of the task), exact duplicates, and
// the cap of maxPer per task (the first ones are kept; the paper sampled).
// The paper's exact dedup ran over all tasks' (prompt, completion) pairs;
// within one task is the same thing, since the novelty filter already keeps
// two tasks from sharing an instruction.
func filterInstances(ins []instance, truncated bool, maxPer int) []*instanceVerdict {
	vs := make([]*instanceVerdict, len(ins))
	for i, in := range ins {
		vs[i] = &instanceVerdict{instance: in}
	}
	if truncated && len(vs) > 0 {
		vs[len(vs)-1].reject("truncated", "the reply hit max_tokens inside this instance")
	}
	for _, v := range vs {
		if !v.kept() {
			continue
		}
		switch {
		case v.Output == "":
			v.reject("empty_output", "the output is empty")
		case v.Input == v.Output:
			v.reject("input_equals_output", "the input and the output are the same")
		case strings.HasSuffix(v.Input, ":") || strings.HasSuffix(v.Output, ":"):
			v.reject("colon", "the input or output ends with \":\", usually an unfinished generation")
		}
	}
	// Same non-empty input with different outputs: the task is ambiguous, so
	// none of its instances can be trusted.
	outs := map[string]string{}
	conflict := ""
	for _, v := range vs {
		if !v.kept() || v.Input == "" {
			continue
		}
		if o, ok := outs[v.Input]; ok && o != v.Output {
			conflict = v.Input
			break
		}
		outs[v.Input] = v.Output
	}
	if conflict != "" {
		for _, v := range vs {
			if v.kept() {
				v.reject("conflicting_outputs", fmt.Sprintf("the input %q appears with different outputs", clip(conflict, 60)))
			}
		}
	}
	seen := map[instance]bool{}
	n := 0
	for _, v := range vs {
		if !v.kept() {
			continue
		}
		switch {
		case seen[v.instance]:
			v.reject("duplicate", "the same input and output appear earlier")
		case n >= maxPer:
			v.reject("max_instances", fmt.Sprintf("more than %d instances for the task", maxPer))
		default:
			seen[v.instance] = true
			n++
		}
	}
	return vs
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
