package selfinstruct

import (
	"regexp"
	"strconv"
	"strings"
)

// maxItems bounds the candidates taken from one reply, since record Seq
// numbers leave room for 1000 per batch.
const maxItems = 999

var (
	// itemRe finds the start of a numbered item: "10. ", "10) " at a line start.
	itemRe = regexp.MustCompile(`(?m)^[ \t]*(\d{1,4})[ \t]?[.)][ \t]+`)
	// blankRe ends an item: the paper stopped generation at "\n\n"; we cannot,
	// since chat models often open with a preamble and a blank line, so a
	// blank line ends the item instead and whatever follows it is dropped.
	blankRe = regexp.MustCompile(`\n[ \t]*\n`)
)

// parseNumberedList splits a bootstrap reply into instructions. The prompt ends
// with "next." so a completion model continues item next without its number,
// and its first numbered item is a later one; a chat model usually repeats
// the number, or opens with a preamble ("Sure! Here are some more tasks:")
// and a list of its own that restarts at 1. So the text before the first
// numbered item is item next only when no item carries that number and the
// first item's number is above it; otherwise it is a preamble, dropped.
func parseNumberedList(text string, next int) []string {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	locs := itemRe.FindAllStringSubmatchIndex(text, -1)
	var raw []string
	lead := text
	continues := true // the lead continues item next
	for i, l := range locs {
		n, _ := strconv.Atoi(text[l[2]:l[3]])
		if n == next || (i == 0 && n < next) {
			continues = false
		}
	}
	if len(locs) > 0 {
		lead = text[:locs[0][0]]
	}
	if continues {
		raw = append(raw, lead)
	}
	for i, l := range locs {
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		raw = append(raw, text[l[1]:end])
	}
	var out []string
	for _, r := range raw {
		if loc := blankRe.FindStringIndex(r); loc != nil {
			r = r[:loc[0]]
		}
		r = strings.TrimSpace(spaces.ReplaceAllString(r, " "))
		if r != "" && len(out) < maxItems {
			out = append(out, r)
		}
	}
	return out
}

// alpacaItem is one task of an Alpaca-style reply.
type alpacaItem struct {
	Instruction, Input, Output string
	Raw                        string
	Err                        string // why the item could not be parsed; "" when it was
}

var alpacaFieldRe = regexp.MustCompile(`\d+\s*\.\s+(Instruction|Input|Output):`)

// parseAlpaca splits an Alpaca reply on "###" into instruction, input and
// output. As in the original, the prompt's open "next. Instruction:" is put
// back in front, an item is usable only with exactly the three fields in
// order, and <noinput> means an empty input. When the reply was truncated the
// last item is dropped (returned with Err set so it can be recorded).
func parseAlpaca(text string, next int, truncated bool) []alpacaItem {
	text = strconv.Itoa(next) + ". Instruction:" + strings.ReplaceAll(text, "\r\n", "\n")
	chunks := strings.Split(text, "###")
	var out []alpacaItem
	for i, c := range chunks {
		if len(out) >= maxItems {
			break
		}
		if strings.TrimSpace(c) == "" {
			continue
		}
		it := alpacaItem{Raw: strings.TrimSpace(c)}
		if i == len(chunks)-1 && truncated {
			it.Err = "truncated: the reply hit max_tokens inside this item"
			out = append(out, it)
			continue
		}
		locs := alpacaFieldRe.FindAllStringSubmatchIndex(c, -1)
		if len(locs) != 3 || c[locs[0][2]:locs[0][3]] != "Instruction" || c[locs[1][2]:locs[1][3]] != "Input" || c[locs[2][2]:locs[2][3]] != "Output" {
			it.Err = "malformed: want the fields Instruction, Input and Output in order"
			out = append(out, it)
			continue
		}
		it.Instruction = strings.TrimSpace(c[locs[0][1]:locs[1][0]])
		it.Input = strings.TrimSpace(c[locs[1][1]:locs[2][0]])
		if strings.EqualFold(it.Input, "<noinput>") {
			it.Input = ""
		}
		it.Output = strings.TrimSpace(c[locs[2][1]:])
		out = append(out, it)
	}
	return out
}

// instance is one generated input/output pair.
type instance struct{ Input, Output string }

var (
	exampleRe    = regexp.MustCompile(`(?m)^[ \t]*Example[ \t]*\d*[ \t]*[.:]?[ \t]*$`)
	outputRe     = regexp.MustCompile(`(?m)^[ \t]*Output[ \t]*\d*[ \t]*:`)
	inputRe      = regexp.MustCompile(`(?m)^[ \t]*Input[ \t]*\d*[ \t]*:`)
	inputStartRe = regexp.MustCompile(`^Input[ \t]*\d*[ \t]*:`)
)

// parseGenInstances parses an input-first reply: "Example N" blocks with
// "Input:" and "Output:", or a single "Output:" for tasks without input.
func parseGenInstances(text string) []instance {
	text = strings.TrimSpace(strings.ReplaceAll(text, "\r\n", "\n"))
	var out []instance
	switch {
	case exampleRe.MatchString(text):
		for _, c := range exampleRe.Split(text, -1) {
			if c = strings.TrimSpace(c); c != "" && len(out) < maxItems {
				out = append(out, parseInputOutput(c))
			}
		}
	case outputRe.MatchString(text):
		out = append(out, parseInputOutput(text))
	}
	return out
}

// parseInputOutput splits one example at its first "Output:"; a second
// "Input:" after it means the model ran on into another example, which is cut.
func parseInputOutput(c string) instance {
	var in, out string
	if parts := outputRe.Split(c, 3); len(parts) > 1 {
		in, out = parts[0], parts[1]
	} else {
		out = c
	}
	if loc := inputRe.FindStringIndex(out); loc != nil {
		out = out[:loc[0]]
	}
	in = inputStartRe.ReplaceAllString(strings.TrimSpace(in), "")
	return instance{Input: strings.TrimSpace(in), Output: strings.TrimSpace(out)}
}

// parseClassInstances parses an output-first reply: each "Class label:" line
// is followed by the input that belongs to it.
func parseClassInstances(text string) []instance {
	text = strings.ReplaceAll(text, "\r\n", "\n")
	parts := strings.Split(text, "Class label:")
	var out []instance
	for _, p := range parts[1:] {
		if len(out) >= maxItems {
			break
		}
		label, in, _ := strings.Cut(strings.TrimSpace(p), "\n")
		in = inputStartRe.ReplaceAllString(strings.TrimSpace(in), "")
		out = append(out, instance{Input: strings.TrimSpace(in), Output: strings.TrimSpace(label)})
	}
	return out
}

// parseYesNo reads the classification answer. ok is false when the reply is
// neither; the paper counts that as No.
func parseYesNo(text string) (yes, ok bool) {
	s := strings.ToLower(strings.TrimSpace(text))
	s = strings.TrimLeft(s, " \t\"'*")
	switch {
	case strings.HasPrefix(s, "yes"), strings.HasPrefix(s, "はい"):
		return true, true
	case strings.HasPrefix(s, "no"), strings.HasPrefix(s, "いいえ"):
		return false, true
	}
	return false, false
}
