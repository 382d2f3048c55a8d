package conversation

import (
	"regexp"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/text"
)

// Filter names, as they appear in Decisions.
const (
	FilterEmpty     = "empty_reply"    // a side replied with nothing
	FilterTruncated = "truncated"      // a reply hit its max_tokens
	FilterRole      = "role_confusion" // a side spoke as the other
	FilterRepeat    = "repeated_turn"  // a message repeats an earlier one or echoes the one it answers
	FilterMinTurns  = "min_turns"      // the user ended before min_turns exchanges
	// FilterStructured: a user turn asked for by schema did not fit it.
	FilterStructured = "structured"
)

// Filters lists them in the order they are checked.
var Filters = []string{FilterEmpty, FilterTruncated, FilterRole, FilterRepeat, FilterMinTurns}

// A speaker label at the start of a line: "User:", "**Assistant:**",
// "ユーザー：". Models playing a role often put their own label first (which
// is harmless and removed) or write the other side's lines (which is not).
var labelLine = regexp.MustCompile(`(?im)^[ \t>*_#]*(user|human|assistant|ai|chatgpt|gpt|ユーザー|アシスタント)[ \t*_]*[:：]`)

var userLabels = map[string]bool{"user": true, "human": true, "ユーザー": true}

// stripLabel removes a leading label of the speaker's own side.
func stripLabel(s string, own map[string]bool) string {
	s = strings.TrimSpace(s)
	if m := labelLine.FindStringSubmatchIndex(s); m != nil && m[0] == 0 && own[strings.ToLower(s[m[2]:m[3]])] {
		s = strings.TrimSpace(s[m[1]:])
		s = strings.TrimLeft(s, "*_ ")
	}
	return unquote(s)
}

// unquote removes quotes around a whole message, which the user simulator
// is asked not to add but sometimes does.
func unquote(s string) string {
	for _, q := range [][2]string{{`"`, `"`}, {"“", "”"}, {"「", "」"}} {
		if len(s) > len(q[0])+len(q[1]) && strings.HasPrefix(s, q[0]) && strings.HasSuffix(s, q[1]) {
			inner := s[len(q[0]) : len(s)-len(q[1])]
			if !strings.Contains(inner, q[0]) && !strings.Contains(inner, q[1]) {
				return strings.TrimSpace(inner)
			}
		}
	}
	return s
}

// otherLabel returns a label in s that does not belong to the speaker: a
// reply that writes the other side's lines has confused the roles.
func otherLabel(s string, own map[string]bool) string {
	for _, m := range labelLine.FindAllStringSubmatch(s, -1) {
		if !own[strings.ToLower(m[1])] {
			return strings.TrimSpace(m[0])
		}
	}
	return ""
}

var assistantLabels = map[string]bool{"assistant": true, "ai": true, "chatgpt": true, "gpt": true, "アシスタント": true}

// assistantPhrases are what assistants say and users do not: a user
// message holding one is the user model answering as the assistant.
var assistantPhrases = []string{
	"as an ai", "i'd be happy to help", "i would be happy to help", "i'm happy to help", "happy to assist",
	"how can i help you", "how can i assist you", "how may i help", "how may i assist",
	"is there anything else i can help", "is there anything else you'd like to know", "i hope this helps",
	"let me know if you have any other questions", "great question",
	"お手伝いできること", "何かお手伝い", "ご質問ありがとうございます", "お役に立てれば", "他にご質問があれば",
	"いい質問ですね", "良い質問ですね", "aiとして",
}

var folder = strings.NewReplacer("’", "'", "‘", "'", "*", "")

// assistantPhrase returns the assistant phrase in a user message, if any.
func assistantPhrase(s string) string {
	l := strings.ToLower(folder.Replace(s))
	for _, p := range assistantPhrases {
		if strings.Contains(l, p) {
			return p
		}
	}
	return ""
}

var tokenizer text.CJKTokenizer

// similarity is the ROUGE-L F of two messages over CJK-aware tokens; two
// messages without any word (only punctuation) are the same when equal.
func similarity(a, b string) float64 {
	ta, tb := tokenizer.Tokens(a), tokenizer.Tokens(b)
	if len(ta) == 0 || len(tb) == 0 {
		if strings.TrimSpace(a) == strings.TrimSpace(b) {
			return 1
		}
		return 0
	}
	return text.RougeL(ta, tb).F
}

// hasEnd reports whether a user reply is the end signal. A reply holding
// the token ends the conversation; any words around it ("Thanks! [END]")
// are a goodbye, which adds nothing a trainer needs.
func hasEnd(reply, token string) bool {
	return strings.Contains(strings.ToUpper(reply), strings.ToUpper(token))
}

// userTurnSchema is a user simulator's turn with the structured setting on:
// the message, and whether the user is done (then the message is unused).
var userTurnSchema = structured.MustCompile(`{"type":"object","properties":{"message":{"type":"string","maxLength":4000},"end":{"type":"boolean"}},"required":["message","end"],"additionalProperties":false}`, "user_turn")

type userTurn struct {
	Message string `json:"message"`
	End     bool   `json:"end"`
}

// parseUserTurn reads a user turn asked for with userTurnSchema.
func parseUserTurn(reply string) (userTurn, error) {
	return structured.Decode[userTurn](userTurnSchema, reply)
}
