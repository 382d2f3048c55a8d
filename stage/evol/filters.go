package evol

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/text"
)

// Filter names, as they appear in Decisions and in the survival report.
const (
	FilterEvolution  = "evolution"   // the evolving reply is empty or was cut off
	FilterLeak       = "leak"        // the evolved instruction copies words of the evolving prompt
	FilterNoNewInfo  = "no_new_info" // lexically nothing added to the parent
	FilterEqual      = "equal"       // the judge finds it asks for nothing new
	FilterTruncated  = "truncated"   // the answer hit max_tokens
	FilterRefusal    = "refusal"     // the answer refuses or asks for clarification
	FilterDegenerate = "degenerate"  // the answer is empty, too short, or only punctuation and stop words
)

// defaultLeaks are the words of our evolving prompts and of the paper's that
// an evolved instruction should never contain. A phrase starting with "^"
// only counts at the start (a label such as "New task:"). A phrase the parent
// instruction already holds does not count.
var defaultLeaks = []string{
	"#rewritten prompt#", "#given prompt#", "#the given prompt#", "#created prompt#",
	"rewritten prompt", "given prompt", "created prompt", "rewritten task", "rewritten version",
	"the task above", "the original task", "<<<", ">>>",
	"^task:", "^new task:", "^prompt:", "^rewritten:", "^instruction:",
	"書き換えたタスク", "書き換え後のタスク", "上のタスク", "元のタスク",
	"^タスク:", "^新しいタスク:",
}

// refusalEN are markers of an answer that declines or asks for clarification.
// The paper's rule is "sorry" in an answer of fewer than 80 words.
var refusalEN = []string{
	"sorry", "i apologize", "i apologise", "i cannot", "i can't", "i can not", "i am unable", "i'm unable",
	"i am not able", "i'm not able", "as an ai", "could you clarify", "could you please clarify", "can you clarify",
	"please clarify", "could you provide more", "could you please provide", "can you provide more",
	"please provide more", "i need more information", "i need more context", "more details about",
}

// refusalJA are the same in Japanese. Plain できません is left out: answers
// use it all the time ("この方法では解決できません").
var refusalJA = []string{
	"申し訳", "すみません", "ごめんなさい", "お答えできません", "回答できません", "お手伝いできません",
	"いたしかねます", "わかりかねます", "分かりかねます", "もう少し詳しく", "詳しく教えて", "具体的に教えて",
	"明確にしていただけ", "教えていただけますか", "教えていただけませんか",
}

func refusalMarkers(lang text.Lang) []string {
	out := append([]string(nil), refusalEN...)
	if lang == text.Japanese {
		out = append(out, refusalJA...)
	}
	return out
}

// stopEN are English function words: an answer made only of these (and
// punctuation) says nothing.
var stopEN = setOf(`a about above after again against all am an and any are as at be because been before being
below between both but by can could did do does doing down during each few for from further had has have having
he her here hers herself him himself his how i if in into is it its itself just me more most my myself no nor not
now of off on once only or other our ours ourselves out over own same she should so some such than that the their
theirs them themselves then there these they this those through to too under until up very was we were what when
where which while who whom why will with would you your yours yourself yourselves yes ok okay oh um uh hmm etc`)

func setOf(words string) map[string]bool {
	m := map[string]bool{}
	for _, w := range strings.Fields(words) {
		m[w] = true
	}
	return m
}

// fold normalises text for phrase matching: lowercase, full-width colon and
// curly apostrophes as ASCII, markdown emphasis removed.
var folder = strings.NewReplacer("：", ":", "’", "'", "‘", "'", "*", "", "`", "")

func fold(s string) string { return strings.ToLower(folder.Replace(s)) }

// leak returns the first leak phrase that evolved holds and parent does not.
func leak(phrases []string, parent, evolved string) string {
	p, e := fold(parent), fold(strings.TrimSpace(evolved))
	for _, ph := range phrases {
		anchored := strings.HasPrefix(ph, "^")
		w := fold(strings.TrimPrefix(ph, "^"))
		if w == "" || strings.Contains(p, w) {
			continue
		}
		if (anchored && strings.HasPrefix(e, w)) || (!anchored && strings.Contains(e, w)) {
			return strings.TrimPrefix(ph, "^")
		}
	}
	return ""
}

var tokenizer text.CJKTokenizer

// newWords counts the tokens of evolved beyond those of parent, as
// multisets: a reordering or a subset adds nothing. CJK text counts by
// character.
func newWords(parent, evolved string) int {
	have := map[string]int{}
	for _, t := range tokenizer.Tokens(parent) {
		have[t]++
	}
	n := 0
	for _, t := range tokenizer.Tokens(evolved) {
		if have[t] > 0 {
			have[t]--
			continue
		}
		n++
	}
	return n
}

// refusal returns the marker that makes answer a refusal: the answer holds
// it and is shorter than maxWords words.
func refusal(markers []string, answer string, words, maxWords int) string {
	if words >= maxWords {
		return ""
	}
	a := fold(answer)
	for _, m := range markers {
		if w := fold(m); w != "" && strings.Contains(a, w) {
			return m
		}
	}
	return ""
}

// contentWords counts the tokens of s that carry meaning: neither English
// stop words nor hiragana (Japanese particles, endings and auxiliaries are
// hiragana; a hiragana-only reply to a hard task is as empty as "yes, the").
// Punctuation and symbols are no tokens at all.
func contentWords(s string) int {
	n := 0
	for _, t := range tokenizer.Tokens(s) {
		r, size := utf8.DecodeRuneInString(t)
		switch {
		case size == len(t) && (unicode.In(r, unicode.Hiragana) || r == 'ー'):
		case stopEN[t]:
		default:
			n++
		}
	}
	return n
}

var verdictLine = regexp.MustCompile(`(?i)^(?:final\s+)?verdict\s*[:=]\s*(same|different)\s*\.?$`)

var errNoVerdict = errors.New("no verdict")

// parseVerdict reads the last "Verdict: SAME|DIFFERENT" line of a judge
// reply and the text before it. It never guesses from free text.
func parseVerdict(reply string) (same bool, reason string, err error) {
	lines := strings.Split(reply, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		l := strings.TrimSpace(lines[i])
		l = strings.TrimSpace(strings.TrimLeft(strings.NewReplacer("*", "", "_", "", "`", "", "：", ":").Replace(l), "#> "))
		m := verdictLine.FindStringSubmatch(l)
		if m == nil {
			continue
		}
		return strings.EqualFold(m[1], "same"), strings.TrimSpace(strings.Join(lines[:i], "\n")), nil
	}
	head := []rune(strings.TrimSpace(reply))
	if len(head) > 80 {
		head = head[:80]
	}
	return false, "", fmt.Errorf("%w: no line \"Verdict: SAME\" or \"Verdict: DIFFERENT\" (reply begins %q)", errNoVerdict, string(head))
}

// verdictSchema is the equality judge's reply with the structured setting
// on: the reason first, so the judge argues before it decides.
var verdictSchema = structured.MustCompile(`{"type":"object","properties":{"reason":{"type":"string","maxLength":600},"verdict":{"enum":["SAME","DIFFERENT"]}},"required":["reason","verdict"],"additionalProperties":false}`, "verdict")

type verdictReply struct {
	Reason  string `json:"reason"`
	Verdict string `json:"verdict"`
}

// parseShapedVerdict reads a verdict asked for with verdictSchema; a reply
// that does not validate is errNoVerdict, like a text reply without its line.
func parseShapedVerdict(reply string) (same bool, reason string, err error) {
	v, err := structured.Decode[verdictReply](verdictSchema, reply)
	if err != nil {
		return false, "", fmt.Errorf("%w: %v", errNoVerdict, err)
	}
	return v.Verdict == "SAME", strings.TrimSpace(v.Reason), nil
}

// quotes are the pairs a model may wrap its whole reply in.
var quotes = [][2]string{{`"`, `"`}, {"“", "”"}, {"「", "」"}, {"'", "'"}}

// cleanEvolved trims the evolving reply and unwraps quotes around all of it.
// Labels are not removed: a labelled reply is a leak, as in the paper.
func cleanEvolved(s string) string {
	s = strings.TrimSpace(s)
	for _, q := range quotes {
		if len(s) > len(q[0])+len(q[1]) && strings.HasPrefix(s, q[0]) && strings.HasSuffix(s, q[1]) {
			inner := s[len(q[0]) : len(s)-len(q[1])]
			if !strings.Contains(inner, q[0]) && !strings.Contains(inner, q[1]) {
				return strings.TrimSpace(inner)
			}
		}
	}
	return s
}
