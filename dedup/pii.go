package dedup

import (
	"regexp"
	"strings"
)

// Placeholders that replace scrubbed personal data.
const (
	EmailPlaceholder = "[EMAIL]"
	PhonePlaceholder = "[PHONE]"
	CardPlaceholder  = "[CARD]"
)

// PIICounts counts what Scrub replaced.
type PIICounts struct {
	Emails, Phones, Cards int
}

// Total is the number of replacements.
func (c PIICounts) Total() int { return c.Emails + c.Phones + c.Cards }

// Add returns the sum of c and o.
func (c PIICounts) Add(o PIICounts) PIICounts {
	return PIICounts{c.Emails + o.Emails, c.Phones + o.Phones, c.Cards + o.Cards}
}

var (
	emailRE = regexp.MustCompile(`[A-Za-z0-9._%+\-]+@[A-Za-z0-9\-]+(?:\.[A-Za-z0-9\-]+)*\.[A-Za-z]{2,}`)
	// Digit runs with optional single spaces or dashes: candidates for both
	// card and phone numbers, told apart by digit count, Luhn and shape.
	cardRE  = regexp.MustCompile(`\b\d(?:[ \-]?\d){12,18}\b`)
	phoneRE = regexp.MustCompile(`(?:\+\d{1,3}[ .\-]?)?(?:\(\d{1,4}\)[ .\-]?)?\d{2,4}(?:[ .\-]?\d{2,4}){1,4}\b`)
)

// Scrub replaces email addresses, card numbers and phone numbers in s with
// placeholders and counts them. Emails go first so their digits are not
// taken for phones. A card number is 13–19 digits, optionally grouped by
// spaces or dashes, that passes the Luhn check; a phone number has 9–15
// digits and either a leading +, parentheses, or separators between groups,
// so that bare IDs and dates stay. Both are heuristics: they favour leaving
// an odd number over destroying ordinary text.
func Scrub(s string) (string, PIICounts) {
	var c PIICounts
	s = emailRE.ReplaceAllStringFunc(s, func(string) string { c.Emails++; return EmailPlaceholder })
	s = cardRE.ReplaceAllStringFunc(s, func(m string) string {
		if d := digits(m); len(d) >= 13 && len(d) <= 19 && luhn(d) {
			c.Cards++
			return CardPlaceholder
		}
		return m
	})
	s = phoneRE.ReplaceAllStringFunc(s, func(m string) string {
		d := digits(m)
		shaped := strings.HasPrefix(m, "+") || strings.ContainsAny(m, "( .-")
		if len(d) >= 9 && len(d) <= 15 && shaped {
			c.Phones++
			return PhonePlaceholder
		}
		return m
	})
	return s, c
}

func digits(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] >= '0' && s[i] <= '9' {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

// luhn reports whether the digit string d passes the Luhn checksum that
// every payment card number carries.
func luhn(d string) bool {
	sum := 0
	for i := len(d) - 1; i >= 0; i-- {
		v := int(d[i] - '0')
		if (len(d)-1-i)%2 == 1 {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
	}
	return sum%10 == 0
}
