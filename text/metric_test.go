package text

import (
	"cmp"
	"fmt"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/cputime"
)

// TestMetricFeasibility measures whether a metric index could prune the
// novelty search (issue 13 item 7; BENCHMARKS.md, "A metric tree?"). It is
// a measurement at 10k and 50k instructions on request (on a pool of 2,000
// otherwise, as a check that the bounds are exact):
//
//	SYNTHLOOP_METRIC_FEASIBILITY=1 go test ./text -run TestMetricFeasibility -v -timeout 60m
//
// ROUGE-L F of token sequences of lengths m and n is 2L/(m+n), L their LCS,
// so F = 1 - d/(m+n) with d = m+n-2L, the indel distance (edit distance
// with insertions and deletions only), a metric. Any lower bound D on d,
// such as |d(q,v) - d(v,x)| for a pivot v by the triangle inequality, bounds
// F ≤ 1 - D/(m+n). For each data set and pool size it takes the pool the
// filter holds after n-1000 checks, 100 queries evenly over the next 1,000
// and every query kept among them, and counts, per query, how many pool
// instructions each scheme leaves to score at three floors known in advance
// (an oracle, the best case for any search): the threshold for the kept
// ones (what a kept query's decision must prove), the exact maximum (TopK
// 1) and the 10th best (the default) for the 100. It also prices the
// index's check on the same pool in LCS computations of CPU time. It fails if a scheme
// prunes an instruction whose score reaches the floor: the bounds must be
// exact for the counts to mean anything.
func TestMetricFeasibility(t *testing.T) {
	// Without the variable the same code runs on a small pool, so the
	// bounds' exactness is checked on every test run.
	sizes := []int{2000}
	if os.Getenv("SYNTHLOOP_METRIC_FEASIBILITY") != "" {
		sizes = []int{10000, 50000}
	}
	for _, ds := range []struct {
		name string
		data func(seed uint64, n int) []string
	}{{"project", generate}, {"paraphrases", paraphrases}} {
		for _, n := range sizes {
			metricFeasibility(t, ds.name, ds.data, n)
		}
	}
}

// metricEnv computes indel distances between interned token sequences.
type metricEnv struct {
	docs [][]int32
	slot []int32
	pat  pattern
	q    []int32
	lcsN int // LCS computations, for costs
}

func (e *metricEnv) setQuery(q []int32) {
	for _, id := range e.q {
		e.slot[id] = -1
	}
	e.q = q
	nsym := 0
	for _, id := range q {
		if e.slot[id] < 0 {
			e.slot[id] = int32(nsym)
			nsym++
		}
	}
	e.pat.reset(len(q), nsym)
	for i, id := range q {
		e.pat.set(int(e.slot[id]), i)
	}
}

func (e *metricEnv) dist(x []int32) int {
	e.lcsN++
	return len(e.q) + len(x) - 2*e.pat.lcs(x, e.slot)
}

// ubRange bounds F for a query of m tokens and any instruction with a
// length in [nlo, nhi] at indel distance at least D.
func ubRange(m, D, nlo, nhi int) float64 {
	best := 0.0
	for n := nlo; n <= nhi; n++ {
		d := max(D, abs(m-n))
		best = max(best, 1-float64(d)/float64(m+n))
	}
	return best
}

func abs(a int) int {
	if a < 0 {
		return -a
	}
	return a
}

// floors: a query's survivors at floor f are the instructions whose bound
// is > f (threshold) or ≥ f (max, 10th best: ties still matter).
type floorKind int

const (
	floorThr floorKind = iota
	floorMax
	floor10
	nFloors
)

var floorNames = [nFloors]string{"threshold (kept queries)", "exact max", "10th best"}

type qinfo struct {
	m      int
	floor  [nFloors]float64
	active [nFloors]bool // the threshold floor counts kept queries only
	scores []float64
	dists  []int
}

func (qi *qinfo) passes(f floorKind, ub float64) bool {
	if f == floorThr {
		return ub > qi.floor[f]
	}
	return ub >= qi.floor[f]-1e-9
}

// vpNode is a node of a vantage-point tree over pool positions: kid 0
// holds the instructions at distance ≤ the median from v, kid 1 the rest,
// each with the range of those distances and of their lengths.
type vpNode struct {
	v        int32
	kid      [2]int32
	dlo, dhi [2]int
	nlo, nhi [2]int
}

type vpTree struct {
	nodes []vpNode
	root  int32
}

func buildVP(e *metricEnv, items []int32, rng *rand.Rand) vpTree {
	t := vpTree{}
	t.root = t.build(e, items, rng)
	return t
}

func (t *vpTree) build(e *metricEnv, items []int32, rng *rand.Rand) int32 {
	if len(items) == 0 {
		return -1
	}
	i := rng.IntN(len(items))
	items[0], items[i] = items[i], items[0]
	v := items[0]
	rest := items[1:]
	e.setQuery(e.docs[v])
	type dx struct {
		d int
		x int32
	}
	ds := make([]dx, len(rest))
	for j, x := range rest {
		ds[j] = dx{e.dist(e.docs[x]), x}
	}
	slices.SortFunc(ds, func(a, b dx) int { return a.d - b.d })
	id := int32(len(t.nodes))
	t.nodes = append(t.nodes, vpNode{v: v, kid: [2]int32{-1, -1}})
	half := len(ds) / 2
	parts := [2][]dx{ds[:half], ds[half:]}
	var kids [2][]int32
	for k, p := range parts {
		if len(p) == 0 {
			continue
		}
		nd := &t.nodes[id]
		nd.dlo[k], nd.dhi[k] = p[0].d, p[len(p)-1].d
		nd.nlo[k], nd.nhi[k] = math.MaxInt, 0
		for _, q := range p {
			kids[k] = append(kids[k], q.x)
			nd.nlo[k] = min(nd.nlo[k], len(e.docs[q.x]))
			nd.nhi[k] = max(nd.nhi[k], len(e.docs[q.x]))
		}
	}
	for k := range 2 {
		c := t.build(e, kids[k], rng)
		t.nodes[id].kid[k] = c
	}
	return id
}

// search visits the tree for one query and floor; it returns the nodes
// visited (each an LCS) and checks no instruction reaching the floor is
// missed (the caller compares with the exact scores).
func (t *vpTree) search(qi *qinfo, f floorKind, visited map[int32]bool) int {
	cost := 0
	stack := []int32{t.root}
	for len(stack) > 0 {
		id := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if id < 0 {
			continue
		}
		nd := &t.nodes[id]
		cost++
		visited[nd.v] = true
		dq := qi.dists[nd.v]
		for k := range 2 {
			if nd.kid[k] < 0 {
				continue
			}
			D := max(0, dq-nd.dhi[k], nd.dlo[k]-dq)
			if qi.passes(f, ubRange(qi.m, D, nd.nlo[k], nd.nhi[k])) {
				stack = append(stack, nd.kid[k])
			}
		}
	}
	return cost
}

// farthestFirst picks p pivots among items: a random one, then each time
// the item farthest from the pivots so far. It returns them with their
// distance rows over items.
func farthestFirst(e *metricEnv, items []int32, p int, rng *rand.Rand) ([]int32, [][]int) {
	p = min(p, len(items))
	var piv []int32
	var rows [][]int
	mind := make([]int, len(items))
	for i := range mind {
		mind[i] = math.MaxInt
	}
	next := rng.IntN(len(items))
	for range p {
		v := items[next]
		piv = append(piv, v)
		e.setQuery(e.docs[v])
		row := make([]int, len(items))
		for i, x := range items {
			row[i] = e.dist(e.docs[x])
			mind[i] = min(mind[i], row[i])
		}
		rows = append(rows, row)
		next = 0
		for i := range items {
			if mind[i] > mind[next] {
				next = i
			}
		}
	}
	return piv, rows
}

type schemeStat struct {
	lcs, bounds, surv, truth [nFloors]float64 // sums over active queries
	nq                       [nFloors]int
}

func metricFeasibility(t *testing.T, name string, data func(uint64, int) []string, n int) {
	seeds := data(99, 175)
	texts := data(7, n)
	tok := RougeTokenizer{}
	seedToks, toks := tokenizeAll(tok, seeds), tokenizeAll(tok, texts)

	// The pool after n-1000 checks, and the decisions, by the index.
	x := mustIndex(t, Options{Mean: MeanNone})
	var pool [][]string
	for i, s := range seeds {
		x.Add(s, seedToks[i])
		pool = append(pool, seedToks[i])
	}
	start := n - 1000
	for i := range start {
		if x.Check(toks[i]).Novel {
			x.Add(texts[i], toks[i])
			pool = append(pool, toks[i])
		}
	}
	// 100 queries evenly over the next 1,000 checks, for the maximum and
	// the 10th best, and every kept one among those 1,000 (kept against the
	// larger pool, so against this one too), for the threshold.
	var queries [][]string
	for i := range 100 {
		queries = append(queries, toks[start+10*i])
	}
	sampled := len(queries)
	y := mustIndex(t, Options{Mean: MeanNone, TopK: 1})
	for _, p := range pool {
		y.Add("", p)
	}
	for i := start; i < n; i++ {
		if y.Check(toks[i]).Novel {
			y.Add("", toks[i])
			queries = append(queries, toks[i])
		}
	}

	vocab := map[string]int32{}
	intern := func(ts []string) []int32 {
		out := make([]int32, len(ts))
		for i, s := range ts {
			id, ok := vocab[s]
			if !ok {
				id = int32(len(vocab))
				vocab[s] = id
			}
			out[i] = id
		}
		return out
	}
	e := &metricEnv{}
	for _, p := range pool {
		e.docs = append(e.docs, intern(p))
	}
	qdocs := make([][]int32, len(queries))
	for i, q := range queries {
		qdocs[i] = intern(q)
	}
	e.slot = slices.Repeat([]int32{-1}, len(vocab))
	N := len(pool)

	// Exact distances and floors of every query.
	qis := make([]*qinfo, len(queries))
	var dsum, dsq float64
	cpu0 := cputime.Process()
	for i, q := range qdocs {
		qi := &qinfo{m: len(q)}
		e.setQuery(q)
		for _, d := range e.docs {
			dd := e.dist(d)
			qi.dists = append(qi.dists, dd)
			f := 0.0
			if l := (len(q) + len(d) - dd) / 2; l > 0 {
				f = fscore(l, len(d), len(q))
			}
			qi.scores = append(qi.scores, f)
			dsum += float64(dd)
			dsq += float64(dd) * float64(dd)
		}
		s := slices.Clone(qi.scores)
		slices.SortFunc(s, func(a, b float64) int { return cmp.Compare(b, a) })
		qi.floor[floorThr] = DefaultThreshold
		qi.floor[floorMax] = max(s[0], 1e-6)
		qi.floor[floor10] = max(s[min(9, len(s)-1)], 1e-6)
		if i < sampled {
			qi.active[floorMax], qi.active[floor10] = true, true
		} else {
			if s[0] > DefaultThreshold {
				t.Fatalf("query %d was kept with a larger pool, scores %v here", i, s[0])
			}
			qi.active[floorThr] = true
		}
		qis[i] = qi
	}
	lcsCPU := (cputime.Process() - cpu0).Seconds() / float64(len(qdocs)*N)
	cnt := float64(len(queries) * N)
	mu := dsum / cnt
	sd := math.Sqrt(dsq/cnt - mu*mu)
	t.Logf("%s n=%d: pool %d, queries %d sampled + %d kept, indel distance mean %.1f sd %.1f, intrinsic dimension mu^2/(2 sd^2) %.1f, one LCS %.0f ns of CPU",
		name, n, N, sampled, len(queries)-sampled, mu, sd, mu*mu/(2*sd*sd), lcsCPU*1e9)

	// tally checks that a scheme keeps every instruction reaching the
	// floor and adds up its survivors (each an exact score when scored);
	// the caller adds its other costs.
	tally := func(st *schemeStat, scheme string, qi *qinfo, f floorKind, survives func(i int) bool, scored bool) {
		st.nq[f]++
		for i, s := range qi.scores {
			reach, surv := qi.passes(f, s), survives(i)
			if reach && !surv {
				t.Fatalf("%s %s: instruction %d scores %v, floor %v, pruned", scheme, floorNames[f], i, s, qi.floor[f])
			}
			if reach {
				st.truth[f]++
			}
			if surv {
				st.surv[f]++
				if scored {
					st.lcs[f]++
				}
			}
		}
	}
	var rows []string
	report := func(scheme string, st *schemeStat) {
		for f := range nFloors {
			k := float64(st.nq[f])
			rows = append(rows, fmt.Sprintf("| %s | %d | %s | %s | %.1f | %.0f | %.1f | %.0f |", name, n, scheme, floorNames[f],
				st.surv[f]/k, st.lcs[f]/k, st.truth[f]/k, st.bounds[f]/k))
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))

	// Length alone: |m - n| ≤ d.
	{
		st := &schemeStat{}
		for _, qi := range qis {
			for f := range nFloors {
				if !qi.active[f] {
					continue
				}
				surv := func(i int) bool { return qi.passes(f, ubRange(qi.m, 0, len(e.docs[i]), len(e.docs[i]))) }
				tally(st, "length", qi, f, surv, true)
				st.bounds[f] += float64(N)
			}
		}
		report("length only", st)
	}

	// The index's own bound for comparison: the multiset overlap of tokens
	// bounds the LCS. Its survivors are what its candidate search must
	// bound and may score; how it finds them is its cost, not counted here.
	{
		st := &schemeStat{}
		cnt := make([]int32, len(vocab))
		for _, qi := range qis {
			q := qdocs[slices.Index(qis, qi)]
			for _, id := range q {
				cnt[id]++
			}
			ov := make([]int, N)
			for i, d := range e.docs {
				seen := map[int32]int32{}
				for _, id := range d {
					if seen[id] < cnt[id] {
						seen[id]++
						ov[i]++
					}
				}
			}
			for _, id := range q {
				cnt[id] = 0
			}
			for f := range nFloors {
				if !qi.active[f] {
					continue
				}
				surv := func(i int) bool {
					n := len(e.docs[i])
					return qi.passes(f, float64(2*min(ov[i], n, qi.m))/float64(qi.m+n))
				}
				tally(st, "overlap", qi, f, surv, false)
			}
		}
		report("token overlap (the index's bound, not its cost)", st)
	}

	// LAESA: P pivots over the whole pool, farthest first.
	all := make([]int32, N)
	for i := range all {
		all[i] = int32(i)
	}
	for _, P := range []int{4, 16, 64} {
		piv, drow := farthestFirst(e, all, P, rng)
		st := &schemeStat{}
		for _, qi := range qis {
			for f := range nFloors {
				if !qi.active[f] {
					continue
				}
				surv := func(i int) bool {
					D := 0
					for p, v := range piv {
						D = max(D, abs(qi.dists[v]-drow[p][i]))
					}
					return qi.passes(f, ubRange(qi.m, D, len(e.docs[i]), len(e.docs[i])))
				}
				tally(st, "laesa", qi, f, surv, true)
				st.lcs[f] += float64(len(piv))
				st.bounds[f] += float64(N * len(piv))
			}
		}
		report(fmt.Sprintf("LAESA, %d pivots", P), st)
	}

	// LAESA per length bucket: P pivots drawn from each bucket; a bucket
	// its length alone prunes costs nothing.
	buckets := map[int][]int32{}
	for i, d := range e.docs {
		buckets[len(d)] = append(buckets[len(d)], int32(i))
	}
	for _, P := range []int{4, 16} {
		type bk struct {
			n     int
			items []int32
			piv   []int32
			drow  [][]int
		}
		var bks []bk
		for _, ln := range slices.Sorted(maps.Keys(buckets)) {
			items := buckets[ln]
			piv, drow := farthestFirst(e, items, P, rng)
			bks = append(bks, bk{ln, items, piv, drow})
		}
		st := &schemeStat{}
		for _, qi := range qis {
			for f := range nFloors {
				if !qi.active[f] {
					continue
				}
				keep := make([]bool, N)
				for _, b := range bks {
					if !qi.passes(f, ubRange(qi.m, 0, b.n, b.n)) {
						continue
					}
					st.lcs[f] += float64(len(b.piv))
					for j, x := range b.items {
						D := 0
						for p, v := range b.piv {
							D = max(D, abs(qi.dists[v]-b.drow[p][j]))
						}
						st.bounds[f] += float64(len(b.piv))
						keep[x] = qi.passes(f, ubRange(qi.m, D, b.n, b.n))
					}
				}
				tally(st, "laesa-bucket", qi, f, func(i int) bool { return keep[i] }, true)
			}
		}
		report(fmt.Sprintf("LAESA, %d pivots per length", P), st)
	}

	// A vantage-point tree (every node an instruction, its distance
	// computed when visited): the LCS count is the nodes visited.
	{
		vp := buildVP(e, slices.Clone(all), rng)
		st := &schemeStat{}
		for _, qi := range qis {
			for f := range nFloors {
				if !qi.active[f] {
					continue
				}
				visited := map[int32]bool{}
				c := vp.search(qi, f, visited)
				tally(st, "vp", qi, f, func(i int) bool { return visited[int32(i)] }, true)
				st.bounds[f] += float64(2 * c)
			}
		}
		report("VP-tree", st)
	}

	// The index on the same pool and queries: LCS per check.
	var idx []string
	for _, v := range []struct {
		name  string
		o     Options
		floor bool
	}{
		{"index, default", Options{Mean: MeanNone}, false},
		{"index, TopK 1", Options{Mean: MeanNone, TopK: 1}, false},
		{"index, StopOnReject TopK 1", Options{Mean: MeanNone, TopK: 1, StopOnReject: true}, false},
		{"index, decision only", Options{Mean: MeanNone, TopK: 1, StopOnReject: true}, true},
	} {
		y := mustIndex(t, v.o)
		y.floor = v.floor
		for i, p := range pool {
			y.Add(fmt.Sprint(i), p)
		}
		sc := 0
		for _, q := range queries[:sampled] {
			sc += y.Check(q).Scored
		}
		// Its whole cost per check in LCS equivalents, CPU time against
		// CPU time in this process.
		const reps = 20
		cpu0 := cputime.Process()
		for range reps {
			for _, q := range queries[:sampled] {
				y.Check(q)
			}
		}
		per := (cputime.Process() - cpu0).Seconds() / float64(reps*sampled)
		idx = append(idx, fmt.Sprintf("%s: %.1f LCS, whole check %.0f LCS-equivalents", v.name, float64(sc)/float64(sampled), per/lcsCPU))
	}
	t.Logf("%s n=%d, the index on the same pool and sampled queries: %s", name, n, strings.Join(idx, "; "))
	t.Logf("| data | n | scheme | floor | survivors | LCS per query | reaching the floor | bound evaluations |\n%s", strings.Join(rows, "\n"))
}
