package text

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
)

// Defaults of the Self-Instruct novelty filter (Wang et al., 2022).
const (
	DefaultThreshold   = 0.7
	DefaultTopK        = 10
	DefaultMeanSamples = 100
)

// MeanMode chooses what an Index records as the mean similarity of a new
// instruction to every instruction in the index.
type MeanMode int

const (
	// MeanSampled estimates the mean from a deterministic uniform sample of
	// Options.MeanSamples instructions (with replacement), with its standard
	// error; when the index is no larger than the sample it is exact.
	MeanSampled MeanMode = iota
	// MeanExact computes the mean the paper records. It scores every
	// instruction in the index, which costs what the brute force costs
	// (with the bit-parallel LCS): use it when the figure must be exact.
	MeanExact
	// MeanNone records no mean.
	MeanNone
)

// Options configure an Index or a BruteForce. Zero fields take the defaults.
type Options struct {
	// Threshold rejects an instruction whose highest ROUGE-L F against the
	// index is > Threshold (not ≥, as in the paper). Default 0.7.
	Threshold float64
	// TopK is how many most similar instructions a Result lists. Default 10.
	TopK int
	// MaxOnReject lists, for a rejected instruction, only the instruction
	// of highest score (the earliest among equal scores) instead of the top
	// K; Max and Novel are unchanged and a kept instruction still lists its
	// top K. Once one score is above the threshold the search then only
	// has to prove the maximum, which prunes far harder than a K-th best
	// does. Off by default: Self-Instruct's code records nothing for a
	// rejected instruction, but synthloop's records carry the full list.
	MaxOnReject bool
	// StopOnReject ends the search of a rejected instruction at the first
	// score above the threshold it meets: Max is then that score, a score
	// above the threshold but not necessarily the highest, and Similar
	// lists that one instruction. Novel is unchanged (the reference's
	// decision), and a kept instruction still gets its exact Max and top
	// K. The search tries the likeliest instructions first, so the one met
	// is often the closest. Off by default. With MeanExact, which scores
	// every instruction anyway, it changes nothing.
	StopOnReject bool
	// Mean and MeanSamples choose the mean similarity recorded (see MeanMode).
	Mean        MeanMode
	MeanSamples int
	// Tokenizer is used by AddText and CheckText. Default RougeTokenizer.
	Tokenizer Tokenizer
}

// stops reports whether a rejected instruction's search ends at its first
// score above the threshold: StopOnReject, unless MeanExact scores every
// instruction anyway.
func (o Options) stops() bool { return o.StopOnReject && o.Mean != MeanExact }

func (o Options) withDefaults() (Options, error) {
	if o.Threshold == 0 {
		o.Threshold = DefaultThreshold
	}
	if o.TopK == 0 {
		o.TopK = DefaultTopK
	}
	if o.MeanSamples == 0 {
		o.MeanSamples = DefaultMeanSamples
	}
	if o.Tokenizer == nil {
		o.Tokenizer = RougeTokenizer{}
	}
	switch {
	case math.IsNaN(o.Threshold) || o.Threshold < 0 || o.Threshold > 1:
		return o, fmt.Errorf("text: novelty threshold %v outside [0, 1]", o.Threshold)
	case o.TopK < 0:
		return o, fmt.Errorf("text: novelty top-k %d is negative", o.TopK)
	case o.MeanSamples < 0:
		return o, fmt.Errorf("text: novelty mean samples %d is negative", o.MeanSamples)
	case o.Mean < MeanSampled || o.Mean > MeanNone:
		return o, fmt.Errorf("text: unknown mean mode %d", o.Mean)
	}
	return o, nil
}

// Match is one instruction of the index and its similarity to a query.
type Match struct {
	ID    int     // position in the index, in Add order
	Text  string  // the instruction as added
	Score float64 // ROUGE-L F-measure
}

// Mean is the mean ROUGE-L F of a query against every instruction in the
// index (instructions sharing no token count as 0), exact or estimated.
type Mean struct {
	Value   float64
	Exact   bool    // computed over the whole index
	Samples int     // instructions scored for it; the index size when exact
	StdErr  float64 // standard error of an estimate; 0 when exact
}

// Result is the outcome of checking one instruction against the index.
type Result struct {
	// Max is the highest ROUGE-L F against the index, 0 when it is empty.
	Max float64
	// Novel is Max <= Threshold: keep the instruction.
	Novel bool
	// Similar lists up to TopK instructions with F > 0, by descending score
	// and, among equal scores, ascending ID (the earlier instruction first).
	Similar []Match
	// Mean is set unless the mode is MeanNone.
	Mean *Mean
	// Scored counts the LCS computations of the search, not counting the
	// mean's sample (profiling: BruteForce scores every instruction).
	Scored int
}

// eps widens every pruning bound. A bound and a score are both floating-
// point values of rationals 2L/(m+n); when the rationals are equal the
// floats may still differ in the last bit, so pruning waits until a bound
// is below the threshold by far more than rounding can explain (scores are
// ≥ 2.5e-7 apart unless the rationals are equal, for texts under 10^3 tokens;
// for longer ones the margin only makes pruning more cautious).
const eps = 1e-12

// Tuning of the candidate search; they change speed, never results.
const (
	// regDF is the posting-list length at which a token gets a bit in every
	// instruction's signature (while bits last). Such common tokens are then
	// never scanned through their posting lists.
	regDF = 128
	// sigWords is the signature size in 64-bit words: 256 common tokens.
	sigWords = 4
	// warmUpDF: before scanning a posting list longer than this (only
	// possible once the signature bits are used up), the instructions that
	// look most similar so far are scored, so the K-th best score is
	// already high when the long scans start.
	warmUpDF = 256
	// maxBucket caps the length buckets; longer instructions share the last.
	maxBucket = 255
)

// Index is the Self-Instruct novelty filter: it holds the seed instructions
// and every kept instruction, and tells whether a new one is novel, with its
// maximum ROUGE-L F, its most similar instructions and a mean similarity.
// Its decisions, maximum scores and top-K lists are identical to BruteForce
// (tested on 20,000 generated instructions); it gets there by pruning, not
// by approximation. The F of an LCS of L tokens between texts of m and n
// tokens is 2L/(m+n) and L is at most the multiset intersection of their
// tokens, so any bound on that overlap bounds F:
//
//  1. tokens are interned to ints. A token gets a posting list of the
//     instructions containing it, with counts; once it is common (in
//     regDF instructions) it also gets a bit in a per-instruction signature
//     of common tokens, up to 256 of them;
//  2. the query's uncommon tokens are scanned rarest first through their
//     posting lists, accumulating the exact overlap of each instruction
//     met; instructions sharing no token are never met;
//  3. every instruction met is bounded by that overlap, plus the common
//     tokens it shares with the query (an AND and a popcount on its
//     signature), plus the uncommon tokens left unscanned; they are scored
//     with a bit-parallel LCS (Hyyrö 2004) in order of decreasing bound, so
//     the likeliest come first and set a high K-th best score, until the
//     bound falls below that score;
//  4. the instructions not met are visited by length, the query's own
//     length first (lengths from maxBucket on share the last bucket, which
//     a longer query visits first). A length is skipped when even sharing every common
//     token could not reach the K-th best. Otherwise bit-sliced signatures
//     count the query's common tokens in 64 instructions per word
//     operation (skipping words whose union of signatures falls short, and
//     bounding the instructions of a sparse word one by one), and
//     instructions are scored by decreasing count while the count can
//     still reach the K-th best.
//
// If the common tokens outnumber the signature bits, the rest are scanned
// as uncommon ones, after scoring the best candidates met so far (warm-up).
//
// The work per check still grows with the index (step 4 reads the union
// of every 64-instruction word of a plausible length, and counts in most
// of those words), so a pass over N
// instructions stays quadratic, with a far smaller constant than scoring
// every pair; the filter benchmarks give the numbers.
//
// Check does not change the index; call Add for each kept instruction, in
// order, so that one kept earlier in a batch counts against later ones.
// An Index is safe for concurrent use, but decisions depend on the order of
// Adds, so a filter that must be reproducible calls it from one goroutine.
type Index struct {
	mu  sync.Mutex
	opt Options

	vocab  map[string]int32
	lists  []postings // by token id
	docOff []int32    // instruction i is toks[docOff[i]:docOff[i+1]]
	toks   []int32
	texts  []string
	sig    [][sigWords]uint64     // per instruction: its common tokens
	byLen  [maxBucket + 1][]int32 // instructions by min(length, maxBucket)
	pos    []int32                // per instruction: its index in byLen
	// slices[n][b] is a bitset over byLen[n]: which instructions of that
	// length hold common token b. Counting a query's common tokens across
	// these bit-sliced signatures tests 64 instructions per word operation.
	slices [maxBucket + 1][][]uint64
	// union[n][w] is the OR of the signatures of the 64 instructions in
	// word w of byLen[n]: a word whose union cannot hold enough of the
	// query's common tokens is skipped whole.
	union [maxBucket + 1][][sigWords]uint64
	nbits int // signature bits handed out

	// Tuning, from the constants; tests shrink them to reach every path.
	regDF, maxBits, warmUpDF int
	// floor: with StopOnReject, prune against the threshold as well as the
	// K-th best, so a kept instruction only proves that every score is at
	// most the threshold (its Max and list are then whatever the search
	// happened to score: a lower bound). Measured, not offered: it is the
	// cheapest decision-only search but grows faster (BENCHMARKS.md).
	floor bool
	// perDoc is perDocCost; tests set it to 0 or to a huge value to send
	// every word of the bit-sliced count to one path.
	perDoc int

	// Scratch state of Check, reused to keep checks allocation-light.
	acc      []int32 // per instruction: overlap so far; 0 not met; -1 scored
	slot     []int32 // per token id: symbol in the current query, or -1
	pat      pattern
	touched  []int32
	cands    []cand
	qtoks    []qtok
	uncommon []qtok
	ids      []int32
	hist     []int
	cnt      []uint64
	any      []uint64
	ws       []int32
	hits     []hit
	addBS    [][]uint64
	dense    []denseWord
	planeBuf []uint64
}

type posting struct {
	doc int32
	cnt int32 // occurrences of the token in doc
}

type postings struct {
	all []posting
	bit int16 // signature bit, or -1
}

type qtok struct {
	id  int32
	cnt int32
	df  int
}

type cand struct {
	doc int32
	ub  float64
}

// query is what Check knows of its query beyond the pattern.
type query struct {
	m      int
	mask   [sigWords]uint64 // signature bits of its common tokens
	extra  []qtok           // common tokens it holds more than once (id = bit)
	bits   []qtok           // all its common tokens (id = bit) with counts
	common int              // occurrences of common tokens in it
}

// sigOverlap bounds the overlap of an instruction's common tokens with the
// query's: the query's count of every common token the instruction holds.
func (q *query) sigOverlap(sig *[sigWords]uint64) int {
	n := 0
	for w := range sigWords {
		n += bits.OnesCount64(sig[w] & q.mask[w])
	}
	for _, e := range q.extra {
		if sig[e.id/64]&(1<<(uint(e.id)%64)) != 0 {
			n += int(e.cnt) - 1
		}
	}
	return n
}

// NewIndex returns an empty index.
func NewIndex(opts Options) (*Index, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Index{opt: o, vocab: make(map[string]int32), docOff: []int32{0},
		regDF: regDF, maxBits: sigWords * 64, warmUpDF: warmUpDF, perDoc: perDocCost}, nil
}

// Len returns the number of instructions in the index.
func (x *Index) Len() int {
	x.mu.Lock()
	defer x.mu.Unlock()
	return len(x.texts)
}

// Text returns the instruction with the given ID.
func (x *Index) Text(id int) string {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.texts[id]
}

// Options returns the options in effect, defaults filled in.
func (x *Index) Options() Options { return x.opt }

// AddText tokenizes text with the index's tokenizer and adds it.
func (x *Index) AddText(text string) int {
	return x.Add(text, x.opt.Tokenizer.Tokens(text))
}

// CheckText tokenizes text with the index's tokenizer and checks it.
func (x *Index) CheckText(text string) Result {
	return x.Check(x.opt.Tokenizer.Tokens(text))
}

// Add appends an instruction with its tokens and returns its ID. It does not
// check novelty: seeds are added unconditionally, generated instructions
// after a Check said they are novel.
func (x *Index) Add(text string, tokens []string) int {
	x.mu.Lock()
	defer x.mu.Unlock()
	d := int32(len(x.texts))
	x.texts = append(x.texts, text)
	start := len(x.toks)
	for _, t := range tokens {
		id, ok := x.vocab[t]
		if !ok {
			id = int32(len(x.lists))
			x.vocab[t] = id
			x.lists = append(x.lists, postings{bit: -1})
			x.slot = append(x.slot, -1)
		}
		x.toks = append(x.toks, id)
	}
	x.docOff = append(x.docOff, int32(len(x.toks)))
	x.acc = append(x.acc, 0)
	x.sig = append(x.sig, [sigWords]uint64{})
	sorted := append(x.ids[:0], x.toks[start:]...)
	slices.Sort(sorted)
	x.ids = sorted
	x.pos = append(x.pos, x.place(d, min(len(tokens), maxBucket)))
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j] == sorted[i] {
			j++
		}
		pl := &x.lists[sorted[i]]
		pl.all = append(pl.all, posting{doc: d, cnt: int32(j - i)})
		switch {
		case pl.bit >= 0:
			x.setBit(d, pl.bit)
		case len(pl.all) >= x.regDF && x.nbits < x.maxBits:
			// The token just became common: give it a bit and mark every
			// instruction holding it, once.
			pl.bit = int16(x.nbits)
			x.nbits++
			for _, p := range pl.all {
				x.setBit(p.doc, pl.bit)
			}
		}
		i = j
	}
	return int(d)
}

// place gives instruction d a slot in length bucket n and returns it.
func (x *Index) place(d int32, n int) int32 {
	if n == 0 {
		return 0
	}
	bl := &x.byLen[n]
	*bl = append(*bl, d)
	if len(*bl)%64 == 1 {
		x.union[n] = append(x.union[n], [sigWords]uint64{})
	}
	return int32(len(*bl) - 1)
}

func (x *Index) setBit(d int32, bit int16) {
	x.sig[d][bit/64] |= 1 << (uint(bit) % 64)
	n := min(x.docLen(d), maxBucket)
	sl := &x.slices[n]
	if *sl == nil {
		*sl = make([][]uint64, sigWords*64)
	}
	bs := &(*sl)[bit]
	w := int(x.pos[d]) / 64
	x.union[n][w][bit/64] |= 1 << (uint(bit) % 64)
	for len(*bs) <= w {
		*bs = append(*bs, 0)
	}
	(*bs)[w] |= 1 << (uint(x.pos[d]) % 64)
}

func (x *Index) docLen(d int32) int { return int(x.docOff[d+1] - x.docOff[d]) }

// topK keeps the best matches by (score desc, id asc).
type topK struct {
	k  int
	ms []Match
	// narrow: once the best score is above threshold, keep only the best
	// (Options.MaxOnReject).
	narrow    bool
	threshold float64
	// stop: once a score is above threshold, the search is over
	// (Options.StopOnReject); done records that it is.
	stop, done bool
	// atMost: every bound ≤ atMost prunes. It is 0 (a score of 0 is no
	// match), or just below the threshold less eps with Index.floor, or
	// +Inf once done, so one comparison covers the three.
	atMost float64
}

func (t *topK) full() bool { return len(t.ms) >= t.k }

// prunes reports whether a candidate whose score is at most ub can be
// skipped: its score would be 0, or below the K-th best by more than eps.
func (t *topK) prunes(ub float64) bool {
	if ub <= t.atMost {
		return true
	}
	return t.full() && ub < t.ms[t.k-1].Score-eps
}

func (t *topK) offer(id int, score float64) {
	if score <= 0 {
		return
	}
	if t.full() {
		last := t.ms[len(t.ms)-1]
		if score < last.Score || (score == last.Score && id > last.ID) {
			return
		}
		t.ms = t.ms[:len(t.ms)-1]
	}
	i := len(t.ms)
	for i > 0 && (t.ms[i-1].Score < score || (t.ms[i-1].Score == score && t.ms[i-1].ID > id)) {
		i--
	}
	t.ms = slices.Insert(t.ms, i, Match{ID: id, Score: score})
	if (t.narrow || t.stop) && t.ms[0].Score > t.threshold {
		t.k, t.ms = 1, t.ms[:1]
		if t.stop {
			t.done, t.atMost = true, math.Inf(1)
		}
	}
}

// Check scores tokens, a new instruction, against every instruction in the
// index. It does not add it.
func (x *Index) Check(tokens []string) Result {
	x.mu.Lock()
	defer x.mu.Unlock()
	m := len(tokens)
	N := len(x.texts)
	res := Result{}
	if m == 0 || N == 0 {
		// Every score is 0, so even the mean is exact for free.
		res.Novel = true
		if x.opt.Mean != MeanNone {
			res.Mean = &Mean{Exact: true, Samples: N}
		}
		return res
	}
	top := topK{k: max(x.opt.TopK, 1), narrow: x.opt.MaxOnReject, threshold: x.opt.Threshold}
	if x.opt.stops() {
		top.stop = true
		if x.floor {
			// ub < threshold-eps, as the K-th best prunes.
			top.atMost = math.Nextafter(x.opt.Threshold-eps, math.Inf(-1))
		}
	}
	q, qt, qids := x.prepare(tokens)

	// score computes the exact F of instruction d and offers it to the top
	// K; once the search is over it scores nothing (the count's levels
	// still hand it the rest of a level).
	score := func(d int32) float64 {
		if top.done {
			return 0
		}
		res.Scored++
		l := x.pat.lcs(x.toks[x.docOff[d]:x.docOff[d+1]], x.slot)
		f := fscore(l, x.docLen(d), m)
		top.offer(int(d), f)
		return f
	}

	var sum float64
	if x.opt.Mean == MeanExact {
		// The exact mean needs every score; sum them in ID order, as the
		// reference does, so the float sums agree.
		for d := range int32(N) {
			sum += score(d)
		}
	} else {
		x.search(q, qt, &top, score)
	}

	switch x.opt.Mean {
	case MeanExact:
		res.Mean = &Mean{Value: sum / float64(N), Exact: true, Samples: N}
	case MeanSampled:
		res.Mean = x.sampleMean(tokens, m)
	}
	for _, t := range qids {
		if t >= 0 {
			x.slot[t] = -1
		}
	}
	x.ids = qids

	for i := range top.ms {
		top.ms[i].Text = x.texts[top.ms[i].ID]
	}
	if x.opt.TopK > 0 {
		res.Similar = top.ms
	}
	if len(top.ms) > 0 {
		res.Max = top.ms[0].Score
	}
	res.Novel = res.Max <= x.opt.Threshold
	return res
}

// search finds the top K by the pruned search described on Index.
func (x *Index) search(q *query, qt []qtok, top *topK, score func(int32) float64) {
	m := q.m
	// bound is 2L/(m+n) for L = min(l, m, n), in one division rather than
	// fscore's three: the two differ by a few ulps, which eps absorbs.
	bound := func(l, n int) float64 { return float64(2*min(l, n, m)) / float64(m+n) }

	// rest is the number of occurrences in the query of the uncommon
	// tokens not scanned yet.
	rest := 0
	for _, t := range qt {
		rest += int(t.cnt)
	}
	touched := x.touched[:0]
	warmed := false
	for _, t := range qt {
		if top.prunes(bound(rest+q.common, rest+q.common)) {
			break // not even sharing every token left reaches the K-th best
		}
		if t.df > x.warmUpDF && !warmed {
			x.warmUp(q, touched, top, score)
			warmed = true
		}
		touched = x.accumulate(x.lists[t.id].all, t.cnt, touched)
		rest -= int(t.cnt)
	}

	// Bound every instruction met, and score those that may still matter,
	// by decreasing bound: the likeliest to be the most similar come first
	// and set a high K-th best score.
	cs := x.cands[:0]
	for _, d := range touched {
		if a := x.acc[d]; a > 0 {
			ub := bound(int(a)+q.sigOverlap(&x.sig[d])+rest, x.docLen(d))
			if !top.prunes(ub) {
				cs = append(cs, cand{d, ub})
			}
		}
	}
	x.cands = x.scoreCands(cs, top, score)

	x.walkLengths(q, q.common+rest, rest, top, bound, score)
	for _, d := range touched {
		x.acc[d] = 0
	}
	x.touched = touched
}

// walkLengths visits the instructions the scan of uncommon tokens did not
// meet, bucket by bucket of length, and scores those that may still reach
// the K-th best. most is the largest overlap any of them can have with the
// query; rest the uncommon query tokens left unscanned.
func (x *Index) walkLengths(q *query, most, rest int, top *topK, bound func(l, n int) float64, score func(int32) float64) {
	m := q.m
	// Visit the instructions not met by length, lengths nearest the
	// query's first: similar instructions have similar lengths, so the K-th
	// best rises early and prunes the later lengths harder. The walk
	// centres on the query's bucket, not its length: centred on a length
	// above maxBucket it would reach neither the last bucket nor, more
	// than maxBucket below the length, the shortest ones, and a long
	// query sharing only common tokens would miss its exact duplicate.
	// From a centre in [1, maxBucket], 2·maxBucket steps cover every
	// bucket once.
	centre := min(m, maxBucket)
	for i := 0; i < 2*maxBucket; i++ {
		n := centre + (i+1)/2
		if i%2 == 1 {
			n = centre - (i+1)/2
		}
		if n < 1 || n > maxBucket {
			continue
		}
		best := n
		if n == maxBucket {
			best = max(maxBucket, min(most, m))
		}
		if top.prunes(bound(most, best)) {
			continue
		}
		docs := x.byLen[n]
		if n == maxBucket {
			// Lengths differ within the last bucket: bound each one.
			x.scoreUnmet(q, docs, rest, top, bound, score)
			continue
		}
		// need is the overlap an instruction of this length must have to
		// survive: the smallest L that the bound does not prune. Comparing
		// integers keeps the division out of the loop over instructions.
		need := 1
		for need <= most && top.prunes(bound(need, n)) {
			need++
		}
		if need <= rest {
			// Cannot happen (the scan of uncommon tokens stops before
			// rest alone can reach the K-th best, and otherwise rest is 0),
			// but if it did, every instruction of this length would be a
			// candidate: bound them one by one.
			x.scoreUnmet(q, docs, rest, top, bound, score)
			continue
		}
		// Score by decreasing count of common tokens, which here is
		// decreasing bound, level by level while a level can still reach
		// the K-th best score (which rises as they are scored).
		x.countCommon(q, n, need-rest, func(c int) bool {
			return !top.prunes(bound(c+rest, n))
		}, func(d int32) {
			if x.acc[d] == 0 { // not met: met ones were bounded above
				score(d)
			}
		})
	}
}

// scoreUnmet bounds each instruction of docs not met by the scan, and scores
// those whose bound the K-th best does not prune.
func (x *Index) scoreUnmet(q *query, docs []int32, rest int, top *topK, bound func(l, n int) float64, score func(int32) float64) {
	cs := x.cands[:0]
	for _, d := range docs {
		if x.acc[d] == 0 {
			if ub := bound(q.sigOverlap(&x.sig[d])+rest, x.docLen(d)); !top.prunes(ub) {
				cs = append(cs, cand{d, ub})
			}
		}
	}
	x.cands = x.scoreCands(cs, top, score)
}

// countCommon visits the instructions of length bucket n by the number of
// the query's common tokens they hold (with the query's multiplicity),
// highest first, down to k ≥ 1: for each count c, while level(c) is true,
// it calls fn for every instruction holding exactly c (in byLen order).
//
// Three filters come before any counting, each exact:
//   - a 64-instruction word whose union of signatures holds fewer than k
//     of the query's common tokens is skipped whole;
//   - an instruction holding k of the query's c common tokens holds one of
//     any c-k+1 of them, so the bitsets of the rarest c-k+1 are ORed and
//     only the instructions in that OR are counted;
//   - in a word where few are left, each is counted by its signature (an
//     AND and a popcount, like sigOverlap); otherwise the query's bitsets
//     are added into bit-sliced counters, 64 instructions at a time, and
//     the counters compared with k bit-serially.
//
// The instructions counting k or more are then selected level by level,
// so those below the last level visited cost nothing beyond the counting.
func (x *Index) countCommon(q *query, n, k int, level func(c int) bool, fn func(d int32)) {
	docs := x.byLen[n]
	sl := x.slices[n]
	if k > q.common || sl == nil {
		return
	}
	planes := bits.Len(uint(q.common))
	W := (len(docs) + 63) / 64
	// ws: the words whose union holds at least k of the query's common
	// tokens (with multiplicity); the others hold no instruction that can.
	ws := x.ws[:0]
	un := x.union[n]
	for w := range W {
		if q.sigOverlap(&un[w]) >= k {
			ws = append(ws, int32(w))
		}
	}
	x.ws = ws
	if len(ws) == 0 {
		return
	}
	// any[w]: instructions in word w holding one of the rarest tokens.
	any := slices.Grow(x.any[:0], W)[:W]
	for _, w := range ws {
		any[w] = 0
	}
	x.any = any
	for i, mass := 0, 0; mass < q.common-k+1; i++ {
		b := q.bits[i]
		mass += int(b.cnt)
		bs := sl[b.id]
		for _, w := range ws {
			if int(w) < len(bs) {
				any[w] |= bs[w]
			}
		}
	}
	// The bitsets to add, one per occurrence of a common token in the query.
	add := x.addBS[:0]
	for _, b := range q.bits {
		for range b.cnt {
			add = append(add, sl[b.id])
		}
	}
	x.addBS = add
	cnt := slices.Grow(x.cnt[:0], planes)[:planes]
	x.cnt = cnt
	hits, dense, planeBuf := x.hits[:0], x.dense[:0], x.planeBuf[:0]
	most := 0 // the highest count of any of them
	for _, w := range ws {
		a := any[w]
		if a == 0 {
			continue
		}
		if bits.OnesCount64(a)*x.perDoc < len(add)*perTokenCost {
			// Few instructions left in this word: bound each by its signature.
			for ; a != 0; a &= a - 1 {
				d := docs[int(w)*64+bits.TrailingZeros64(a)]
				if c := q.sigOverlap(&x.sig[d]); c >= k {
					hits = append(hits, hit{count: int32(c), doc: d})
					most = max(most, c)
				}
			}
			continue
		}
		// cnt[p] is bit p of the count of each instruction in the word.
		if planes <= 4 {
			// The usual case, counts below 16: four counters in registers,
			// added to without branches.
			var c0, c1, c2, c3 uint64
			for _, bs := range add {
				if int(w) < len(bs) {
					v := bs[w] & a
					t := c0 & v
					c0 ^= v
					u := c1 & t
					c1 ^= t
					c3 ^= c2 & u // the count is below 16: nothing carries out
					c2 ^= u
				}
			}
			copy(cnt, []uint64{c0, c1, c2, c3})
		} else {
			clear(cnt)
			for _, bs := range add {
				if int(w) >= len(bs) {
					continue
				}
				v := bs[w] & a
				for p := 0; v != 0 && p < len(cnt); p++ {
					cnt[p], v = cnt[p]^v, cnt[p]&v
				}
			}
		}
		// Keep the instructions counting k or more, comparing the
		// counters with k bit-serially from the top plane.
		gt, eq := uint64(0), a
		for p := planes - 1; p >= 0; p-- {
			if k>>p&1 == 1 {
				eq &= cnt[p]
			} else {
				gt |= eq & cnt[p]
				eq &^= cnt[p]
			}
		}
		if ge := gt | eq; ge != 0 {
			dense = append(dense, denseWord{w: w, ge: ge})
			planeBuf = append(planeBuf, cnt...)
			// The highest count in the word, bit-serially.
			top, in := 0, ge
			for p := planes - 1; p >= 0; p-- {
				if in&cnt[p] != 0 {
					in &= cnt[p]
					top |= 1 << p
				}
			}
			most = max(most, top)
		}
	}
	x.hits, x.dense, x.planeBuf = hits, dense, planeBuf
	ndense := 0
	for _, dw := range dense {
		ndense += bits.OnesCount64(dw.ge)
	}
	if len(hits)+ndense <= fewHits {
		// Few: take each count out of the counters and sort them all by
		// count, stably, by insertion (three per call on average at
		// 50,000 instructions of the project's data).
		for i, dw := range dense {
			for ge := dw.ge; ge != 0; ge &= ge - 1 {
				b := uint(bits.TrailingZeros64(ge))
				v := 0
				for p, cp := range planeBuf[i*planes : i*planes+planes] {
					v |= int(cp>>b&1) << p
				}
				hits = append(hits, hit{count: int32(v), doc: docs[int(dw.w)*64+int(b)]})
			}
		}
		x.hits = hits
		for i := 1; i < len(hits); i++ {
			h := hits[i]
			j := i
			for ; j > 0 && hits[j-1].count < h.count; j-- {
				hits[j] = hits[j-1]
			}
			hits[j] = h
		}
		last := int32(-1)
		for _, h := range hits {
			if h.count != last {
				if !level(int(h.count)) {
					return
				}
				last = h.count
			}
			fn(h.doc)
		}
		return
	}
	// Visit them by decreasing count: at each count, those bounded one by
	// one, then those of the counted words, by position. Counts use the
	// query's multiplicity, so they can exceed n. Both lists are short and
	// most levels below the first few are never visited (the K-th best
	// rises as they are scored), so each level is selected when reached.
	for c := most; c >= k && level(c); c-- {
		for _, h := range hits {
			if int(h.count) == c {
				fn(h.doc)
			}
		}
		for i, dw := range dense {
			eq := dw.ge
			for p, v := range planeBuf[i*planes : i*planes+planes] {
				if c>>p&1 == 1 {
					eq &= v
				} else {
					eq &^= v
				}
			}
			for ; eq != 0; eq &= eq - 1 {
				fn(docs[int(dw.w)*64+bits.TrailingZeros64(eq)])
			}
		}
	}
}

// denseWord is a word of a length bucket counted in bit-sliced counters:
// ge marks its instructions counting k or more.
type denseWord struct {
	w  int32
	ge uint64
}

type hit struct{ count, doc int32 }

// Rough instruction costs for choosing, word by word, between bounding
// each instruction by its signature and counting the whole word.
const (
	fewHits      = 16
	perDocCost   = 24
	perTokenCost = 10
)

// accumulate adds the query's count q of one token to the overlap of each
// instruction in ps that is not scored yet, appending those met for the
// first time to touched.
func (x *Index) accumulate(ps []posting, q int32, touched []int32) []int32 {
	acc := x.acc
	for _, p := range ps {
		a := acc[p.doc]
		if a < 0 {
			continue
		}
		if a == 0 {
			touched = append(touched, p.doc)
		}
		acc[p.doc] = a + min(q, p.cnt)
	}
	return touched
}

// prepare interns the query and builds its bit-parallel pattern and slots.
// It returns the query's common-token summary and its distinct uncommon
// tokens, rarest first. Tokens the index has never seen match nothing and
// only count in m.
func (x *Index) prepare(tokens []string) (*query, []qtok, []int32) {
	q := &query{m: len(tokens)}
	all := x.qtoks[:0]
	qids := x.ids[:0]
	for _, t := range tokens {
		id, ok := x.vocab[t]
		if !ok {
			id = -1
		}
		qids = append(qids, id)
	}
	for _, id := range qids {
		if id < 0 {
			continue
		}
		if s := x.slot[id]; s >= 0 {
			all[s].cnt++
			continue
		}
		x.slot[id] = int32(len(all))
		all = append(all, qtok{id: id, cnt: 1, df: len(x.lists[id].all)})
	}
	x.pat.reset(len(tokens), len(all))
	for i, id := range qids {
		if id >= 0 {
			x.pat.set(int(x.slot[id]), i)
		}
	}
	// Split off the common tokens; the pattern keeps its symbols as they
	// are, the list of uncommon ones is reordered.
	qt := x.uncommon[:0]
	for _, t := range all {
		if b := x.lists[t.id].bit; b >= 0 {
			q.mask[b/64] |= 1 << (uint(b) % 64)
			q.common += int(t.cnt)
			q.bits = append(q.bits, qtok{id: int32(b), cnt: t.cnt, df: t.df})
			if t.cnt > 1 {
				q.extra = append(q.extra, qtok{id: int32(b), cnt: t.cnt})
			}
			continue
		}
		qt = append(qt, t)
	}
	rarestFirst := func(a, b qtok) int {
		return cmp.Or(cmp.Compare(a.df, b.df), cmp.Compare(a.id, b.id))
	}
	slices.SortFunc(qt, rarestFirst)
	slices.SortFunc(q.bits, rarestFirst)
	x.qtoks, x.uncommon = all, qt
	return q, qt, qids
}

// warmUp scores the met instructions that share the most tokens with the
// query, and marks them scored (acc = -1): they are the likeliest to be the
// most similar, so the K-th best score is high before the long scans and
// the bounds are tested against it.
func (x *Index) warmUp(q *query, touched []int32, top *topK, score func(int32) float64) {
	want := 2 * top.k
	// Overlaps are small integers: count them to find the smallest overlap
	// that leaves at least want instructions at or above it.
	hist := x.hist[:0]
	key := func(d int32) int {
		if x.acc[d] < 0 {
			return -1
		}
		return int(x.acc[d]) + q.sigOverlap(&x.sig[d])
	}
	for _, d := range touched {
		if a := key(d); a >= 0 {
			for len(hist) <= a {
				hist = append(hist, 0)
			}
			hist[a]++
		}
	}
	cut, n := len(hist)-1, 0
	for ; cut > 0; cut-- {
		n += hist[cut]
		if n >= want {
			break
		}
	}
	clear(hist)
	x.hist = hist
	for _, d := range touched {
		if want == 0 {
			break
		}
		if key(d) >= max(cut, 1) {
			score(d)
			x.acc[d] = -1
			want--
		}
	}
}

// scoreCands scores candidates in order of decreasing bound until the bound
// falls below the K-th best score, which only rises as they are scored.
// Usually few are scored out of many, so the candidates are heapified in
// linear time and popped, rather than sorted.
func (x *Index) scoreCands(cs []cand, top *topK, score func(int32) float64) []cand {
	for i := len(cs)/2 - 1; i >= 0; i-- {
		siftDown(cs, i)
	}
	for len(cs) > 0 {
		c := cs[0]
		if top.prunes(c.ub) {
			break
		}
		score(c.doc)
		last := len(cs) - 1
		cs[0] = cs[last]
		cs = cs[:last]
		siftDown(cs, 0)
	}
	return cs[:0]
}

// before orders candidates by bound, highest first, then by ID, so the
// scoring order (and with it the Scored count) is deterministic.
func (a cand) before(b cand) bool {
	return a.ub > b.ub || (a.ub == b.ub && a.doc < b.doc)
}

func siftDown(h []cand, i int) {
	for {
		l := 2*i + 1
		if l >= len(h) {
			return
		}
		c := l
		if r := l + 1; r < len(h) && h[r].before(h[l]) {
			c = r
		}
		if !h[c].before(h[i]) {
			return
		}
		h[i], h[c] = h[c], h[i]
		i = c
	}
}

// sampleMean estimates the mean F from MeanSamples instructions drawn
// uniformly with replacement, or computes it exactly when the index is no
// larger than that. The sample is seeded by the query and the index size,
// so a rerun or a resumed run records the same value.
// It uses the query pattern Check has built.
func (x *Index) sampleMean(tokens []string, m int) *Mean {
	N := len(x.texts)
	S := x.opt.MeanSamples
	f := func(d int) float64 {
		l := x.pat.lcs(x.toks[x.docOff[d]:x.docOff[d+1]], x.slot)
		return fscore(l, x.docLen(int32(d)), m)
	}
	if N <= S {
		var sum float64
		for d := range N {
			sum += f(d)
		}
		return &Mean{Value: sum / float64(N), Exact: true, Samples: N}
	}
	h := fnv.New64a()
	for _, t := range tokens {
		h.Write([]byte(t))
		h.Write([]byte{0})
	}
	rng := rand.New(rand.NewPCG(h.Sum64(), uint64(N)))
	var sum, sq float64
	for range S {
		v := f(rng.IntN(N))
		sum += v
		sq += v * v
	}
	mean := sum / float64(S)
	mu := &Mean{Value: mean, Samples: S}
	if S > 1 {
		variance := max(0, (sq-float64(S)*mean*mean)/float64(S-1))
		mu.StdErr = math.Sqrt(variance / float64(S))
	}
	return mu
}
