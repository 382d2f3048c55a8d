package dedup

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// DefaultNGram is the decontamination n-gram length: 13 tokens, as in the
// GPT-3 paper's contamination study. Tokens are words, and CJK characters one
// by one, so for Japanese or Chinese it is a 13-character overlap.
const DefaultNGram = 13

// EvalItem names one item of an eval set.
type EvalItem struct {
	Source string // the eval file's base name
	Item   int    // its 1-based line number in that file
}

func (e EvalItem) String() string { return fmt.Sprintf("eval item %d of %s", e.Item, e.Source) }

// Decontaminator holds the n-grams of eval sets. After loading it is
// read-only and safe for concurrent use.
type Decontaminator struct {
	n     int
	items []EvalItem
	grams map[uint64][]int32 // n-gram hash → eval items holding it, ascending
	// Short counts eval items with fewer than n tokens; they cannot collide
	// and are skipped rather than matched loosely.
	Short int
}

// NewDecontaminator returns an empty set for n-grams of n tokens (0: DefaultNGram).
func NewDecontaminator(n int) (*Decontaminator, error) {
	if n == 0 {
		n = DefaultNGram
	}
	if n < 1 {
		return nil, fmt.Errorf("dedup: n-gram length %d < 1", n)
	}
	return &Decontaminator{n: n, grams: map[uint64][]int32{}}, nil
}

// Len returns the number of eval items loaded.
func (d *Decontaminator) Len() int { return len(d.items) }

// AddText adds one eval item's text.
func (d *Decontaminator) AddText(item EvalItem, s string) {
	grams := gramHashes(wordHashes(s), d.n, false)
	if len(grams) == 0 {
		d.Short++
		return
	}
	idx := int32(len(d.items))
	d.items = append(d.items, item)
	for _, g := range grams {
		d.grams[g] = append(d.grams[g], idx)
	}
}

// LoadFile adds an eval set: JSON lines (".jsonl" or ".json" files) whose
// field holds the text, or otherwise plain text with one item per non-empty
// line. Items are named by their line number.
func (d *Decontaminator) LoadFile(path, field string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("dedup: eval set: %w", err)
	}
	defer f.Close()
	ext := strings.ToLower(filepath.Ext(path))
	if err := d.Load(f, filepath.Base(path), field, ext == ".jsonl" || ext == ".json"); err != nil {
		return fmt.Errorf("dedup: eval set %s: %w", path, err)
	}
	return nil
}

// Load adds the eval set read from r under the name source; see LoadFile.
func (d *Decontaminator) Load(r io.Reader, source, field string, jsonl bool) error {
	if field == "" {
		field = "text"
	}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 64<<20)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		s := string(b)
		if jsonl {
			var obj map[string]any
			if err := json.Unmarshal(b, &obj); err != nil {
				return fmt.Errorf("line %d: %w", line, err)
			}
			v, ok := obj[field].(string)
			if !ok {
				return fmt.Errorf("line %d: no string field %q", line, field)
			}
			s = v
		}
		d.AddText(EvalItem{Source: source, Item: line}, s)
	}
	return sc.Err()
}

// Collision is an eval item sharing an n-gram with a checked text.
type Collision struct {
	EvalItem
	Grams int // the text's distinct n-grams found in this item
}

// Check returns the eval items sharing at least one n-gram with s, in load
// order.
func (d *Decontaminator) Check(s string) []Collision {
	grams := gramHashes(wordHashes(s), d.n, false)
	count := map[int32]int{}
	for _, g := range grams {
		for _, it := range d.grams[g] {
			count[it]++
		}
	}
	if len(count) == 0 {
		return nil
	}
	out := make([]Collision, 0, len(count))
	for it := range d.items {
		if c := count[int32(it)]; c > 0 {
			out = append(out, Collision{EvalItem: d.items[it], Grams: c})
		}
	}
	return out
}
