package tokenizer

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// Char maps each character of a fixed alphabet to one token. Special tokens
// take ids 0..len(specials)-1 and characters follow in sorted order.
type Char struct {
	specials
	symbols []rune
	index   map[rune]int
}

// NewChar builds a character vocabulary from the characters of alphabet.
func NewChar(alphabet string, specials []string) (*Char, error) {
	return newChar([]rune(alphabet), specials)
}

// NewCharFromCorpus builds the vocabulary of every character in docs.
func NewCharFromCorpus(docs []string, specials []string) (*Char, error) {
	return NewChar(strings.Join(docs, ""), specials)
}

func newChar(runes []rune, names []string) (*Char, error) {
	sp, err := newSpecials(names, 0)
	if err != nil {
		return nil, err
	}
	runes = slices.Clone(runes)
	slices.Sort(runes)
	runes = slices.Compact(runes)
	c := &Char{specials: sp, symbols: runes, index: make(map[rune]int, len(runes))}
	for i, r := range runes {
		c.index[r] = len(names) + i
	}
	return c, nil
}

// Encode returns one id per character, or ErrUnknown for a character (or an
// invalid UTF-8 byte) outside the alphabet.
func (c *Char) Encode(text string) ([]int, error) {
	ids := make([]int, 0, len(text))
	for i, r := range text {
		id, ok := c.index[r]
		if r == utf8.RuneError {
			// An invalid byte would decode as U+FFFD and not round-trip.
			_, size := utf8.DecodeRuneInString(text[i:])
			ok = ok && size == 3
		}
		if !ok {
			return nil, fmt.Errorf("%w: %q at byte %d", ErrUnknown, r, i)
		}
		ids = append(ids, id)
	}
	return ids, nil
}

// Decode returns the text of ids.
func (c *Char) Decode(ids []int) (string, error) {
	var b strings.Builder
	for _, id := range ids {
		if s, ok := c.special(id); ok {
			b.WriteString(s)
			continue
		}
		i := id - len(c.names)
		if i < 0 || i >= len(c.symbols) {
			return "", fmt.Errorf("%w: id %d outside vocabulary of %d", ErrUnknown, id, c.VocabSize())
		}
		b.WriteRune(c.symbols[i])
	}
	return b.String(), nil
}

// VocabSize is the number of special tokens plus characters.
func (c *Char) VocabSize() int { return len(c.names) + len(c.symbols) }
