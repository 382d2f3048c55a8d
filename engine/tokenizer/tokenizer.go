// Package tokenizer turns text into token ids and back: a character-level
// vocabulary, a byte-level BPE, special tokens and the chat template.
package tokenizer

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// Special tokens every tokenizer made with DefaultSpecials knows. The chat
// roles are single tokens rather than text so the template works with any
// vocabulary, even a digits-only character set.
const (
	BOS       = "<|bos|>"
	EOS       = "<|eos|>"
	PAD       = "<|pad|>"
	System    = "<|system|>"
	User      = "<|user|>"
	Assistant = "<|assistant|>"
	End       = "<|end|>" // closes a chat turn
)

// DefaultSpecials are the special tokens of the chat template.
var DefaultSpecials = []string{BOS, EOS, PAD, System, User, Assistant, End}

// ErrUnknown reports text that a vocabulary cannot represent.
var ErrUnknown = errors.New("tokenizer: unknown symbol")

// ErrFormat reports a malformed saved tokenizer.
var ErrFormat = errors.New("tokenizer: bad format")

// Tokenizer is implemented by Char and BPE. Methods are safe for concurrent
// use once the tokenizer is built.
type Tokenizer interface {
	// Encode encodes plain text; special-token strings in it are treated as
	// ordinary text.
	Encode(text string) ([]int, error)
	// Decode returns the text of ids; special tokens decode to their names.
	Decode(ids []int) (string, error)
	// SpecialID returns the id of a special token such as EOS.
	SpecialID(name string) (int, bool)
	// VocabSize is one more than the largest id.
	VocabSize() int
}

// specials maps special-token strings to ids; both tokenizer kinds embed it.
type specials struct {
	names []string
	ids   map[string]int
	base  int // id of names[0]
}

func newSpecials(names []string, base int) (specials, error) {
	s := specials{names: append([]string(nil), names...), ids: make(map[string]int, len(names)), base: base}
	for i, n := range names {
		if n == "" {
			return s, fmt.Errorf("%w: empty special token", ErrFormat)
		}
		if _, dup := s.ids[n]; dup {
			return s, fmt.Errorf("%w: duplicate special token %q", ErrFormat, n)
		}
		s.ids[n] = base + i
	}
	return s, nil
}

func (s *specials) SpecialID(name string) (int, bool) {
	id, ok := s.ids[name]
	return id, ok
}

// special returns the name of id if it is a special token.
func (s *specials) special(id int) (string, bool) {
	if id >= s.base && id < s.base+len(s.names) {
		return s.names[id-s.base], true
	}
	return "", false
}

// EncodeWithSpecials encodes text in which occurrences of special-token
// strings become their ids; use it only on trusted text (templates), never on
// user content, which could otherwise forge chat turns.
func EncodeWithSpecials(t Tokenizer, text string, names []string) ([]int, error) {
	var ids []int
	for len(text) > 0 {
		at, which := len(text), ""
		for _, n := range names {
			if i := strings.Index(text, n); i >= 0 && (i < at || i == at && len(n) > len(which)) {
				at, which = i, n
			}
		}
		part, err := t.Encode(text[:at])
		if err != nil {
			return nil, err
		}
		ids = append(ids, part...)
		if which == "" {
			break
		}
		id, ok := t.SpecialID(which)
		if !ok {
			return nil, fmt.Errorf("%w: special token %q", ErrUnknown, which)
		}
		ids = append(ids, id)
		text = text[at+len(which):]
	}
	return ids, nil
}

// saved is the JSON form of both tokenizer kinds.
type saved struct {
	Type     string   `json:"type"`
	Specials []string `json:"specials"`
	Chars    []string `json:"chars,omitempty"`  // char: one string per symbol
	Merges   [][2]int `json:"merges,omitempty"` // bpe: pairs merged in rank order
}

// Save writes t as JSON.
func Save(w io.Writer, t Tokenizer) error {
	var s saved
	switch t := t.(type) {
	case *Char:
		s = saved{Type: "char", Specials: t.names, Chars: make([]string, len(t.symbols))}
		for i, r := range t.symbols {
			s.Chars[i] = string(r)
		}
	case *BPE:
		s = saved{Type: "bpe", Specials: t.names, Merges: t.merges}
	default:
		return fmt.Errorf("tokenizer: save: unsupported type %T", t)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	if err := enc.Encode(s); err != nil {
		return fmt.Errorf("tokenizer: save: %w", err)
	}
	return nil
}

// maxSavedBytes bounds what Load reads so a hostile file cannot exhaust memory.
const maxSavedBytes = 64 << 20

// Load reads a tokenizer written by Save.
func Load(r io.Reader) (Tokenizer, error) {
	data, err := io.ReadAll(io.LimitReader(r, maxSavedBytes+1))
	if err != nil {
		return nil, fmt.Errorf("tokenizer: load: %w", err)
	}
	if len(data) > maxSavedBytes {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrFormat, maxSavedBytes)
	}
	var s saved
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrFormat, err)
	}
	switch s.Type {
	case "char":
		var runes []rune
		for _, c := range s.Chars {
			r := []rune(c)
			if len(r) != 1 {
				return nil, fmt.Errorf("%w: char symbol %q is not one character", ErrFormat, c)
			}
			runes = append(runes, r[0])
		}
		return newChar(runes, s.Specials)
	case "bpe":
		return newBPE(s.Merges, s.Specials)
	default:
		return nil, fmt.Errorf("%w: unknown type %q", ErrFormat, s.Type)
	}
}
