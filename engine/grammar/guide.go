package grammar

// Vocab is a tokenizer's vocabulary as the masks see it: each token's bytes
// in a trie, so a mask walks shared prefixes once, and the tokens that end
// a reply. It is immutable and safe for concurrent use.
type Vocab struct {
	bytes [][]byte
	size  int
	stops []int32
	trie  []vocabNode
}

type vocabNode struct {
	next   []trieEdge
	tokens []int32 // tokens whose bytes end here
}

// NewVocab indexes a vocabulary of size tokens: tokens[id] holds the bytes
// of token id, or nil for a token never to be generated under a grammar
// (special tokens, and ids past the slice); stops are the tokens that end a
// reply, allowed exactly when the text is complete.
func NewVocab(tokens [][]byte, stops []int32, size int) *Vocab {
	v := &Vocab{bytes: tokens, size: size, stops: stops, trie: []vocabNode{{}}}
	for id, t := range tokens {
		if len(t) == 0 || id >= size {
			continue
		}
		at := int32(0)
		for _, b := range t {
			next := int32(-1)
			for _, e := range v.trie[at].next {
				if e.b == b {
					next = e.to
				}
			}
			if next < 0 {
				next = int32(len(v.trie))
				v.trie = append(v.trie, vocabNode{})
				v.trie[at].next = append(v.trie[at].next, trieEdge{b, next})
			}
			at = next
		}
		v.trie[at].tokens = append(v.trie[at].tokens, int32(id))
	}
	return v
}

// memoBytes bounds the masks a Constraint remembers (a byte per token
// each); past it the memo starts over, trading time for memory on long,
// varied outputs.
const memoBytes = 16 << 20

// Constraint guides the samples of one request through a grammar. Masks are
// memoised by automaton state and shared by its samples, which often pass
// through the same states (all start in one). It is not safe for concurrent
// use: a sampler owns it.
type Constraint struct {
	g    *Grammar
	v    *Vocab
	memo map[string][]bool
}

// NewConstraint returns a Constraint of g over v.
func NewConstraint(g *Grammar, v *Vocab) *Constraint {
	return &Constraint{g: g, v: v, memo: map[string][]bool{}}
}

// Start begins a sample.
func (c *Constraint) Start() *Guide {
	return &Guide{c: c, s: start(c.g.root, done, nil)}
}

// Guide follows one sample through the grammar.
type Guide struct {
	c *Constraint
	s state
}

// Allowed returns, indexed by token id, which tokens keep the text on the
// grammar: a token is allowed when every byte of it does, a stop token when
// the text is a complete value. All false means the vocabulary cannot go on
// (it lacks a character the grammar needs next). The slice is shared: read
// it, do not keep or change it.
func (g *Guide) Allowed() []bool {
	k := g.s.key()
	if m, ok := g.c.memo[k]; ok {
		return m
	}
	allow := make([]bool, g.c.v.size)
	g.c.fill(0, g.s, allow)
	if g.s.accepting() {
		for _, t := range g.c.v.stops {
			allow[t] = true
		}
	}
	if len(g.c.memo) >= max(64, memoBytes/max(1, g.c.v.size)) {
		clear(g.c.memo)
	}
	g.c.memo[k] = allow
	return allow
}

// fill marks the tokens below trie node at that s can read.
func (c *Constraint) fill(at int32, s state, allow []bool) {
	for _, e := range c.v.trie[at].next {
		next := advance(s, e.b)
		if len(next) == 0 {
			continue
		}
		for _, t := range c.v.trie[e.to].tokens {
			allow[t] = true
		}
		c.fill(e.to, next, allow)
	}
}

// Advance moves past token tok, which Allowed allowed. A stop token leaves
// the state as it is.
func (g *Guide) Advance(tok int32) {
	if int(tok) >= len(g.c.v.bytes) {
		return
	}
	for _, b := range g.c.v.bytes[tok] {
		g.s = advance(g.s, b)
	}
}

// Complete reports whether the text so far is a whole value.
func (g *Guide) Complete() bool { return g.s.accepting() }

// Accepts reports whether text is a whole value the grammar allows, as the
// guides would spell it (see the package comment).
func (g *Grammar) Accepts(text []byte) bool { return accepts(g.root, text) }

// Live reports whether text can still be completed into one.
func (g *Grammar) Live(text []byte) bool {
	s := start(g.root, done, nil)
	for _, b := range text {
		if s = advance(s, b); len(s) == 0 {
			return false
		}
	}
	return true
}
