package text

import (
	"cmp"
	"fmt"
	"hash/fnv"
	"math"
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
	// instruction that shares a token with the new one, which turns the
	// pruned search back into a linear scan per check.
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
	// Mean and MeanSamples choose the mean similarity recorded (see MeanMode).
	Mean        MeanMode
	MeanSamples int
	// Tokenizer is used by AddText and CheckText. Default RougeTokenizer.
	Tokenizer Tokenizer
}

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
	// Scored counts the LCS computations this check needed (profiling).
	Scored int
}

// eps widens every pruning bound. A bound and a score are both floating-
// point values of rationals 2L/(m+n); when the rationals are equal the
// floats may still differ in the last bit, so pruning waits until a bound
// is below the threshold by far more than rounding can explain (scores are
// ≥ 1e-6 apart unless the rationals are equal, for texts under 10^3 tokens;
// for longer ones the margin only makes pruning more cautious).
const eps = 1e-12

// Tuning of the candidate search; they change speed, never results.
const (
	// warmUpDF: before visiting a posting list longer than this, the
	// instructions with the largest overlap so far are scored, so that the
	// K-th best score is high when the long lists of common tokens are
	// visited, and most of those lists can be skipped.
	warmUpDF = 256
	// bucketMin is the posting-list length from which a token's postings are
	// also kept bucketed by instruction length.
	bucketMin = 64
	// maxBucket caps the length buckets; longer instructions share the last.
	maxBucket = 255
	// lcsCost is roughly what one LCS costs in posting-list steps.
	lcsCost = 8
)

// Index is the Self-Instruct novelty filter: it holds the seed instructions
// and every kept instruction, and tells whether a new one is novel, with its
// maximum ROUGE-L F, its most similar instructions and a mean similarity.
// Its decisions, maximum scores and top-K lists are identical to BruteForce
// (tested on 20,000 generated instructions); it gets there by pruning, not
// by approximation. The F of an LCS of L tokens between texts of m and n
// tokens is 2L/(m+n), so any bound on L bounds F:
//
//  1. tokens are interned to ints, and each token has a posting list of the
//     instructions containing it, with counts, also bucketed by length;
//  2. the query's distinct tokens are visited rarest first, accumulating
//     for each instruction met the multiset intersection with the query so
//     far; an instruction sharing no token with the query is never met;
//  3. after the rare tokens, the instructions with the largest overlap are
//     scored first (bit-parallel LCS, Hyyrö 2004), which sets a high K-th
//     best score early;
//  4. for each common token, only the length buckets whose instructions
//     could still beat the K-th best score are visited (the length bound
//     2·min(L,m,n)/(m+n)), and the visit stops altogether once the tokens
//     left are too few to lift an instruction not met yet over it;
//  5. each instruction met is bounded by its overlap plus the tokens left,
//     and scored in order of decreasing bound until the bound falls below
//     the K-th best score.
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

	// Scratch state of Check, reused to keep checks allocation-light.
	acc     []int32 // per instruction: overlap so far; 0 not met; -1 scored
	slot    []int32 // per token id: symbol in the current query, or -1
	pat     pattern
	touched []int32
	cands   []cand
	qtoks   []qtok
	rest    []int
	ids     []int32
	hist    []int
	live    []int32
	liveN   [maxBucket + 1]int32
}

type posting struct {
	doc int32
	cnt uint16 // occurrences of the token in doc (saturating)
	n   uint16 // length bucket of doc: min(tokens, maxBucket)
}

type postings struct {
	all   []posting
	byLen [][]posting // by min(length, maxBucket), once len(all) > bucketMin
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

// NewIndex returns an empty index.
func NewIndex(opts Options) (*Index, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &Index{opt: o, vocab: make(map[string]int32), docOff: []int32{0}}, nil
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
			x.lists = append(x.lists, postings{})
			x.slot = append(x.slot, -1)
		}
		x.toks = append(x.toks, id)
	}
	x.docOff = append(x.docOff, int32(len(x.toks)))
	x.acc = append(x.acc, 0)

	sorted := append(x.ids[:0], x.toks[start:]...)
	slices.Sort(sorted)
	x.ids = sorted
	for i := 0; i < len(sorted); {
		j := i + 1
		for j < len(sorted) && sorted[j] == sorted[i] {
			j++
		}
		pl := &x.lists[sorted[i]]
		p := posting{doc: d, cnt: uint16(min(j-i, math.MaxUint16)), n: uint16(min(len(tokens), maxBucket))}
		pl.all = append(pl.all, p)
		switch {
		case pl.byLen != nil:
			pl.byLen = addBucket(pl.byLen, p)
		case len(pl.all) > bucketMin:
			for _, e := range pl.all {
				pl.byLen = addBucket(pl.byLen, e)
			}
		}
		i = j
	}
	return int(d)
}

func addBucket(b [][]posting, p posting) [][]posting {
	n := int(p.n)
	for len(b) <= n {
		b = append(b, nil)
	}
	b[n] = append(b[n], p)
	return b
}

func (x *Index) docLen(d int32) int { return int(x.docOff[d+1] - x.docOff[d]) }

// topK keeps the best matches by (score desc, id asc).
type topK struct {
	k  int
	ms []Match
}

func (t *topK) full() bool { return len(t.ms) >= t.k }

// floor is the K-th best score once K matches are known, 0 before.
func (t *topK) floor() float64 {
	if t.full() {
		return t.ms[t.k-1].Score
	}
	return 0
}

// prunes reports whether a candidate whose score is at most ub can be
// skipped: its score would be 0, or below the K-th best by more than eps.
func (t *topK) prunes(ub float64) bool {
	if ub <= 0 {
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
	top := topK{k: max(x.opt.TopK, 1)}
	qt, qids := x.prepare(tokens)
	// rest[k] is the number of query tokens from the k-th distinct one on:
	// an instruction first met at token k shares at most rest[k] with it.
	rest := slices.Grow(x.rest[:0], len(qt)+1)[:len(qt)+1]
	rest[len(qt)] = 0
	for k := len(qt) - 1; k >= 0; k-- {
		rest[k] = rest[k+1] + int(qt[k].cnt)
	}

	// score computes the exact F of instruction d and offers it to the top K.
	score := func(d int32) float64 {
		res.Scored++
		l := x.pat.lcs(x.toks[x.docOff[d]:x.docOff[d+1]], x.slot)
		f := fscore(l, x.docLen(d), m)
		top.offer(int(d), f)
		return f
	}
	// bound is 2L/(m+n) for L = min(l, m, n), in one division rather than
	// fscore's three: the two differ by a few ulps, which eps absorbs.
	bound := func(l, n int) float64 { return float64(2*min(l, n, m)) / float64(m+n) }

	// The exact mean needs every instruction sharing a token, so it turns
	// all pruning off.
	prune := x.opt.Mean != MeanExact
	touched := x.touched[:0]
	// live holds the met instructions that may still reach the K-th best,
	// once pruning has started; liveN counts them per length bucket.
	live := x.live[:0]
	triaged := false
	warmed := false
	k := 0
	for ; k < len(qt); k++ {
		r := rest[k]
		if prune && top.prunes(bound(r, r)) {
			break // no instruction not met yet can reach the K-th best
		}
		if prune && qt[k].df > warmUpDF && !warmed {
			x.warmUp(touched, &top, score)
			warmed = true
		}
		pl := &x.lists[qt[k].id]
		q := qt[k].cnt
		if !prune || pl.byLen == nil || !top.full() {
			touched = x.accumulate(pl.all, q, touched)
			continue
		}
		if !triaged {
			live = append(live, touched...)
			triaged = true
		}
		// Triage: an instruction met so far shares at most acc + r tokens
		// with the query; drop (acc = -1) those that cannot reach the K-th
		// best any more, and count the others by length.
		liveN := &x.liveN
		clear(liveN[:])
		j := 0
		for _, d := range live {
			a := x.acc[d]
			if a <= 0 {
				continue
			}
			n := x.docLen(d)
			if top.prunes(bound(int(a)+r, n)) {
				x.acc[d] = -1
				continue
			}
			live[j] = d
			j++
			liveN[min(n, maxBucket)]++
		}
		live = live[:j]
		// A length bucket must be visited if an instruction not met yet
		// could reach the K-th best (it shares at most r tokens), or to
		// update the live instructions in it. When those are few next to
		// the bucket, scoring them outright is cheaper than visiting it.
		direct := false
		start := len(touched)
		for n, ps := range pl.byLen {
			if n == 0 {
				continue
			}
			best := n
			if n == maxBucket {
				best = max(maxBucket, min(r, m))
			}
			switch {
			case !top.prunes(bound(r, best)):
				touched = x.accumulate(ps, q, touched)
			case liveN[n] == 0:
			case int(liveN[n])*lcsCost < len(ps):
				liveN[n] = -1 // score its live instructions below
				direct = true
			default:
				touched = x.accumulate(ps, q, touched)
			}
		}
		if direct {
			for _, d := range live {
				if x.acc[d] > 0 && liveN[min(x.docLen(d), maxBucket)] < 0 {
					score(d)
					x.acc[d] = -1
				}
			}
		}
		live = append(live, touched[start:]...)
	}
	x.live = live

	var sum float64 // exact mean: sum of the scores, in ID order
	if !prune {
		// Sum in ID order, as the reference does, so the float sums agree.
		slices.Sort(touched)
		for _, d := range touched {
			sum += score(d)
		}
	} else {
		r := rest[k]
		cs := x.cands[:0]
		for _, d := range touched {
			if a := x.acc[d]; a > 0 {
				if ub := bound(int(a)+r, x.docLen(d)); !top.prunes(ub) {
					cs = append(cs, cand{d, ub})
				}
			}
		}
		x.cands = x.scoreCands(cs, &top, score)
	}
	for _, d := range touched {
		x.acc[d] = 0
	}
	x.touched = touched

	switch x.opt.Mean {
	case MeanExact:
		res.Mean = &Mean{Value: sum / float64(N), Exact: true, Samples: N}
	case MeanSampled:
		res.Mean = x.sampleMean(tokens, m)
	}
	for _, q := range qt {
		x.slot[q.id] = -1
	}
	x.qtoks, x.ids, x.rest = qt, qids, rest

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
		c := int32(p.cnt)
		if p.cnt == math.MaxUint16 {
			c = q // saturated: min(q, count) is at most q
		}
		acc[p.doc] = a + min(q, c)
	}
	return touched
}

// prepare interns the query, lists its distinct known tokens rarest first,
// and builds its bit-parallel pattern and slots. Tokens the index has never
// seen match nothing and only count in m.
func (x *Index) prepare(tokens []string) ([]qtok, []int32) {
	qt := x.qtoks[:0]
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
			qt[s].cnt++
			continue
		}
		x.slot[id] = int32(len(qt))
		qt = append(qt, qtok{id: id, cnt: 1, df: len(x.lists[id].all)})
	}
	slices.SortFunc(qt, func(a, b qtok) int {
		return cmp.Or(cmp.Compare(a.df, b.df), cmp.Compare(a.id, b.id))
	})
	x.pat.reset(len(tokens), len(qt))
	for s, q := range qt {
		x.slot[q.id] = int32(s)
	}
	for i, id := range qids {
		if id >= 0 {
			x.pat.set(int(x.slot[id]), i)
		}
	}
	return qt, qids
}

// warmUp scores the met instructions with the largest overlap so far and
// marks them scored (acc = -1): they are the likeliest to be the most
// similar, so the K-th best score starts high.
func (x *Index) warmUp(touched []int32, top *topK, score func(int32) float64) {
	want := 2 * top.k
	// Overlaps are small integers: count them to find the smallest overlap
	// that leaves at least want instructions at or above it.
	hist := x.hist[:0]
	for _, d := range touched {
		a := int(x.acc[d])
		for len(hist) <= a {
			hist = append(hist, 0)
		}
		hist[a]++
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
		if int(x.acc[d]) >= cut {
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
