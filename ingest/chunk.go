package ingest

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/synthloop/synthloop/text"
)

// Chunk is a contiguous piece of a document's text.
type Chunk struct {
	// ID is Source#Index: stable for a file as long as the file and the
	// chunker's settings stay the same.
	ID     string `json:"id"`
	Source string `json:"source"`
	Index  int    `json:"index"`
	// Start and End are the byte offsets of Text in the document's text:
	// Text == doc.Text[Start:End].
	Start  int    `json:"start"`
	End    int    `json:"end"`
	Tokens int    `json:"tokens"` // tokens in Text under the chunker's tokenizer
	Text   string `json:"text"`
	// Location names the document's pages, slides or sheets the chunk
	// spans ("slide 3", "page 2 to page 3"); empty when the document has
	// none (see Document.Parts).
	Location string `json:"location,omitempty"`
	// Parts are the document's parts the chunk overlaps, with offsets in
	// the document's text, so a span inside the chunk can be located too
	// (see Chunk.Locate).
	Parts []Part `json:"parts,omitempty"`
}

// Locate names the pages, slides or sheets that the span [start, end) of
// the document's text (not the chunk's) overlaps; "" when the document has
// none.
func (c Chunk) Locate(start, end int) string { return Locate(c.Parts, start, end) }

// Chunker splits documents into chunks of at most Size tokens, each sharing
// up to Overlap tokens with the one before, so a fact cut by one boundary is
// whole in a neighbour. Tokens are those of a text.Tokenizer (words and
// numbers, and each CJK character with the default "cjk" tokenizer; Japanese
// morphemes with "kagome"): a stand-in for a model's tokens that needs no
// vocabulary and treats every script. Safe for concurrent use.
//
// A chunk ends, by preference, at a paragraph break, else at a sentence or
// line end, as long as that keeps it at least half full; otherwise at a word
// (or CJK token) boundary. An overlap starts at a sentence start when one lies
// inside it. A single word longer than Size tokens (it has no boundary to cut
// at) makes a chunk of its own, the only way a chunk exceeds Size.
type Chunker struct {
	Size      int
	Overlap   int
	Tokenizer text.Tokenizer
}

// NewChunker returns a chunker with the named tokenizer ("cjk" if empty; see
// text.NewTokenizer). Overlap must be below size.
func NewChunker(size, overlap int, tokenizer string) (*Chunker, error) {
	if tokenizer == "" {
		tokenizer = text.TokenizerCJK
	}
	if size < 1 || overlap < 0 || overlap >= size {
		return nil, fmt.Errorf("ingest: chunk size %d and overlap %d: want size ≥ 1 and 0 ≤ overlap < size", size, overlap)
	}
	tok, err := text.NewTokenizer(tokenizer)
	if err != nil {
		return nil, fmt.Errorf("ingest: %w", err)
	}
	return &Chunker{Size: size, Overlap: overlap, Tokenizer: tok}, nil
}

// overlapping returns the parts that [start, end) overlaps.
func overlapping(parts []Part, start, end int) []Part {
	var out []Part
	for _, p := range parts {
		if p.Start < max(end, start+1) && start < p.End {
			out = append(out, p)
		}
	}
	return out
}

// piece is the unit the chunker packs: a word, a CJK token or a run of
// punctuation, with the whitespace after it.
type piece struct {
	start, end int // bytes; end includes the whitespace that follows
	text       int // end of the piece's own text, before that whitespace
	tokens     int
	brk        uint8 // boundary after the piece: 0 none, 1 sentence or line end, 2 paragraph end
}

// Split returns the chunks of doc in order. An empty or all-whitespace
// document has none.
func (c *Chunker) Split(doc Document) []Chunk {
	if c.Size < 1 || c.Overlap < 0 || c.Overlap >= c.Size {
		panic(errors.New("ingest: Chunker needs Size ≥ 1 and 0 ≤ Overlap < Size; use NewChunker"))
	}
	tok := c.Tokenizer
	if tok == nil {
		tok = text.CJKTokenizer{}
	}
	s := doc.Text
	ps := pieces(s, tok, c.Size)
	if len(ps) == 0 {
		return nil
	}
	n := len(ps)
	sum := make([]int, n+1) // sum[k] = tokens of ps[:k]
	for i, p := range ps {
		sum[i+1] = sum[i] + p.tokens
	}
	var out []Chunk
	a, prevEnd := 0, 0
	for {
		minEnd := max(a+1, prevEnd+1)
		b := a
		for b < n && sum[b+1]-sum[a] <= c.Size {
			b++
		}
		b = min(max(b, minEnd), n)
		if b < n {
			b = boundaryEnd(ps, sum, a, b, minEnd, c.Size)
		}
		start, end := ps[a].start, ps[b-1].text
		out = append(out, Chunk{
			ID: fmt.Sprintf("%s#%d", doc.Source, len(out)), Source: doc.Source, Index: len(out),
			Start: start, End: end, Tokens: sum[b] - sum[a], Text: s[start:end],
		})
		if len(doc.Parts) > 0 {
			out[len(out)-1].Parts = overlapping(doc.Parts, start, end)
			out[len(out)-1].Location = Locate(doc.Parts, start, end)
		}
		if b == n {
			return out
		}
		// The overlap leaves room for the next piece, so the next chunk
		// both advances and stays within the size.
		next := b
		for next-1 > a && sum[b]-sum[next-1] <= c.Overlap && sum[b+1]-sum[next-1] <= c.Size {
			next--
		}
		for k := next; k < b; k++ {
			if ps[k-1].brk > 0 {
				next = k // the overlap starts at a sentence start
				break
			}
		}
		a, prevEnd = next, b
	}
}

// boundaryEnd moves a chunk's end b back to the latest paragraph end, or
// failing that the latest sentence end, that keeps the chunk at least half
// full and ends it after minEnd-1.
func boundaryEnd(ps []piece, sum []int, a, b, minEnd, size int) int {
	for _, level := range []uint8{2, 1} {
		for k := b; k >= minEnd && k > a; k-- {
			if 2*(sum[k]-sum[a]) < size {
				break
			}
			if ps[k-1].brk >= level {
				return k
			}
		}
	}
	return b
}

type class uint8

const (
	classSpace class = iota
	classCJK
	classOther
)

func classOf(r rune) class {
	switch {
	case unicode.IsSpace(r):
		return classSpace
	case text.IsCJK(r):
		return classCJK
	}
	return classOther
}

// pieces cuts s into pieces that tile its non-space text. A run of CJK
// characters is cut at its tokens' boundaries (so a CJK run always has a cut
// point); a run of other non-space characters (a word with its punctuation)
// is one piece, or, when it alone holds more than size tokens, is cut before
// each word inside it. Whitespace joins the piece before it.
func pieces(s string, tok text.Tokenizer, size int) []piece {
	ps := make([]piece, 0, len(s)/6) // about one piece per word of English
	i := 0
	for i < len(s) {
		r, w := utf8.DecodeRuneInString(s[i:])
		cl := classOf(r)
		j := i + w
		for j < len(s) {
			r2, w2 := utf8.DecodeRuneInString(s[j:])
			if classOf(r2) != cl {
				break
			}
			j += w2
		}
		run := s[i:j]
		switch cl {
		case classSpace:
			if n := len(ps); n > 0 {
				ps[n-1].end = j
				switch nl := strings.Count(run, "\n"); {
				case nl >= 2:
					ps[n-1].brk = 2
				case nl == 1 || sentenceEnd(s[ps[n-1].start:ps[n-1].text], true):
					ps[n-1].brk = max(ps[n-1].brk, 1)
				}
			}
		case classCJK:
			ps = cjkPieces(ps, run, i, tok)
		default:
			ps = otherPieces(ps, run, i, tok, size)
			if sentenceEnd(run, false) {
				ps[len(ps)-1].brk = 1
			}
		}
		i = j
	}
	return ps
}

// cjkPieces appends the pieces of a run of CJK characters at offset off: one
// per token when the tokens spell the run out (as the cjk and kagome
// tokenizers' do); the rest of the run as one piece otherwise.
func cjkPieces(ps []piece, run string, off int, tok text.Tokenizer) []piece {
	if _, ok := tok.(text.CJKTokenizer); ok {
		// Its tokens are the characters: no need to ask for them.
		for i, r := range run {
			end := off + i + utf8.RuneLen(r)
			ps = append(ps, piece{start: off + i, end: end, text: end, tokens: 1})
		}
		return ps
	}
	toks := tok.Tokens(run)
	pos := 0
	for k, t := range toks {
		if t == "" || !strings.HasPrefix(run[pos:], t) {
			ps = append(ps, piece{start: off + pos, end: off + len(run), text: off + len(run), tokens: len(toks) - k})
			return ps
		}
		ps = append(ps, piece{start: off + pos, end: off + pos + len(t), text: off + pos + len(t), tokens: 1})
		pos += len(t)
	}
	if pos < len(run) {
		if len(toks) > 0 {
			last := &ps[len(ps)-1]
			last.end, last.text = off+len(run), off+len(run)
		} else {
			ps = append(ps, piece{start: off, end: off + len(run), text: off + len(run)})
		}
	}
	return ps
}

// otherPieces appends the pieces of a run of non-space, non-CJK characters.
func otherPieces(ps []piece, run string, off int, tok text.Tokenizer, size int) []piece {
	n, ok := asciiTokens(run, tok)
	if !ok {
		n = len(tok.Tokens(run))
	}
	if n <= size {
		return append(ps, piece{start: off, end: off + len(run), text: off + len(run), tokens: n})
	}
	start := 0
	prevWord := false
	for k, r := range run {
		word := unicode.IsLetter(r) || unicode.IsDigit(r) || (prevWord && unicode.Is(unicode.Mn, r))
		if word && !prevWord && k > start {
			sub := run[start:k]
			ps = append(ps, piece{start: off + start, end: off + k, text: off + k, tokens: len(tok.Tokens(sub))})
			start = k
		}
		prevWord = word
	}
	sub := run[start:]
	return append(ps, piece{start: off + start, end: off + len(run), text: off + len(run), tokens: len(tok.Tokens(sub))})
}

// sentenceEnd reports whether a word ends a sentence: it ends with a
// full-width terminal (。！？), or, when spaced (followed by whitespace), with
// an ASCII one (. ! ?), closing quotes and brackets allowed after either.
func sentenceEnd(w string, spaced bool) bool {
	w = strings.TrimRight(w, "\"')]}”’」』）】")
	r, _ := utf8.DecodeLastRuneInString(w)
	switch r {
	case '。', '！', '？', '．':
		return true
	case '.', '!', '?':
		return spaced
	}
	return false
}

// asciiTokens counts the tokens of an ASCII word without allocating, for
// the tokenizers of package text, which agree on ASCII: a token is a
// maximal run of letters and digits. It reports false for other words or
// tokenizers, whose tokens must be asked for. Counting is most of the
// chunker's work, and most words of most documents are ASCII.
func asciiTokens(w string, tok text.Tokenizer) (int, bool) {
	switch tok.(type) {
	case text.CJKTokenizer, text.RougeTokenizer, *text.JapaneseTokenizer:
	default:
		return 0, false
	}
	n := 0
	in := false
	for i := 0; i < len(w); i++ {
		c := w[i]
		if c >= utf8.RuneSelf {
			return 0, false
		}
		alnum := 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
		if alnum && !in {
			n++
		}
		in = alnum
	}
	return n, true
}
