package scripted

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/synthloop/synthloop/model"
)

// Shares of faulty output, near what the Self-Instruct paper reports for GPT-3.
const (
	truncateRate = 0.06 // replies cut as if by max_tokens
	nearSeedRate = 0.10 // near-copies of a task in the prompt
	nearSelfRate = 0.05 // near-copies of an earlier task in the same reply
	faultyRate   = 0.14 // tasks one of the static filters rejects
)

func promptTasks(prompt string, re func(string) [][]string) []string {
	var out []string
	for _, m := range re(prompt) {
		out = append(out, strings.TrimSpace(m[1]))
	}
	return out
}

// newTask draws one task: fresh most of the time, sometimes faulty or a
// near-copy of a shown task or of one written earlier in the reply.
func newTask(r *rand.Rand, ja, clf bool, shown, written []string) string {
	x := r.Float64()
	switch {
	case x < nearSeedRate && len(shown) > 0:
		if ja {
			return jaNearCopy(r, pick(r, shown))
		}
		return enNearCopy(r, pick(r, shown))
	case x < nearSeedRate+nearSelfRate && len(written) > 0:
		if ja {
			return jaNearCopy(r, pick(r, written))
		}
		return enNearCopy(r, pick(r, written))
	case x < nearSeedRate+nearSelfRate+faultyRate:
		if ja {
			return jaFaulty(r)
		}
		return enFaulty(r)
	}
	if ja {
		return jaFresh(r, clf)
	}
	return enFresh(r, clf)
}

func bootstrapReply(r *rand.Rand, req model.Request, prompt string, ja bool) (string, string) {
	shown := promptTasks(prompt, func(s string) [][]string { return listItemRe.FindAllStringSubmatch(s, -1) })
	p := strings.TrimRight(prompt, " \n")
	next := 1
	if m := lastNumberRe.FindStringSubmatch(strings.TrimSpace(p[strings.LastIndex(p, "\n")+1:])); m != nil {
		next, _ = strconv.Atoi(m[1])
	}
	stop := stopItem(req, 16)
	head, _, _ := strings.Cut(prompt, "\n")
	clf := strings.Contains(head, "classification tasks") || strings.Contains(head, "分類タスク")
	var b strings.Builder
	var written []string
	numbered := r.IntN(2) == 0 // chat models repeat the number; completion models continue after it
	for n := next; n < stop; n++ {
		t := newTask(r, ja, clf, shown, written)
		written = append(written, t)
		switch {
		case n == next && !numbered:
			b.WriteString(" " + t)
		case n == next:
			fmt.Fprintf(&b, "%d. %s", n, t)
		default:
			fmt.Fprintf(&b, "\n%d. %s", n, t)
		}
	}
	return maybeTruncate(r, b.String())
}

// maybeTruncate cuts a reply in the middle, as max_tokens would.
func maybeTruncate(r *rand.Rand, s string) (string, string) {
	if r.Float64() >= truncateRate {
		return s, model.FinishStop
	}
	rs := []rune(s)
	return string(rs[:len(rs)*(5+r.IntN(4))/10]), model.FinishLength
}

func alpacaReply(r *rand.Rand, req model.Request, prompt string, ja bool) (string, string) {
	shown := promptTasks(prompt, func(s string) [][]string { return alpacaInstrRe.FindAllStringSubmatch(s, -1) })
	next := 1
	if m := alpacaOpenRe.FindStringSubmatch(prompt); m != nil {
		next, _ = strconv.Atoi(m[1])
	}
	stop := stopItem(req, 20)
	var b strings.Builder
	var written []string
	for n := next; n < stop; n++ {
		t := newTask(r, ja, false, shown, written)
		written = append(written, t)
		in, out := genInstance(r, t, ja, n)
		if in == "" {
			in = "<noinput>"
		}
		if n == next {
			fmt.Fprintf(&b, " %s\n", t)
		} else {
			fmt.Fprintf(&b, "###\n%d. Instruction: %s\n", n, t)
		}
		fmt.Fprintf(&b, "%d. Input:\n%s\n%d. Output:\n%s\n", n, in, n, out)
	}
	return maybeTruncate(r, b.String())
}

var clfCues = []string{"classify", "decide whether", "true or false", "is it", "which of", "label", "identify whether", "categorize", "sentiment", " or not", "分類", "判定", "かどうか", "どちら", "正しいですか"}

// IsClassificationTask is the scripted classifier's rule: keywords that
// usually mark a task whose answer is one of a few labels.
func IsClassificationTask(task string) bool {
	t := strings.ToLower(task)
	for _, c := range clfCues {
		if strings.Contains(t, c) {
			return true
		}
	}
	return false
}

func classifyReply(prompt string) string {
	p := strings.TrimSuffix(strings.TrimRight(prompt, " \n"), "Classification:")
	if IsClassificationTask(lastTask(p)) {
		return " Yes"
	}
	return " No"
}

var (
	enInputs = []string{
		"The delivery arrived two days late and the box was crushed.", "Our team finished the migration ahead of schedule.",
		"Can someone explain why my invoice shows a different amount?", "I absolutely loved the live music at the cafe last night.",
		"The council will vote on the new bike lanes next Tuesday.", "Reminder: the server maintenance starts at 2 a.m.",
		"Honestly, waiting in line for an hour was the highlight of my day.", "Prices for fresh vegetables rose 12% this spring.",
		"Win a free cruise now!!! Reply with your bank details.", "Thanks for the quick fix, everything works again.",
	}
	jaInputs = []string{
		"荷物が二日遅れで届き、箱もつぶれていました。", "チームは予定より早く移行作業を終えました。", "請求書の金額が違う理由を教えてください。",
		"昨夜のカフェの生演奏は本当に素晴らしかった。", "来週の火曜日に、市議会が自転車レーンについて採決します。", "今すぐ返信すると豪華客船の旅が当たります！",
		"すぐに直していただき、ありがとうございました。", "今年の春は野菜の値段が一割以上上がった。",
	}
)

// labelsFor finds the labels a classification task names, or falls back to
// a generic pair.
func labelsFor(task string, ja bool) []string {
	if ja {
		if i := strings.Index(task, "「"); i >= 0 {
			var ls []string
			for _, part := range strings.Split(task[i:], "「")[1:] {
				if l, _, ok := strings.Cut(part, "」"); ok && l != "" {
					ls = append(ls, l)
				}
			}
			if len(ls) >= 2 {
				return ls
			}
		}
		return []string{"はい", "いいえ"}
	}
	low := strings.ToLower(task)
	for _, sep := range []string{" as ", " is "} {
		if i := strings.LastIndex(low, sep); i >= 0 {
			rest := strings.TrimRight(task[i+len(sep):], ".?! ")
			for _, c := range []string{" using ", " for ", " in ", " with ", ". "} {
				if j := strings.Index(rest, c); j > 0 {
					rest = rest[:j]
				}
			}
			rest = strings.ReplaceAll(rest, ", or ", ", ")
			rest = strings.ReplaceAll(rest, " or ", ", ")
			var ls []string
			for _, l := range strings.Split(rest, ", ") {
				if l = strings.TrimSpace(l); l != "" && len(strings.Fields(l)) <= 3 {
					ls = append(ls, l)
				}
			}
			if len(ls) >= 2 {
				return ls
			}
		}
	}
	if strings.Contains(low, "true or false") {
		return []string{"True", "False"}
	}
	return []string{"Yes", "No"}
}

func classInstancesReply(r *rand.Rand, task string, ja bool) (string, string) {
	labels := labelsFor(task, ja)
	inputs := enInputs
	if ja {
		inputs = jaInputs
	}
	n := 2 + r.IntN(3)
	var b strings.Builder
	start := r.IntN(len(inputs))
	for i := range n {
		label := labels[i%len(labels)]
		in := inputs[(start+i)%len(inputs)]
		switch x := r.Float64(); {
		case x < 0.06 && i > 0: // the same input again with another label
			in = inputs[(start+i-1)%len(inputs)]
		case x < 0.10:
			in += " Details:"
		}
		fmt.Fprintf(&b, "Class label: %s\nInput: %s\n", label, in)
	}
	return maybeTruncate(r, strings.TrimRight(b.String(), "\n"))
}

// needsInput guesses whether a task refers to an input it does not contain.
func needsInput(task string) bool {
	t := strings.ToLower(task)
	for _, c := range []string{"following", "given", "below", "the notes", "this", "次の", "与えられた", "この"} {
		if strings.Contains(t, c) {
			return true
		}
	}
	return false
}

// genInstance writes one input and output for a task.
func genInstance(r *rand.Rand, task string, ja bool, salt int) (string, string) {
	in := ""
	if needsInput(task) {
		if ja {
			in = jaInputs[(salt+r.IntN(len(jaInputs)))%len(jaInputs)]
		} else {
			in = enInputs[(salt+r.IntN(len(enInputs)))%len(enInputs)]
		}
	}
	subject := subjectOf(task, ja)
	if ja {
		outs := []string{
			"%sについて、ポイントは三つあります。まず全体像をつかみ、次に具体例で確かめ、最後に自分の言葉でまとめることです。",
			"結論から言うと、%sでは目的をはっきりさせ、小さく始めて、結果を見ながら続けるのがよいでしょう。",
			"%sの場合、一つ目は準備、二つ目は実行、三つ目は振り返りです。それぞれに十分な時間をとってください。",
			"%sについては、よくある誤解を一つ取り上げ、正しい考え方と身近な例を添えて説明すると伝わりやすくなります。",
		}
		out := fmt.Sprintf(pick(r, outs), subject)
		if in != "" {
			out = fmt.Sprintf("「%s」を踏まえると、", clipRunes(in, 20)) + out
		}
		return in, out
	}
	outs := []string{
		"When it comes to %s, start with the main idea, support it with one concrete example, and finish with a practical takeaway.",
		"In short, for %s: focus on the essentials first, try the idea on a small scale, and adjust based on what you learn.",
		"Three things matter most for %s: the goal, the constraints, and the simplest next step.",
		"A common misconception about %s is that it is complicated; in practice, a few clear principles explain most of it.",
		"Begin with why %s matters to the reader, then give two specific points and close with a one-sentence summary.",
	}
	out := fmt.Sprintf(pick(r, outs), subject)
	if in != "" {
		out = fmt.Sprintf("Based on \"%s\": ", clipWords(in, 8)) + out
	}
	return in, out
}

// subjectOf picks the phrase a task is about: what follows "about", "on" or
// "of" in English, what precedes について in Japanese, or the opening words.
func subjectOf(task string, ja bool) string {
	t := strings.TrimRight(task, ".?!。")
	if ja {
		if before, _, ok := strings.Cut(t, "について"); ok {
			if i := strings.LastIndex(before, "、"); i >= 0 {
				before = before[i+len("、"):]
			}
			return before
		}
		return "このテーマ"
	}
	for _, marker := range []string{" about ", " on ", " of "} {
		if _, after, ok := strings.Cut(t, marker); ok {
			return clipWords(cutAtConnector(after), 5)
		}
	}
	return "this task"
}

// cutAtConnector ends a phrase where a task's next clause begins.
func cutAtConnector(s string) string {
	for _, c := range []string{" into ", " for ", " in ", " to ", " using ", " with ", " as ", " and ", ", "} {
		if i := strings.Index(s, c); i > 0 {
			s = s[:i]
		}
	}
	return s
}

func clipRunes(s string, n int) string {
	rs := []rune(s)
	if len(rs) > n {
		return string(rs[:n]) + "…"
	}
	return s
}

func clipWords(s string, n int) string {
	f := strings.Fields(s)
	if len(f) > n {
		f = f[:n]
	}
	return strings.Join(f, " ")
}

func genInstancesReply(r *rand.Rand, task string, ja bool) (string, string) {
	if !needsInput(task) {
		_, out := genInstance(r, task, ja, 0)
		if r.Float64() < 0.05 {
			out = "Here is the answer:"
		}
		return maybeTruncate(r, "Output: "+out)
	}
	n := 1 + r.IntN(4)
	var b strings.Builder
	for i := range n {
		in, out := genInstance(r, task, ja, i)
		switch x := r.Float64(); {
		case x < 0.05:
			out = in // input equal to output
		case x < 0.08:
			out = ""
		}
		fmt.Fprintf(&b, "Example %d\nInput: %s\nOutput: %s\n", i+1, in, out)
	}
	return maybeTruncate(r, strings.TrimRight(b.String(), "\n"))
}
