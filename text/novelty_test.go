package text

import (
	"cmp"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// filterRun feeds instructions through a novelty filter the way
// Self-Instruct does: check each one, add it when novel.
type novelty interface {
	Check(tokens []string) Result
	Add(text string, tokens []string) int
}

func runFilter(f novelty, texts []string, toks [][]string) []Result {
	out := make([]Result, len(texts))
	for i := range texts {
		out[i] = f.Check(toks[i])
		if out[i].Novel {
			f.Add(texts[i], toks[i])
		}
	}
	return out
}

func tokenizeAll(tok Tokenizer, texts []string) [][]string {
	out := make([][]string, len(texts))
	for i, s := range texts {
		out[i] = tok.Tokens(s)
	}
	return out
}

// sameResult reports how got differs from the reference want, or "".
func sameResult(got, want Result) string {
	if got.Novel != want.Novel {
		return fmt.Sprintf("novel %v, reference %v", got.Novel, want.Novel)
	}
	if got.Max != want.Max {
		return fmt.Sprintf("max %v, reference %v", got.Max, want.Max)
	}
	if !slices.Equal(got.Similar, want.Similar) {
		return fmt.Sprintf("similar %v, reference %v", got.Similar, want.Similar)
	}
	return ""
}

// narrowed is what a filter with MaxOnReject returns where r is the full
// result: a rejected instruction lists only its most similar one.
func narrowed(r Result) Result {
	if !r.Novel && len(r.Similar) > 1 {
		r.Similar = r.Similar[:1]
	}
	return r
}

// stoppedResult reports how got, from a filter with StopOnReject and top
// k, breaks the option's contract where want is the full reference result
// (top k or more) for the query q, or "". The decision must be the
// reference's; a rejected query lists one instruction above the threshold
// with its true score (ROUGE-L by the DP) as Max; a kept one gets the
// reference's Max and top k, unless floor (Index.floor): then it only
// lists true scores, none above the reference's maximum.
func stoppedResult(got, want Result, q []string, threshold float64, k int, floor bool) string {
	if got.Novel != want.Novel {
		return fmt.Sprintf("novel %v, reference %v", got.Novel, want.Novel)
	}
	if got.Novel && !floor {
		want.Similar = want.Similar[:min(k, len(want.Similar))]
		return sameResult(got, want)
	}
	if !got.Novel && (len(got.Similar) != 1 || got.Max <= threshold) {
		return fmt.Sprintf("rejected with max %v, similar %v: want one above %v", got.Max, got.Similar, threshold)
	}
	if got.Max > want.Max || len(got.Similar) > k {
		return fmt.Sprintf("max %v, %d similar: reference max %v, top %d", got.Max, len(got.Similar), want.Max, k)
	}
	if len(got.Similar) > 0 && got.Similar[0].Score != got.Max {
		return fmt.Sprintf("max %v, first similar %v", got.Max, got.Similar[0])
	}
	for _, s := range got.Similar {
		if f := RougeL(RougeTokenizer{}.Tokens(s.Text), q).F; s.Score != f {
			return fmt.Sprintf("similar %v: its score is %v", s, f)
		}
	}
	return ""
}

func mustIndex(t testing.TB, o Options) *Index {
	t.Helper()
	x, err := NewIndex(o)
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func mustBrute(t testing.TB, o Options, bitParallel bool) *BruteForce {
	t.Helper()
	b, err := NewBruteForce(o)
	if err != nil {
		t.Fatal(err)
	}
	b.BitParallel = bitParallel
	return b
}

// TestIndexMatchesBruteForce is the filter's contract: on 20,000
// generated instructions, many of them near-duplicates and paraphrases,
// checked and added in order, the index makes the same keep/reject
// decision as the brute-force reference for every one, with the same
// maximum score and the same top 10 (IDs, texts and scores, bit for bit).
//
// Long lines (200 to 600 tokens) over words frequent in the generated ones
// follow them, each with its exact duplicate: queries that share only
// common words with the index, which the length-bucket scan alone must
// find (see TestIndexLongCommonWords).
func TestIndexMatchesBruteForce(t *testing.T) {
	const gen = 20000
	texts := generate(7, gen)
	long := commonWordTexts(3, 0, []int{200, 254, 255, 256, 257, 300, 301, 450, 600})
	texts = append(texts, long...)
	n := len(texts)
	// A few dozen seeds first, as a run starts with the human seed tasks.
	got, kept := matchBruteForce(t, generate(99, 60), texts)
	// Each long line is novel and its exact duplicate is not.
	seen, dups := map[string]bool{}, 0
	for i := gen; i < n; i++ {
		if !seen[texts[i]] {
			seen[texts[i]] = true
			continue
		}
		if dups++; got[i].Novel || got[i].Max != 1 {
			t.Errorf("long text %d (%d tokens), an exact duplicate: novel %v, max %v",
				i, len(RougeTokenizer{}.Tokens(texts[i])), got[i].Novel, got[i].Max)
		}
	}
	if dups != 9 {
		t.Errorf("%d exact duplicates among the long lines, want 9", dups)
	}
	// The data must exercise both outcomes heavily to mean anything.
	if kept < n/10 || kept > n*9/10 {
		t.Errorf("kept %d of %d: the generator no longer mixes novel and near-duplicate instructions", kept, n)
	}
}

// TestIndexMatchesBruteForceParaphrases holds the index to the same
// contract on near-duplicate-heavy data: 20,000 rewordings of a dozen
// templates, where most checks have many instructions scoring close to
// their K-th best and to the threshold.
func TestIndexMatchesBruteForceParaphrases(t *testing.T) {
	const n = 20000
	_, kept := matchBruteForce(t, paraphrases(99, 60), paraphrases(7, n))
	if kept < n/50 || kept > n/4 {
		t.Errorf("kept %d of %d: the data is no longer near-duplicate-heavy with a growing pool", kept, n)
	}
}

// matchBruteForce adds seeds, then filters texts with the index (default
// tuning and one that runs out of signature bits early, so the
// posting-list scans of common tokens and the warm-up are exercised) and
// with the bit-parallel brute force, and fails the test on any result
// that differs. It returns the index's results and how many it kept.
func matchBruteForce(t *testing.T, seeds, texts []string) ([]Result, int) {
	t.Helper()
	toks := tokenizeAll(RougeTokenizer{}, texts)
	fast := mustIndex(t, Options{Mean: MeanNone})
	small := mustIndex(t, Options{Mean: MeanNone})
	small.regDF, small.maxBits, small.warmUpDF = 16, 40, 64
	ref := mustBrute(t, Options{Mean: MeanNone}, true)
	for _, s := range seeds {
		fast.AddText(s)
		small.AddText(s)
		ref.Add(s, RougeTokenizer{}.Tokens(s))
	}

	narrow := mustIndex(t, Options{Mean: MeanNone, MaxOnReject: true})
	// StopOnReject with the full top 10, with the top 1, and with the top 1
	// and the threshold as the bound of kept ones (floor).
	stop := mustIndex(t, Options{Mean: MeanNone, StopOnReject: true})
	stop1 := mustIndex(t, Options{Mean: MeanNone, TopK: 1, StopOnReject: true})
	floor := mustIndex(t, Options{Mean: MeanNone, TopK: 1, StopOnReject: true})
	floor.floor = true
	// Each path of the common-token count alone: every word counted whole
	// in bit-sliced counters, or every instruction bounded by its signature.
	sliced, bySig := mustIndex(t, Options{Mean: MeanNone}), mustIndex(t, Options{Mean: MeanNone})
	sliced.perDoc, bySig.perDoc = countWhole, 0
	for _, s := range seeds {
		narrow.AddText(s)
		stop.AddText(s)
		stop1.AddText(s)
		floor.AddText(s)
		sliced.AddText(s)
		bySig.AddText(s)
	}

	start := time.Now()
	got := runFilter(fast, texts, toks)
	fastTime := time.Since(start)
	gotSmall := runFilter(small, texts, toks)
	gotNarrow := runFilter(narrow, texts, toks)
	gotSliced := runFilter(sliced, texts, toks)
	gotBySig := runFilter(bySig, texts, toks)
	stopped := []struct {
		name  string
		got   []Result
		k     int
		floor bool
	}{
		{"StopOnReject", runFilter(stop, texts, toks), 10, false},
		{"StopOnReject, top 1", runFilter(stop1, texts, toks), 1, false},
		{"StopOnReject, top 1, floor", runFilter(floor, texts, toks), 1, true},
	}
	start = time.Now()
	want := runFilter(ref, texts, toks)
	refTime := time.Since(start)

	variants := []struct {
		name   string
		got    []Result
		narrow bool // MaxOnReject: compare with the reference narrowed
	}{
		{"default tuning", got, false},
		{"small tuning", gotSmall, false},
		{"bit-sliced count only", gotSliced, false},
		{"signature bounds only", gotBySig, false},
		{"MaxOnReject", gotNarrow, true},
	}
	kept, scored, bad := 0, 0, 0
	for i := range got {
		for _, v := range variants {
			w := want[i]
			if v.narrow {
				w = narrowed(w)
			}
			if d := sameResult(v.got[i], w); d != "" {
				if bad++; bad <= 5 {
					t.Errorf("%s, instruction %d %q: %s", v.name, i, texts[i], d)
				}
			}
		}
		for _, v := range stopped {
			if d := stoppedResult(v.got[i], want[i], toks[i], DefaultThreshold, v.k, v.floor); d != "" {
				if bad++; bad <= 5 {
					t.Errorf("%s, instruction %d %q: %s", v.name, i, texts[i], d)
				}
			}
		}
		if got[i].Novel {
			kept++
		}
		scored += got[i].Scored
	}
	if bad > 0 {
		t.Fatalf("%d of %d results differ from brute force", bad, len(texts))
	}
	t.Logf("%d instructions, %d kept; index %v (%.1f LCS per check), brute force (bit-parallel) %v",
		len(texts), kept, fastTime, float64(scored)/float64(len(texts)), refTime)
	return got, kept
}

// TestBruteForceBitParallelMatchesDP closes the loop: the bit-parallel
// brute force used above agrees with the textbook dynamic programme.
func TestBruteForceBitParallelMatchesDP(t *testing.T) {
	texts := generate(11, 1500)
	toks := tokenizeAll(RougeTokenizer{}, texts)
	got := runFilter(mustBrute(t, Options{}, true), texts, toks)
	want := runFilter(mustBrute(t, Options{}, false), texts, toks)
	for i := range got {
		if d := sameResult(got[i], want[i]); d != "" {
			t.Fatalf("instruction %d: %s", i, d)
		}
		if got[i].Mean.Value != want[i].Mean.Value {
			t.Fatalf("instruction %d: mean %v, DP %v", i, got[i].Mean.Value, want[i].Mean.Value)
		}
	}
}

func TestIndexExactMean(t *testing.T) {
	texts := generate(5, 3000)
	toks := tokenizeAll(RougeTokenizer{}, texts)
	got := runFilter(mustIndex(t, Options{Mean: MeanExact}), texts, toks)
	want := runFilter(mustBrute(t, Options{}, true), texts, toks)
	for i := range got {
		if d := sameResult(got[i], want[i]); d != "" {
			t.Fatalf("instruction %d: %s", i, d)
		}
		g, w := got[i].Mean, want[i].Mean
		if g == nil || *g != *w || !g.Exact {
			t.Fatalf("instruction %d: mean %+v, reference %+v", i, g, w)
		}
	}
}

// TestIndexSampledMean checks that the default estimate is labelled as one,
// is reproducible, and is near the exact mean.
func TestIndexSampledMean(t *testing.T) {
	texts := generate(5, 3000)
	toks := tokenizeAll(RougeTokenizer{}, texts)
	sampled := runFilter(mustIndex(t, Options{}), texts, toks)
	again := runFilter(mustIndex(t, Options{}), texts, toks)
	exact := runFilter(mustIndex(t, Options{Mean: MeanExact}), texts, toks)
	var z2 float64
	var nEst int
	for i := range sampled {
		s, e := sampled[i].Mean, exact[i].Mean
		if *s != *again[i].Mean {
			t.Fatalf("instruction %d: sampled mean not reproducible: %+v vs %+v", i, s, again[i].Mean)
		}
		if s.Exact {
			if s.Samples > DefaultMeanSamples || math.Abs(s.Value-e.Value) > 1e-12 {
				t.Fatalf("instruction %d: 'exact' sampled mean %+v, exact %+v", i, s, e)
			}
			continue
		}
		if s.Samples != DefaultMeanSamples || s.StdErr <= 0 {
			t.Fatalf("instruction %d: estimate %+v lacks its sample size or error", i, s)
		}
		if s.StdErr > 0 {
			z := (s.Value - e.Value) / s.StdErr
			z2 += z * z
			nEst++
		}
	}
	// The standardised errors of an unbiased estimate have mean square ≈ 1.
	if nEst < 1000 || z2/float64(nEst) > 1.5 {
		t.Errorf("sampled means: %d estimates, mean squared z = %.2f, want ≈ 1", nEst, z2/float64(nEst))
	}
}

func TestIndexBasics(t *testing.T) {
	tok := RougeTokenizer{}
	x := mustIndex(t, Options{TopK: 3})
	if r := x.CheckText("anything at all"); !r.Novel || r.Max != 0 || r.Similar != nil || !r.Mean.Exact {
		t.Errorf("empty index: %+v", r)
	}
	x.AddText("a b c d e f g h i j")
	// F exactly 0.7 is kept: the rule is "> 0.7", and the float is 0.7.
	if r := x.CheckText("a b c d e f g x y z"); !r.Novel || r.Max != 0.7 {
		t.Errorf("at the threshold: novel %v, max %v; want novel, 0.7", r.Novel, r.Max)
	}
	// Python computes 2*0.8*0.8/1.6 as 0.8000000000000002 too.
	if r := x.CheckText("a b c d e f g h x y"); r.Novel || r.Max != 0.8000000000000002 {
		t.Errorf("above the threshold: novel %v, max %v; want rejected, 0.8000000000000002", r.Novel, r.Max)
	}
	// No tokens (all punctuation, or Japanese under the rouge tokenizer):
	// nothing to compare, so novel, as in the original.
	if r := x.CheckText("日本語の文章"); !r.Novel || r.Max != 0 {
		t.Errorf("tokenless query: %+v", r)
	}
	// Equal scores list the earlier instruction first; zero scores are not
	// listed.
	y := mustIndex(t, Options{TopK: 3, Mean: MeanNone})
	for _, s := range []string{"p q", "x y", "p q", "z", "x y"} {
		y.AddText(s)
	}
	r := y.CheckText("x y")
	want := []Match{{1, "x y", 1}, {4, "x y", 1}}
	if !slices.Equal(r.Similar, want) || r.Novel || r.Mean != nil {
		t.Errorf("ties: %+v, want similar %v, rejected, no mean", r, want)
	}
	if got := y.Len(); got != 5 || y.Text(3) != "z" {
		t.Errorf("Len, Text(3) = %d, %q", got, y.Text(3))
	}
	// Within a batch, an instruction kept earlier counts against later ones.
	z := mustIndex(t, Options{})
	batch := []string{"Write a poem about the sea.", "Write a poem about the sea!", "Name three rivers in Asia."}
	var kept []string
	for _, s := range batch {
		if toks := tok.Tokens(s); z.Check(toks).Novel {
			z.Add(s, toks)
			kept = append(kept, s)
		}
	}
	if !slices.Equal(kept, []string{batch[0], batch[2]}) {
		t.Errorf("kept %q, want the first and the third", kept)
	}
}

func TestOptionsErrors(t *testing.T) {
	for _, o := range []Options{{Threshold: -0.1}, {Threshold: 1.5}, {Threshold: math.NaN()}, {TopK: -1}, {MeanSamples: -3}, {Mean: 7}} {
		if _, err := NewIndex(o); err == nil || !strings.HasPrefix(err.Error(), "text: ") {
			t.Errorf("NewIndex(%+v) error = %v, want a text: error", o, err)
		}
		if _, err := NewBruteForce(o); err == nil {
			t.Errorf("NewBruteForce(%+v) accepted", o)
		}
	}
	x := mustIndex(t, Options{})
	if o := x.Options(); o.Threshold != DefaultThreshold || o.TopK != DefaultTopK || o.MeanSamples != DefaultMeanSamples {
		t.Errorf("defaults = %+v", o)
	}
}

// TestIndexLongInstructions exercises multi-word bit-parallel patterns and
// the open-ended last length bucket.
func TestIndexLongInstructions(t *testing.T) {
	texts := generate(21, 300)
	long := make([]string, 0, len(texts))
	for i := 0; i+3 < len(texts); i += 2 {
		s := texts[i]
		for j := 1; j <= i%5*6; j++ {
			s += " " + texts[i+j%3]
		}
		long = append(long, s, texts[i+1])
	}
	toks := tokenizeAll(RougeTokenizer{}, long)
	got := runFilter(mustIndex(t, Options{Mean: MeanNone}), long, toks)
	want := runFilter(mustBrute(t, Options{Mean: MeanNone}, true), long, toks)
	maxLen := 0
	for i := range got {
		maxLen = max(maxLen, len(toks[i]))
		if d := sameResult(got[i], want[i]); d != "" {
			t.Fatalf("instruction %d (%d tokens): %s", i, len(toks[i]), d)
		}
	}
	if maxLen <= maxBucket {
		t.Errorf("longest instruction %d tokens, want > %d", maxLen, maxBucket)
	}
}

// TestIndexJapanese runs the filter on Japanese near-duplicates with both
// CJK-aware tokenizers, against the brute force; under the rouge tokenizer
// every one of them would be novel.
func TestIndexJapanese(t *testing.T) {
	texts := []string{
		"次の文章を三行で要約してください。",
		"次の文章を3行で要約してください。",
		"以下の文章を三行にまとめてください。",
		"日本の首都はどこですか？",
		"日本の首都を教えてください。",
		"俳句を一つ作ってください。",
		"春をテーマにした俳句を作ってください。",
		"秋をテーマにした俳句を作ってください。",
		"Pythonで素数を判定する関数を書いてください。",
		"Pythonで素数判定の関数を書いてください。",
		"顧客への謝罪メールを書いてください。",
		"カレーライスの作り方を説明してください。",
	}
	jt, err := NewJapaneseTokenizer()
	if err != nil {
		t.Fatal(err)
	}
	for _, tok := range []Tokenizer{CJKTokenizer{}, jt} {
		toks := tokenizeAll(tok, texts)
		got := runFilter(mustIndex(t, Options{Tokenizer: tok}), texts, toks)
		want := runFilter(mustBrute(t, Options{}, false), texts, toks)
		rejected := 0
		for i := range got {
			if d := sameResult(got[i], want[i]); d != "" {
				t.Fatalf("%T, %q: %s", tok, texts[i], d)
			}
			if !got[i].Novel {
				rejected++
			}
		}
		if rejected < 3 {
			t.Errorf("%T rejected %d near-duplicates, want at least 3", tok, rejected)
		}
	}
	rouge := runFilter(mustIndex(t, Options{}), texts, tokenizeAll(RougeTokenizer{}, texts))
	for i, r := range rouge {
		if !r.Novel && i != 9 {
			t.Errorf("rouge tokenizer rejected %q", texts[i])
		}
	}
}

func ExampleIndex() {
	idx, err := NewIndex(Options{}) // threshold 0.7, top 10, rouge_score tokens
	if err != nil {
		panic(err)
	}
	for _, seed := range []string{"Write a poem about the sea.", "List three prime numbers."} {
		idx.AddText(seed)
	}
	for _, inst := range []string{"Write a short poem about the sea!", "Explain how vaccines work."} {
		r := idx.CheckText(inst)
		fmt.Printf("%q novel=%v max=%.3f\n", inst, r.Novel, r.Max)
		if r.Novel {
			idx.AddText(inst)
		}
	}
	// Output:
	// "Write a short poem about the sea!" novel=false max=0.923
	// "Explain how vaccines work." novel=true max=0.000
}

// FuzzIndex feeds random instructions over a tiny vocabulary (so repeats,
// ties and equal lengths are common) through the index and the brute force.
func FuzzIndex(f *testing.F) {
	f.Add([]byte("abcab|abc|cba|aab|abcab|ab"), uint8(3))
	f.Add([]byte("aaaa|aa|a|aaaa|b|ab|ba"), uint8(1))
	f.Add([]byte("abcdefghijklmnopqrstuvwxyzabcdefghijklmnopqrstuvwxyzabcdefghijklmnopq|abc"), uint8(10))
	f.Fuzz(func(t *testing.T, data []byte, k uint8) {
		var texts []string
		for _, part := range strings.Split(string(data), "|") {
			var words []string
			for _, c := range []byte(part) {
				words = append(words, string(rune('a'+c%6)))
			}
			texts = append(texts, strings.Join(words, " "))
		}
		o := Options{TopK: 1 + int(k%12), Threshold: 0.1 + float64(k%9)/10, Mean: MeanNone}
		// Also with tiny tuning, so that tokens become common, the signature
		// bits run out and the warm-up runs on inputs this small.
		compareTuned(t, texts, o, false, 2, 3, 2)
	})
}

// countWhole is a perDoc that sends every word of the common-token count
// to the bit-sliced counters: 64·countWhole still fits a 32-bit int, where
// math.MaxInt32 would wrap negative and send words to the signatures.
const countWhole = 1 << 24

// compareTuned filters texts with the brute force (bit-parallel or DP) and
// with the index, at the default tuning and at the one given, each with and
// without MaxOnReject (o leaves it off), and at the one given with each
// path of the common-token count forced, and fails on the first result
// that differs.
func compareTuned(t *testing.T, texts []string, o Options, bitParallel bool, regDF, maxBits, warmUpDF int) {
	t.Helper()
	toks := tokenizeAll(RougeTokenizer{}, texts)
	want := runFilter(mustBrute(t, o, bitParallel), texts, toks)
	tuned := mustIndex(t, o)
	tuned.regDF, tuned.maxBits, tuned.warmUpDF = regDF, maxBits, warmUpDF
	on := o
	on.MaxOnReject = true
	tunedOn := mustIndex(t, on)
	tunedOn.regDF, tunedOn.maxBits, tunedOn.warmUpDF = regDF, maxBits, warmUpDF
	// The bit-sliced count with every word counted whole, and with every
	// instruction bounded by its signature instead.
	sliced, bySig := mustIndex(t, o), mustIndex(t, on)
	for _, x := range []*Index{sliced, bySig} {
		x.regDF, x.maxBits, x.warmUpDF = regDF, maxBits, warmUpDF
	}
	sliced.perDoc, bySig.perDoc = countWhole, 0
	for _, x := range []*Index{mustIndex(t, o), tuned, mustIndex(t, on), tunedOn, sliced, bySig} {
		got := runFilter(x, texts, toks)
		for i := range got {
			w := want[i]
			if x.opt.MaxOnReject {
				w = narrowed(w)
			}
			if d := sameResult(got[i], w); d != "" {
				t.Fatalf("regDF %d, perDoc %d, MaxOnReject %v: text %d (%d tokens) %q: %s", x.regDF, x.perDoc, x.opt.MaxOnReject, i, len(toks[i]), texts[i], d)
			}
		}
	}
	// StopOnReject, at both tunings, at o's top K and at the top 1, the
	// latter also with the threshold as the bound of kept ones (floor); and
	// the brute force with the option, which must keep the same contract.
	stop, stop1 := o, o
	stop.StopOnReject, stop1.StopOnReject, stop1.TopK = true, true, 1
	type variant struct {
		f     novelty
		k     int
		floor bool
	}
	brute := mustBrute(t, stop, bitParallel)
	vs := []variant{{brute, brute.opt.TopK, false}}
	for _, v := range []struct {
		o     Options
		floor bool
	}{{stop, false}, {stop1, false}, {stop1, true}} {
		for _, tune := range []bool{false, true} {
			x := mustIndex(t, v.o)
			if tune {
				x.regDF, x.maxBits, x.warmUpDF = regDF, maxBits, warmUpDF
			}
			x.floor = v.floor
			vs = append(vs, variant{x, x.opt.TopK, v.floor})
		}
	}
	for _, v := range vs {
		got := runFilter(v.f, texts, toks)
		for i := range got {
			if d := stoppedResult(got[i], want[i], toks[i], o.Threshold, v.k, v.floor); d != "" {
				t.Fatalf("%T, StopOnReject, top %d, floor %v: text %d (%d tokens) %q: %s", v.f, v.k, v.floor, i, len(toks[i]), texts[i], d)
			}
		}
	}
}

// commonWordTexts builds a pool whose texts share only frequent words: each
// is drawn from a vocabulary of a few dozen words, all common (in regDF
// texts or more) once the short fillers are in, plus, for half of them, one
// word no other text holds. Such texts are never met through a posting
// list, so only the length-bucket scan can find them. Long lines of the
// given lengths follow, each with an exact duplicate, a near-duplicate (one
// word dropped) and a longer one (one word added) later in the order.
func commonWordTexts(seed uint64, fillers int, lens []int) []string {
	rng := rand.New(rand.NewPCG(seed, seed^0x5bd1e995))
	vocab := strings.Fields("the a of to and in for on with by is are be this that it as at from or " +
		"write list give explain short simple each every one two three four")
	line := func(n, id int) []string {
		w := make([]string, n)
		for i := range w {
			w[i] = vocab[rng.IntN(len(vocab))]
		}
		if id%2 == 0 {
			w[rng.IntN(n)] = "own" + strconv.Itoa(id) // shared with no other text
		}
		return w
	}
	var out []string
	for i := range fillers {
		out = append(out, strings.Join(line(3+rng.IntN(40), i), " "))
	}
	var later []string
	for i, n := range lens {
		w := line(n, fillers+i)
		out = append(out, strings.Join(w, " "))
		dropped := slices.Delete(slices.Clone(w), n/2, n/2+1)
		added := slices.Insert(slices.Clone(w), n/3, vocab[rng.IntN(len(vocab))])
		later = append(later, strings.Join(w, " "), strings.Join(dropped, " "), strings.Join(added, " "))
	}
	rng.Shuffle(len(later), func(i, j int) { later[i], later[j] = later[j], later[i] })
	// Interleave a few more fillers, so long and short texts alternate.
	for i, s := range later {
		out = append(out, s)
		if i%3 == 0 {
			out = append(out, strings.Join(line(3+rng.IntN(40), fillers+len(lens)+i), " "))
		}
	}
	return out
}

// TestIndexLongCommonWords checks long texts that share only frequent
// words with the index, the path where a query of 256 or more tokens once
// skipped the last length bucket (texts of 255 or more tokens) and the
// buckets shorter than its length minus 255: exact duplicates of long lines
// passed as novel. Every result must equal the brute force's, and every
// exact duplicate must be rejected with a maximum of 1.
func TestIndexLongCommonWords(t *testing.T) {
	lens := []int{200, 254, 255, 256, 257, 300, 301, 383, 450, 511, 512, 600}
	tunings := []struct {
		name                     string
		regDF, maxBits, warmUpDF int
	}{
		{"default", regDF, sigWords * 64, warmUpDF},
		// Few signature bits: some frequent words are scanned as uncommon.
		{"few bits", 16, 12, 64},
		// Tiny thresholds: every word is common early, bits run out at once.
		{"tiny", 2, 3, 2},
	}
	for _, o := range []Options{
		{Mean: MeanNone},
		{Mean: MeanNone, TopK: 1, Threshold: 0.95},
		{Mean: MeanNone, TopK: 40, Threshold: 0.3},
	} {
		for _, seed := range []uint64{1, 2} {
			texts := commonWordTexts(seed, 300, lens)
			toks := tokenizeAll(RougeTokenizer{}, texts)
			want := runFilter(mustBrute(t, o, true), texts, toks)
			for _, tu := range tunings {
				t.Run(fmt.Sprintf("%s/topk=%d/seed=%d", tu.name, o.TopK, seed), func(t *testing.T) {
					x := mustIndex(t, o)
					x.regDF, x.maxBits, x.warmUpDF = tu.regDF, tu.maxBits, tu.warmUpDF
					got := runFilter(x, texts, toks)
					kept, dups := map[string]bool{}, 0
					for i := range got {
						if d := sameResult(got[i], want[i]); d != "" {
							t.Fatalf("text %d (%d tokens): %s", i, len(toks[i]), d)
						}
						if kept[texts[i]] && (got[i].Novel || got[i].Max != 1) {
							t.Fatalf("exact duplicate %d (%d tokens) of a kept text: novel %v, max %v",
								i, len(toks[i]), got[i].Novel, got[i].Max)
						}
						if kept[texts[i]] {
							dups++
						}
						kept[texts[i]] = kept[texts[i]] || got[i].Novel
					}
					// At the default threshold every long line is novel (random
					// lines over the vocabulary score about 0.3), so each
					// one's duplicate must have been checked.
					if o.Threshold == 0 && dups != len(lens) {
						t.Errorf("%d exact duplicates of kept long lines, want %d", dups, len(lens))
					}
				})
			}
		}
	}
}

// FuzzIndexLong compares the index with the brute force on long texts
// sharing only frequent words (commonWordTexts), the lengths chosen by
// the fuzzer around and above the last length bucket; FuzzIndex's texts
// rarely reach it.
func FuzzIndexLong(f *testing.F) {
	f.Add(uint64(1), []byte{25, 26, 27, 70}, uint8(5)) // 255, 256, 257, 303 tokens
	f.Add(uint64(2), []byte{0, 255, 128, 40}, uint8(13))
	f.Add(uint64(3), []byte{24, 200}, uint8(2))
	f.Fuzz(func(t *testing.T, seed uint64, lb []byte, k uint8) {
		if len(lb) > 16 {
			lb = lb[:16] // keep each input fast
		}
		lens := make([]int, len(lb))
		for i, b := range lb {
			// Every length from 230 to 293 tokens, around maxBucket, then
			// every other one up to 580.
			lens[i] = 230 + int(b)
			if b >= 64 {
				lens[i] = 294 + (int(b)-64)*3/2
			}
		}
		// Enough fillers that every vocabulary word reaches regDF and gets a
		// signature bit: then nothing shared is in a scanned posting list.
		texts := commonWordTexts(seed, 300+int(k), lens)
		o := Options{TopK: 1 + int(k%12), Threshold: 0.2 + float64(k%8)/10, Mean: MeanNone}
		// Tuned: every word gets a bit when first seen, until the 256 run out.
		compareTuned(t, texts, o, true, 1, 256, 16)
	})
}

// FuzzIndexParaphrases compares the index with the brute force on runs of
// near-duplicate-heavy data (paraphrases) under options the fuzzer picks:
// there, many instructions tie at the K-th best score and near the
// threshold, and the pool keeps sharing most words with every query.
func FuzzIndexParaphrases(f *testing.F) {
	f.Add(uint64(1), uint16(300), uint8(9))
	f.Add(uint64(2), uint16(1200), uint8(0))
	f.Add(uint64(3), uint16(60), uint8(40))
	f.Fuzz(func(t *testing.T, seed uint64, n uint16, k uint8) {
		o := Options{TopK: 1 + int(k%12), Threshold: 0.3 + float64(k%7)/10, Mean: MeanNone}
		compareTuned(t, paraphrases(seed, 20+int(n%1500)), o, true, 4, 24, 8)
	})
}

// TestMaxOnReject checks the option on both filters: a rejected
// instruction lists its most similar one only, with the full search's
// maximum and match, and everything else is the full result.
func TestMaxOnReject(t *testing.T) {
	texts := append(generate(13, 2000), paraphrases(13, 2000)...)
	toks := tokenizeAll(RougeTokenizer{}, texts)
	for _, o := range []Options{{}, {TopK: 1}, {TopK: 3, Threshold: 0.5}, {TopK: 40, Threshold: 0.9}} {
		o.Mean = MeanNone
		full := runFilter(mustBrute(t, o, true), texts, toks)
		on := o
		on.MaxOnReject = true
		brute := runFilter(mustBrute(t, on, true), texts, toks)
		index := runFilter(mustIndex(t, on), texts, toks)
		rejected := 0
		for i := range texts {
			want := narrowed(full[i])
			if d := sameResult(brute[i], want); d != "" {
				t.Fatalf("%+v: brute force, text %d: %s", on, i, d)
			}
			if d := sameResult(index[i], want); d != "" {
				t.Fatalf("%+v: index, text %d: %s", on, i, d)
			}
			if !want.Novel {
				rejected++
				if len(index[i].Similar) != 1 || index[i].Similar[0].Score != index[i].Max {
					t.Fatalf("%+v: rejected text %d lists %v, want its one maximum", on, i, index[i].Similar)
				}
			}
		}
		if rejected < len(texts)/10 {
			t.Errorf("%+v: %d rejected of %d: the option is barely exercised", on, rejected, len(texts))
		}
	}
}

// TestStopOnReject checks the option on both filters against the full
// reference (stoppedResult), and that it pays: the index scores fewer
// instructions per check than it does for the full top K, and the brute
// force's answer is the first instruction above the threshold. With
// MeanExact, which scores everything anyway, nothing changes.
func TestStopOnReject(t *testing.T) {
	texts := append(generate(13, 2000), paraphrases(13, 2000)...)
	toks := tokenizeAll(RougeTokenizer{}, texts)
	for _, o := range []Options{{}, {TopK: 1}, {TopK: 3, Threshold: 0.5}, {TopK: 40, Threshold: 0.9}} {
		o.Mean = MeanNone
		full := runFilter(mustBrute(t, o, true), texts, toks)
		fullIndex := runFilter(mustIndex(t, o), texts, toks)
		on := o
		on.StopOnReject = true
		brute := runFilter(mustBrute(t, on, false), texts, toks)
		index := runFilter(mustIndex(t, on), texts, toks)
		k := cmp.Or(o.TopK, DefaultTopK)
		threshold := cmp.Or(o.Threshold, DefaultThreshold)
		rejected, scoredFull, scored := 0, 0, 0
		var pool [][]string // the kept instructions' tokens, by ID
		for i := range texts {
			for name, got := range map[string]Result{"brute force": brute[i], "index": index[i]} {
				if d := stoppedResult(got, full[i], toks[i], threshold, k, false); d != "" {
					t.Fatalf("%+v: %s, text %d: %s", on, name, i, d)
				}
			}
			if full[i].Novel {
				pool = append(pool, toks[i])
			} else {
				rejected++
				// The brute force answers with the first above the threshold.
				for id := range brute[i].Similar[0].ID {
					if f := RougeL(pool[id], toks[i]).F; f > threshold {
						t.Fatalf("%+v: brute force, text %d: answers %d, but %d scores %v", on, i, brute[i].Similar[0].ID, id, f)
					}
				}
			}
			scoredFull += fullIndex[i].Scored
			scored += index[i].Scored
		}
		if rejected < len(texts)/10 {
			t.Errorf("%+v: %d rejected of %d: the option is barely exercised", on, rejected, len(texts))
		}
		if scored >= scoredFull {
			t.Errorf("%+v: %d LCS with the option, %d without: it saves nothing", on, scored, scoredFull)
		}
	}
	exact := runFilter(mustIndex(t, Options{Mean: MeanExact}), texts[:500], toks[:500])
	stopExact := runFilter(mustIndex(t, Options{Mean: MeanExact, StopOnReject: true}), texts[:500], toks[:500])
	for i := range exact {
		if d := sameResult(stopExact[i], exact[i]); d != "" || *stopExact[i].Mean != *exact[i].Mean {
			t.Fatalf("MeanExact, text %d: %s (mean %v, without the option %v)", i, d, *stopExact[i].Mean, *exact[i].Mean)
		}
	}
}
