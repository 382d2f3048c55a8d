package text

import (
	"slices"
	"sync"
)

// BruteForce is the reference novelty filter: what Self-Instruct does, one
// ROUGE-L score against every instruction in the pool, with no pruning. It
// exists to check Index against and to measure it by; its Mean is always
// exact. It is safe for concurrent use.
type BruteForce struct {
	// BitParallel scores with the bit-parallel LCS instead of the textbook
	// dynamic programme. Both give the same LCS (fuzz-tested); the DP is
	// the faithful reference, the bit-parallel one makes an all-pairs check
	// of 20,000 instructions fit in a test.
	BitParallel bool

	mu     sync.Mutex
	opt    Options
	texts  []string
	docs   [][]string
	arena  []int32 // interned tokens of every instruction, back to back
	off    []int32 // instruction i is arena[off[i]:off[i+1]]
	vocab  map[string]int32
	slot   []int32
	pat    pattern
	scores []float64
}

// NewBruteForce returns an empty reference filter.
func NewBruteForce(opts Options) (*BruteForce, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	return &BruteForce{opt: o, vocab: make(map[string]int32), off: []int32{0}}, nil
}

// Len returns the number of instructions held.
func (b *BruteForce) Len() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.texts)
}

// Add appends an instruction and returns its ID.
func (b *BruteForce) Add(text string, tokens []string) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, t := range tokens {
		id, ok := b.vocab[t]
		if !ok {
			id = int32(len(b.vocab))
			b.vocab[t] = id
			b.slot = append(b.slot, -1)
		}
		b.arena = append(b.arena, id)
	}
	b.off = append(b.off, int32(len(b.arena)))
	b.texts = append(b.texts, text)
	b.docs = append(b.docs, tokens)
	return len(b.texts) - 1
}

// Check scores tokens against every instruction held.
func (b *BruteForce) Check(tokens []string) Result {
	b.mu.Lock()
	defer b.mu.Unlock()
	scores := slices.Grow(b.scores[:0], len(b.docs))[:len(b.docs)]
	clear(scores)
	b.scores = scores
	if b.BitParallel && len(tokens) > 0 {
		b.scoreBitParallel(tokens, scores)
	} else {
		for i, d := range b.docs {
			scores[i] = RougeL(d, tokens).F
		}
	}
	res := Result{Scored: len(b.docs)}
	// Visiting IDs in increasing order, a match displaces another only on a
	// strictly higher score, so equal scores keep the earlier ID first.
	k := max(b.opt.TopK, 1)
	var top []Match
	var sum float64
	for i, f := range scores {
		sum += f
		if f <= 0 || (len(top) == k && f <= top[k-1].Score) {
			continue
		}
		if len(top) == k {
			top = top[:k-1]
		}
		j := len(top)
		for j > 0 && top[j-1].Score < f {
			j--
		}
		top = append(top, Match{})
		copy(top[j+1:], top[j:])
		top[j] = Match{ID: i, Text: b.texts[i], Score: f}
	}
	if len(top) > 0 {
		res.Max = top[0].Score
	}
	if b.opt.TopK > 0 {
		res.Similar = top
	}
	res.Novel = res.Max <= b.opt.Threshold
	if b.opt.MaxOnReject && !res.Novel && len(res.Similar) > 1 {
		res.Similar = res.Similar[:1]
	}
	if b.opt.stops() && !res.Novel {
		// The first score above the threshold in ID order, where a scan
		// that stops there would stop: a valid answer, seldom the index's.
		i := slices.IndexFunc(scores, func(f float64) bool { return f > b.opt.Threshold })
		res.Max, res.Similar = scores[i], nil
		if b.opt.TopK > 0 {
			res.Similar = []Match{{ID: i, Text: b.texts[i], Score: scores[i]}}
		}
	}
	if b.opt.Mean != MeanNone {
		res.Mean = &Mean{Exact: true, Samples: len(b.docs)}
		if len(b.docs) > 0 {
			res.Mean.Value = sum / float64(len(b.docs))
		}
	}
	return res
}

func (b *BruteForce) scoreBitParallel(tokens []string, scores []float64) {
	m := len(tokens)
	qids := make([]int32, m)
	nsym := 0
	for i, t := range tokens {
		id, ok := b.vocab[t]
		if !ok {
			qids[i] = -1
			continue
		}
		qids[i] = id
		if b.slot[id] < 0 {
			b.slot[id] = int32(nsym)
			nsym++
		}
	}
	b.pat.reset(m, nsym)
	for i, id := range qids {
		if id >= 0 {
			b.pat.set(int(b.slot[id]), i)
		}
	}
	for i := range scores {
		d := b.arena[b.off[i]:b.off[i+1]]
		if len(d) > 0 {
			scores[i] = fscore(b.pat.lcs(d, b.slot), len(d), m)
		}
	}
	for _, id := range qids {
		if id >= 0 {
			b.slot[id] = -1
		}
	}
}
