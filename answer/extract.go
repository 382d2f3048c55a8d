// Package answer finds the final answer in a model's reply (\boxed{}, an "Answer:" line, the last number, a JSON field) and compares math answers by value.
package answer

import (
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
)

// Extractor kinds, as written in a config's `extract:` setting.
const (
	Auto       = "auto"        // boxed, else an answer line, else the last number
	Boxed      = "boxed"       // the last \boxed{...} (or \fbox{...})
	AnswerLine = "answer_line" // the last "Answer:", "Final answer:", "The answer is", "####", "答え:" line
	LastNumber = "last_number" // the last number (integers, decimals, thousands separators, a/b)
	Whole      = "none"        // the whole reply, trimmed
	JSONPrefix = "json:"       // json:PATH, a field of the JSON object in the reply (dots and list indexes: a.b.0)
)

// Span is a final answer and where it stands in the reply. Start is the
// byte offset where the statement of the answer begins (the line of an
// "Answer:", the \boxed command's sentence), so that reply[:Start] is the
// reasoning that led to it.
type Span struct {
	Text  string
	Start int
}

// Extractor finds a reply's final answer. The zero value is Auto.
type Extractor struct {
	kind string
	path []string // json: the field path
}

// ParseExtractor reads an extractor spec: auto (or ""), boxed, answer_line,
// last_number, none or json:PATH.
func ParseExtractor(spec string) (Extractor, error) {
	switch spec {
	case "", Auto:
		return Extractor{kind: Auto}, nil
	case Boxed, AnswerLine, LastNumber, Whole:
		return Extractor{kind: spec}, nil
	}
	if p, ok := strings.CutPrefix(spec, JSONPrefix); ok {
		if p == "" {
			return Extractor{}, errors.New("answer: json: needs a field path, e.g. json:answer or json:result.value")
		}
		return Extractor{kind: "json", path: strings.Split(p, ".")}, nil
	}
	return Extractor{}, fmt.Errorf("answer: extractor %q (want auto, boxed, answer_line, last_number, none or json:PATH)", spec)
}

// String returns the spec the extractor was parsed from.
func (e Extractor) String() string {
	switch e.kind {
	case "":
		return Auto
	case "json":
		return JSONPrefix + strings.Join(e.path, ".")
	}
	return e.kind
}

// Extract returns the reply's final answer; ok is false when the reply
// holds none the extractor recognises.
func (e Extractor) Extract(reply string) (Span, bool) {
	switch e.kind {
	case "", Auto:
		if s, ok := lastBoxed(reply); ok {
			return s, true
		}
		if s, ok := lastAnswerLine(reply); ok {
			return s, true
		}
		return lastNumber(reply)
	case Boxed:
		return lastBoxed(reply)
	case AnswerLine:
		return lastAnswerLine(reply)
	case LastNumber:
		return lastNumber(reply)
	case Whole:
		t := strings.TrimSpace(reply)
		return Span{Text: t, Start: 0}, t != ""
	case "json":
		return jsonField(reply, e.path)
	}
	return Span{}, false
}

// boxedCmds are the LaTeX commands that frame a final answer.
var boxedCmds = []string{`\boxed`, `\fbox`}

// lastBoxed returns the content of the last \boxed{...}, braces balanced
// (\boxed{\frac{1}{2}} is \frac{1}{2}). "\boxed 5" (a single token after a
// space, which LaTeX accepts) counts too.
func lastBoxed(s string) (Span, bool) {
	best := Span{Start: -1}
	for _, cmd := range boxedCmds {
		for from := 0; ; {
			i := strings.Index(s[from:], cmd)
			if i < 0 {
				break
			}
			at := from + i
			from = at + len(cmd)
			content, ok := boxArg(s[from:])
			if !ok || at < best.Start {
				continue
			}
			best = Span{Text: strings.TrimSpace(content), Start: sentenceStart(s, at)}
		}
	}
	return best, best.Start >= 0 && best.Text != ""
}

// boxArg reads the argument after \boxed: a brace group with nested braces,
// or one space-separated token.
func boxArg(s string) (string, bool) {
	if strings.HasPrefix(s, "{") {
		depth := 0
		for i := 0; i < len(s); i++ {
			switch s[i] {
			case '\\':
				i++ // \{ and \} are literal braces
			case '{':
				depth++
			case '}':
				depth--
				if depth == 0 {
					return s[1:i], true
				}
			}
		}
		return "", false
	}
	if !strings.HasPrefix(s, " ") {
		return "", false // \boxedfoo is another command
	}
	f := strings.Fields(s)
	if len(f) == 0 {
		return "", false
	}
	return strings.TrimRight(f[0], ".,;$"), true
}

// sentenceStart is where the line holding offset i begins: the statement of
// a final answer is its line ("Therefore the answer is \boxed{4}.").
func sentenceStart(s string, i int) int {
	return strings.LastIndexByte(s[:i], '\n') + 1
}

// answerLine matches the lines that state a final answer, in English and
// Japanese; the last such line wins. GSM8K's "#### 72" is one.
var answerLine = regexp.MustCompile(`(?im)^[ \t>*#_-]*(?:\*\*)?(?:(?:the\s+)?final\s+answer|answer|最終的な答え|答え|答|解答)(?:\*\*)?\s*(?:is\s*)?(?:[:：]|is\b|は)(?:\*\*)?[ \t]*(.+?)[ \t]*$|(?m)^[ \t]*####[ \t]*(.+?)[ \t]*$|(?im)\bthe\s+(?:final\s+)?answer\s+is[:\s]\s*(.+?)[ \t]*$`)

func lastAnswerLine(s string) (Span, bool) {
	all := answerLine.FindAllStringSubmatchIndex(s, -1)
	for k := len(all) - 1; k >= 0; k-- {
		m := all[k]
		for g := 1; g <= 3; g++ {
			a, b := m[2*g], m[2*g+1]
			if a < 0 {
				continue
			}
			t := cleanStated(s[a:b])
			if t == "" {
				continue
			}
			return Span{Text: t, Start: sentenceStart(s, m[0])}, true
		}
	}
	return Span{}, false
}

// cleanStated trims what surrounds an answer stated in prose: markdown
// emphasis, a final full stop, enclosing $...$; a \boxed inside wins.
func cleanStated(t string) string {
	if b, ok := lastBoxed(t); ok {
		return b.Text
	}
	t = strings.TrimSpace(t)
	t = strings.Trim(t, "*_")
	t = strings.TrimRight(t, "。.")
	t = strings.TrimSpace(t)
	if len(t) >= 2 && strings.HasPrefix(t, "$") && strings.HasSuffix(t, "$") {
		t = strings.TrimSpace(strings.Trim(t, "$"))
	}
	return t
}

// numberRe finds numbers: thousands separators, decimals, a fraction a/b.
var numberRe = regexp.MustCompile(`[-+]?(?:\d{1,3}(?:,\d{3})+|\d+)(?:\.\d+)?(?:/\d+)?|[-+]?\.\d+`)

func lastNumber(s string) (Span, bool) {
	all := numberRe.FindAllStringIndex(s, -1)
	if len(all) == 0 {
		return Span{}, false
	}
	m := all[len(all)-1]
	return Span{Text: s[m[0]:m[1]], Start: sentenceStart(s, m[0])}, true
}

// jsonField reads path from the JSON object in s: the whole reply (a
// ```json fence allowed) or, failing that, the last {...} in it that parses.
func jsonField(s string, path []string) (Span, bool) {
	start, obj, ok := findJSON(s)
	if !ok {
		return Span{}, false
	}
	v := obj
	for _, p := range path {
		switch x := v.(type) {
		case map[string]any:
			v, ok = x[p]
		case []any:
			i, err := strconv.Atoi(p)
			ok = err == nil && i >= 0 && i < len(x)
			if ok {
				v = x[i]
			}
		default:
			ok = false
		}
		if !ok {
			return Span{}, false
		}
	}
	var t string
	switch x := v.(type) {
	case string:
		t = strings.TrimSpace(x)
	case json.Number:
		t = x.String()
	case bool:
		t = strconv.FormatBool(x)
	case nil:
		return Span{}, false
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return Span{}, false
		}
		t = string(b)
	}
	return Span{Text: t, Start: start}, t != ""
}

func findJSON(s string) (int, any, bool) {
	trimmed := strings.TrimSpace(s)
	if strings.HasPrefix(trimmed, "```") {
		body := strings.TrimPrefix(trimmed, "```")
		if i := strings.IndexByte(body, '\n'); i >= 0 {
			body = body[i+1:]
		}
		body = strings.TrimSuffix(strings.TrimSpace(body), "```")
		if v, ok := decodeJSON(body); ok {
			return 0, v, true
		}
	}
	if v, ok := decodeJSON(trimmed); ok {
		return 0, v, true
	}
	// The last top-level object that parses: a reply that reasons first and
	// ends with its JSON. Objects are tried left to right, skipping past each
	// one that parses, so an object nested in a later one is never taken for
	// it; the tries are bounded, as a reply may hold many stray braces.
	found, at, tries := any(nil), 0, 0
	for i := 0; i < len(s) && tries < 256; {
		j := strings.IndexByte(s[i:], '{')
		if j < 0 {
			break
		}
		i += j
		tries++
		dec := json.NewDecoder(strings.NewReader(s[i:]))
		dec.UseNumber()
		var v map[string]any
		if dec.Decode(&v) == nil {
			found, at = v, i
			i += int(dec.InputOffset())
			continue
		}
		i++
	}
	if found == nil {
		return 0, nil, false
	}
	return sentenceStart(s, at), found, true
}

func decodeJSON(s string) (any, bool) {
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v map[string]any
	if dec.Decode(&v) != nil || dec.More() {
		return nil, false
	}
	return v, true
}
