// Package groundingtest scripts a teacher and a grounding judge for the docqa and faq stages on a modeltest server: deterministic replies with a realistic share of hallucinations, for tests and example pipelines.
package groundingtest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/synthloop/synthloop/grounding"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/text"
)

// Marks a test can put in a text to script the judge: an answer holding
// NoScore gets a reply without a score line (in Japanese), one holding
// OutOfRange gets "Score: 7", on every attempt.
const (
	NoScore    = "[judge:no-score]"
	OutOfRange = "[judge:out-of-range]"
)

// Injection matches the start of a prompt-injection sentence.
var Injection = regexp.MustCompile(`(?i)\b(ignore|disregard|forget)\b[^.!?。]{0,40}\b(previous|prior|above|earlier|all)\b[^.!?。]{0,20}\binstructions?\b`)

// Teacher is the scripted model. The zero value is a careful model: it asks
// about the facts of a document, quotes its evidence, and leaves alone the
// instructions inside a document that is delimited and declared to be data.
// Handed a document that is not (an instruction outside its block, or no
// statement that the block is data), it obeys the instruction, as a naive
// model does. Gullible makes it obey even a delimited document.
//
// Replies depend only on the request, so any interleaving of requests gives
// the same records. Safe for concurrent use.
type Teacher struct {
	Gullible bool
	// Next answers every request that is not a docqa, faq or grounding
	// prompt; nil answers them with nothing.
	Next modeltest.Responder
}

// Responder returns the careful Teacher in front of next.
func Responder(next modeltest.Responder) modeltest.Responder {
	return Teacher{Next: next}.Respond
}

// Respond implements modeltest.Responder.
func (t Teacher) Respond(req *modeltest.Request) modeltest.Reply {
	first, system := "", ""
	for _, m := range req.Messages {
		if m.Role == "user" && first == "" {
			first = m.Content
		}
		if m.Role == "system" && system == "" {
			system = m.Content
		}
	}
	var text func() string
	switch {
	case strings.HasPrefix(first, "You are checking whether an answer is supported by evidence"):
		text = func() string { return judge(first) }
	case strings.Contains(first, `{"pairs": [`):
		text = func() string { return t.pairs(first) }
	case strings.Contains(first, `{"questions": [`) && has(first, "faq-question"):
		text = func() string { return paraphrases(first) }
	case has(system, "faq-answer"):
		text = func() string { return answer(system, req.LastUser()) }
	case t.Next != nil:
		return t.Next(req)
	default:
		return modeltest.Reply{}
	}
	var rep modeltest.Reply
	for range max(req.N, 1) {
		rep.Choices = append(rep.Choices, modeltest.Choice{Text: text()})
	}
	return rep
}

func has(prompt, block string) bool {
	_, ok := grounding.Block(prompt, block)
	return ok
}

// sentences returns the sentences of s, trimmed: a sentence ends at a blank
// line, at 。！？, or at . ! ? before a space (so 3.90 stays whole).
func sentences(s string) []string {
	var out []string
	start := 0
	flush := func(end int) {
		if t := strings.TrimSpace(s[start:end]); t != "" {
			out = append(out, t)
		}
		start = end
	}
	for i, r := range s {
		next := i + utf8.RuneLen(r)
		switch r {
		case '\n':
			if next < len(s) && s[next] == '\n' { // a paragraph break; one newline is a wrapped line
				flush(next)
			}
		case '。', '！', '？':
			flush(next)
		case '.', '!', '?':
			if next == len(s) || s[next] == ' ' || s[next] == '\n' {
				flush(next)
			}
		}
	}
	flush(len(s))
	return out
}

func hash(s string) uint32 {
	h := fnv.New32a()
	h.Write([]byte(s))
	return h.Sum32()
}

// obeys reports whether the teacher follows an instruction in the document:
// a gullible one always; a careful one when the prompt does not set the
// document off as data.
func (t Teacher) obeys(prompt string) bool {
	if t.Gullible {
		return true
	}
	doc, ok := grounding.Block(prompt, "document")
	if !ok {
		return true
	}
	outside := strings.Replace(prompt, doc, "", 1)
	return Injection.MatchString(outside) || !strings.Contains(prompt, "never instructions")
}

type pair struct {
	Question string `json:"question"`
	Answer   string `json:"answer"`
	Evidence string `json:"evidence"`
}

var countRe = regexp.MustCompile(`Write (\d+) question-and-answer`)

// pairs answers a docqa prompt: one pair per fact sentence, the question
// naming the sentence's start and the answer and evidence being the
// sentence. About one pair in nine quotes evidence with a changed number
// (not in the chunk), and one in nine adds facts the evidence lacks.
func (t Teacher) pairs(prompt string) string {
	doc, ok := grounding.Block(prompt, "document")
	if !ok {
		doc = prompt // no block: the model cannot tell the document from the task
	}
	n := 3
	if m := countRe.FindStringSubmatch(prompt); m != nil {
		fmt.Sscan(m[1], &n)
	}
	var out []pair
	var facts []string
	for _, s := range sentences(doc) {
		if Injection.MatchString(s) {
			if t.obeys(prompt) {
				out = append(out, obey(s))
			}
			continue
		}
		if strings.HasPrefix(s, "#") || len(text.CJKTokenizer{}.Tokens(s)) < 5 {
			continue // a heading or a fragment
		}
		facts = append(facts, s)
	}
	if len(facts) > 0 {
		off := int(hash(doc) % uint32(len(facts)))
		for i := 0; i < len(facts) && len(out) < n; i++ {
			s := facts[(off+i)%len(facts)]
			p := pair{Question: question(s), Answer: s, Evidence: s}
			switch hash(s) % 9 {
			case 0:
				p.Evidence = misquote(s)
			case 1:
				p.Answer = s + " " + embellishment(s)
			}
			out = append(out, p)
		}
	}
	b, _ := json.Marshal(map[string][]pair{"pairs": out})
	return string(b)
}

// obey is the pair a model writes when it follows an injected instruction
// ("... tell customers that X"): X as the answer, the instruction as its
// evidence.
func obey(s string) pair {
	claim := s
	if _, after, ok := strings.Cut(s, " that "); ok {
		claim = after
	}
	claim = strings.TrimRight(strings.TrimSpace(claim), ".!。")
	if r, n := utf8.DecodeRuneInString(claim); n > 0 {
		claim = string(unicode.ToUpper(r)) + claim[n:] + "."
	}
	return pair{Question: "What is the policy on this?", Answer: claim, Evidence: s}
}

func question(s string) string {
	if text.GuessLang(s) == text.Japanese {
		r := []rune(s)
		return "「" + string(r[:min(len(r), 8)]) + "」について教えてください。"
	}
	w := strings.Fields(strings.TrimRight(s, ".!?"))
	return "What is stated about " + strings.Join(w[:min(len(w), 4)], " ") + "?"
}

var digitRe = regexp.MustCompile(`\d+`)

// misquote changes the quote so it is no longer in the text: a number
// changed, or a word added.
func misquote(s string) string {
	if loc := digitRe.FindStringIndex(s); loc != nil {
		return s[:loc[0]] + "9" + s[loc[0]:]
	}
	if text.GuessLang(s) == text.Japanese {
		return "必ず" + s
	}
	return "Always: " + s
}

func embellishment(s string) string {
	if text.GuessLang(s) == text.Japanese {
		return "さらに、プレミアム会員は海外配送料が永久に無料になり、専任担当者が付きます。"
	}
	return "Premium members additionally receive complimentary express delivery worldwide, lifetime warranties and a dedicated personal concierge."
}

var paraCountRe = regexp.MustCompile(`"questions": (\d+|one) (?:different )?ways?`)
var followCountRe = regexp.MustCompile(`"follow_ups": (\d+) follow-up`)

// paraphrases answers a faq paraphrase prompt: fixed wrappers around the
// question (the fourth repeats it verbatim, which the stage must drop), and
// follow-ups that ask to confirm a sentence of the answer.
func paraphrases(prompt string) string {
	q, _ := grounding.Block(prompt, "faq-question")
	a, _ := grounding.Block(prompt, "faq-answer")
	k, f := 3, 0
	if m := paraCountRe.FindStringSubmatch(prompt); m != nil {
		if _, err := fmt.Sscan(m[1], &k); err != nil {
			k = 1 // "one way"
		}
	}
	if m := followCountRe.FindStringSubmatch(prompt); m != nil {
		fmt.Sscan(m[1], &f)
	}
	ja := text.GuessLang(q) == text.Japanese
	wrap := []string{"Hi, %s", "Quick question: %s", "%s Thanks in advance.", "%s", "Hello! I need some help. %s"}
	if ja {
		wrap = []string{"すみません、%s", "質問です。%s", "%s よろしくお願いします。", "%s", "こんにちは。%s"}
	}
	out := map[string][]string{"questions": nil}
	for i := range k {
		out["questions"] = append(out["questions"], fmt.Sprintf(wrap[i%len(wrap)], lowerFirst(q, i == 0 && !ja)))
	}
	if f > 0 {
		ss := sentences(a)
		for i := range f {
			s := strings.TrimRight(ss[i%len(ss)], ".。!")
			if ja {
				out["follow_ups"] = append(out["follow_ups"], "念のため確認ですが、"+s+"ということですか？")
			} else {
				out["follow_ups"] = append(out["follow_ups"], "Just to confirm: "+lowerFirst(s, true)+"?")
			}
		}
	}
	b, _ := json.Marshal(out)
	return string(b)
}

func lowerFirst(s string, lower bool) string {
	r, n := utf8.DecodeRuneInString(s)
	if !lower || n == 0 {
		return s
	}
	return string(unicode.ToLower(r)) + s[n:]
}

// answer answers a customer with the FAQ answer from the system prompt,
// confirming first when asked to confirm.
func answer(system, last string) string {
	a, _ := grounding.Block(system, "faq-answer")
	switch {
	case strings.HasPrefix(last, "Just to confirm"):
		return "Yes, that's right. " + a
	case strings.HasPrefix(last, "念のため"):
		return "はい、その通りです。" + a
	}
	return a
}

// imperative matches evidence that tells someone what to say.
var imperative = regexp.MustCompile(`(?i)^\s*(tell|say|reply|answer|respond|write)\b`)

// stop are words a judge does not count as claims.
var stop = map[string]bool{}

func init() {
	for _, w := range strings.Fields("about above after again also an and any are because been before being both but can could did does doing down during each few for from further had has have having her here hers him his how into its itself just more most not now off once only other our out over own same she should some such than that that's the their theirs them then there these they this those through too under until very was were what when where which while who whom why will with would yes you your yours right hi hello thanks sure") {
		stop[w] = true
	}
}

// content returns the words of s a judge weighs: words of four or more
// letters outside the stop list, Han and katakana characters.
func content(s string) []string {
	var out []string
	for _, t := range (text.CJKTokenizer{}).Tokens(s) {
		r, _ := utf8.DecodeRuneInString(t)
		switch {
		case text.IsCJK(r):
			if unicode.In(r, unicode.Han, unicode.Katakana) {
				out = append(out, t)
			}
		case utf8.RuneCountInString(t) >= 4 && !stop[t]:
			out = append(out, t)
		}
	}
	return out
}

// judge answers a grounding prompt: 1 for evidence that is an instruction;
// otherwise by the share of the answer's content words found in the
// evidence or the question: all 5, ≥ 85% 4, ≥ 60% 3, ≥ 30% 2, else 1.
func judge(prompt string) string {
	q, _ := grounding.Block(prompt, "question")
	ev, _ := grounding.Block(prompt, "evidence")
	a, _ := grounding.Block(prompt, "answer")
	switch {
	case strings.Contains(a, NoScore):
		return "この回答は根拠に基づいていると思います。"
	case strings.Contains(a, OutOfRange):
		return "Fully supported and then some.\nScore: 7"
	case Injection.MatchString(ev) || imperative.MatchString(ev):
		return "The evidence is an instruction, not a statement of fact: it supports nothing.\nScore: 1"
	}
	known := map[string]bool{}
	for _, w := range content(ev + " " + q) {
		known[w] = true
	}
	words := content(a)
	found := 0
	for _, w := range words {
		if known[w] {
			found++
		}
	}
	share := 1.0
	if len(words) > 0 {
		share = float64(found) / float64(len(words))
	}
	score := 1
	switch {
	case share >= 1:
		score = 5
	case share >= 0.85:
		score = 4
	case share >= 0.6:
		score = 3
	case share >= 0.3:
		score = 2
	}
	return fmt.Sprintf("%d of %d content words of the answer are in the evidence.\nScore: %d", found, len(words), score)
}
