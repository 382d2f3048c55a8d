package tokenizer

import (
	"fmt"
	"slices"
	"strings"
)

// BPE is a byte-level byte-pair encoding: ids 0..255 are the bytes, each
// merge adds one id for a pair of earlier ids, and special tokens come last.
// Because every byte has an id, any byte string (valid UTF-8 or not)
// encodes and decodes back to itself.
type BPE struct {
	specials
	merges [][2]int
	ranks  map[[2]int]int // pair -> merge index
	bytes  [][]byte       // id -> bytes, for ids below the specials
}

// TrainBPE learns vocabSize-256-len(specials) merges from docs: the classic
// loop of merging the most frequent adjacent pair, counted within the
// pre-tokenised chunks of splitChunks so that merges never cross a word
// boundary. Ties go to the smallest pair, so training is deterministic.
func TrainBPE(docs []string, vocabSize int, specials []string) (*BPE, error) {
	nMerges := vocabSize - 256 - len(specials)
	if nMerges < 0 {
		return nil, fmt.Errorf("tokenizer: bpe: vocab size %d smaller than 256 bytes + %d specials", vocabSize, len(specials))
	}
	counts := map[string]int{}
	for _, d := range docs {
		for _, c := range splitChunks(d) {
			counts[c]++
		}
	}
	type word struct {
		ids []int
		n   int
	}
	words := make([]word, 0, len(counts))
	for c, n := range counts {
		ids := make([]int, len(c))
		for i := range len(c) {
			ids[i] = int(c[i])
		}
		words = append(words, word{ids, n})
	}
	// Pair counts are kept up to date incrementally: a merge only revisits
	// the words that contain the merged pair (found through where), instead
	// of recounting the corpus each time.
	pairs := map[[2]int]int{}
	where := map[[2]int]map[int]struct{}{}
	count := func(wi, sign int) {
		w := words[wi]
		for i := 0; i+1 < len(w.ids); i++ {
			p := [2]int{w.ids[i], w.ids[i+1]}
			if pairs[p] += sign * w.n; pairs[p] == 0 {
				delete(pairs, p)
			}
			if sign > 0 {
				if where[p] == nil {
					where[p] = map[int]struct{}{}
				}
				where[p][wi] = struct{}{}
			}
		}
	}
	for wi := range words {
		count(wi, 1)
	}
	var merges [][2]int
	for len(merges) < nMerges {
		best, bestN := [2]int{}, 0
		for p, n := range pairs {
			if n > bestN || n == bestN && (p[0] < best[0] || p[0] == best[0] && p[1] < best[1]) {
				best, bestN = p, n
			}
		}
		if bestN < 2 {
			break // nothing left worth a token
		}
		id := 256 + len(merges)
		merges = append(merges, best)
		// Visit the words in index order so counts evolve the same way on
		// every run (map order would not change the result, but keeps
		// debugging sane).
		ws := make([]int, 0, len(where[best]))
		for wi := range where[best] {
			ws = append(ws, wi)
		}
		slices.Sort(ws)
		delete(where, best)
		for _, wi := range ws {
			count(wi, -1)
			words[wi].ids = mergePair(words[wi].ids, best, id)
			count(wi, 1)
		}
	}
	return newBPE(merges, specials)
}

func newBPE(merges [][2]int, names []string) (*BPE, error) {
	if len(merges) > 1<<20 {
		return nil, fmt.Errorf("%w: %d merges is too many", ErrFormat, len(merges))
	}
	sp, err := newSpecials(names, 256+len(merges))
	if err != nil {
		return nil, err
	}
	b := &BPE{specials: sp, merges: merges, ranks: make(map[[2]int]int, len(merges)), bytes: make([][]byte, 256, 256+len(merges))}
	for i := range 256 {
		b.bytes[i] = []byte{byte(i)}
	}
	total := 256
	for i, p := range merges {
		id := 256 + i
		if p[0] < 0 || p[0] >= id || p[1] < 0 || p[1] >= id {
			return nil, fmt.Errorf("%w: merge %d (%d, %d) refers to an id not yet defined", ErrFormat, i, p[0], p[1])
		}
		if _, dup := b.ranks[p]; dup {
			return nil, fmt.Errorf("%w: merge %d (%d, %d) repeats an earlier merge", ErrFormat, i, p[0], p[1])
		}
		b.ranks[p] = i
		n := len(b.bytes[p[0]]) + len(b.bytes[p[1]])
		// Merges can double token length each time, so a hostile file of a
		// few kilobytes could otherwise ask for gigabytes.
		if total += n; n > 1<<16 || total > 1<<26 {
			return nil, fmt.Errorf("%w: merge %d makes tokens too long", ErrFormat, i)
		}
		tok := append(append(make([]byte, 0, n), b.bytes[p[0]]...), b.bytes[p[1]]...)
		b.bytes = append(b.bytes, tok)
	}
	return b, nil
}

// mergePair replaces every non-overlapping occurrence of p in ids, left to
// right, with id, in place.
func mergePair(ids []int, p [2]int, id int) []int {
	out := ids[:0]
	for i := 0; i < len(ids); i++ {
		if i+1 < len(ids) && ids[i] == p[0] && ids[i+1] == p[1] {
			out = append(out, id)
			i++
			continue
		}
		out = append(out, ids[i])
	}
	return out
}

// splitChunks pre-tokenises text like GPT-2's pattern, on bytes: an
// optional leading space with a run of letters (ASCII letters and all
// non-ASCII bytes, so UTF-8 words stay whole), single digits (so numbers are
// read digit by digit, which arithmetic needs), runs of other punctuation,
// and runs of whitespace. The chunks concatenate back to text exactly.
func splitChunks(text string) []string {
	var out []string
	for i := 0; i < len(text); {
		j := i
		if text[j] == ' ' && j+1 < len(text) && class(text[j+1]) != classSpace && class(text[j+1]) != classDigit {
			j++
		}
		switch k := class(text[j]); k {
		case classDigit:
			j++
		default:
			// Runs are cut at maxChunk bytes (at a UTF-8 character
			// boundary), so text without spaces, such as Japanese, cannot
			// make Encode's per-chunk merge loop quadratic in its length.
			for j < len(text) && class(text[j]) == k && (j-i < maxChunk || isContinuation(text[j])) {
				j++
			}
		}
		out = append(out, text[i:j])
		i = j
	}
	return out
}

// maxChunk bounds the length of a pre-tokenised chunk.
const maxChunk = 64

func isContinuation(c byte) bool { return c&0xC0 == 0x80 }

const (
	classLetter = iota
	classDigit
	classSpace
	classOther
)

func class(c byte) int {
	switch {
	case c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
		return classLetter
	case c >= '0' && c <= '9':
		return classDigit
	case c == ' ' || c == '\t' || c == '\n' || c == '\r':
		return classSpace
	default:
		return classOther
	}
}

// Encode splits text into chunks and, in each, applies the learned merges
// lowest rank first, as the training loop did.
func (b *BPE) Encode(text string) ([]int, error) {
	ids := make([]int, 0, len(text))
	for _, c := range splitChunks(text) {
		start := len(ids)
		for i := range len(c) {
			ids = append(ids, int(c[i]))
		}
		word := ids[start:]
		for len(word) > 1 {
			bestRank, at := len(b.merges), -1
			for i := 0; i+1 < len(word); i++ {
				if r, ok := b.ranks[[2]int{word[i], word[i+1]}]; ok && r < bestRank {
					bestRank, at = r, i
				}
			}
			if at < 0 {
				break
			}
			word = mergePair(word, b.merges[bestRank], 256+bestRank)
		}
		ids = ids[:start+len(word)]
	}
	return ids, nil
}

// Decode returns the bytes of ids as a string.
func (b *BPE) Decode(ids []int) (string, error) {
	var sb strings.Builder
	for _, id := range ids {
		if s, ok := b.special(id); ok {
			sb.WriteString(s)
			continue
		}
		if id < 0 || id >= len(b.bytes) {
			return "", fmt.Errorf("%w: id %d outside vocabulary of %d", ErrUnknown, id, b.VocabSize())
		}
		sb.Write(b.bytes[id])
	}
	return sb.String(), nil
}

// TokenBytes returns the bytes of a non-special id (for exporters).
func (b *BPE) TokenBytes(id int) ([]byte, bool) {
	if id < 0 || id >= len(b.bytes) {
		return nil, false
	}
	return b.bytes[id], true
}

// VocabSize is 256 + merges + specials.
func (b *BPE) VocabSize() int { return len(b.bytes) + len(b.names) }
