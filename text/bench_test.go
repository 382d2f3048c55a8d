package text

import (
	"fmt"
	"testing"

	"github.com/synthloop/synthloop/internal/cputime"
)

// Reproduce the filter benchmarks (one full filtering pass per iteration):
//
//	go test ./text -run '^$' -bench 'Filter.*/index/' -benchtime 1x
//	go test ./text -run '^$' -bench 'Filter' -benchtime 1x -timeout 180m
//
// The second adds the brute forces; its DP pass at 50k needs about eight
// CPU-minutes, much longer in wall time on a loaded machine.
//
// Each pass filters n generated instructions in order, after 175 seeds, as
// Self-Instruct does: check each, add it when novel. The filters make
// identical decisions (TestIndexMatchesBruteForce); they differ only in how
// much of the pool they score; index-maxonreject lists only the closest
// instruction of a rejected one (Options.MaxOnReject), so its results
// differ from the others' there; index-top1 records only the maximum and
// the closest one; index-stoponreject(-top1) stops a rejected one's search
// at the first score above the threshold (Options.StopOnReject) and
// index-decisiononly also bounds a kept one's search by the threshold
// (Index.floor, not offered): they make the same decisions. Reported: seconds per pass, instructions
// kept, LCS computations per check, CPU seconds per pass (the process's,
// GC included) and pairs: the instruction pairs a brute force scores.
//
// BenchmarkFilter runs on the project's data (generate: templates, free
// forms, a long tail of rare words and many near-duplicates),
// BenchmarkFilterParaphrases on near-duplicate-heavy data (paraphrases: a
// few templates reworded over and over).
func BenchmarkFilter(b *testing.B) { benchFilter(b, generate) }

func BenchmarkFilterParaphrases(b *testing.B) { benchFilter(b, paraphrases) }

func benchFilter(b *testing.B, data func(seed uint64, n int) []string) {
	seeds := data(99, 175)
	for _, n := range []int{10000, 20000, 50000} {
		texts := data(7, n)
		toks := tokenizeAll(RougeTokenizer{}, texts)
		seedToks := tokenizeAll(RougeTokenizer{}, seeds)
		for _, impl := range []struct {
			name string
			new  func() novelty
		}{
			{"index", func() novelty { return mustIndex(b, Options{Mean: MeanNone}) }},
			{"index-sampledmean", func() novelty { return mustIndex(b, Options{}) }},
			{"index-maxonreject", func() novelty { return mustIndex(b, Options{Mean: MeanNone, MaxOnReject: true}) }},
			{"index-top1", func() novelty { return mustIndex(b, Options{Mean: MeanNone, TopK: 1}) }},
			{"index-stoponreject", func() novelty { return mustIndex(b, Options{Mean: MeanNone, StopOnReject: true}) }},
			{"index-stoponreject-top1", func() novelty { return mustIndex(b, Options{Mean: MeanNone, TopK: 1, StopOnReject: true}) }},
			{"index-decisiononly", func() novelty {
				x := mustIndex(b, Options{Mean: MeanNone, TopK: 1, StopOnReject: true})
				x.floor = true
				return x
			}},
			{"brute-bitparallel", func() novelty { return mustBrute(b, Options{Mean: MeanNone}, true) }},
			{"brute-dp", func() novelty { return mustBrute(b, Options{Mean: MeanNone}, false) }},
		} {
			b.Run(fmt.Sprintf("%s/n=%d", impl.name, n), func(b *testing.B) {
				b.ReportAllocs()
				var kept, scored, pairs int
				cpu0 := cputime.Process()
				for b.Loop() {
					f := impl.new()
					for i, s := range seeds {
						f.Add(s, seedToks[i])
					}
					kept, scored, pairs = 0, 0, 0
					for _, r := range runFilter(f, texts, toks) {
						pairs += len(seeds) + kept
						scored += r.Scored
						if r.Novel {
							kept++
						}
					}
				}
				b.ReportMetric(b.Elapsed().Seconds()/float64(b.N), "s/pass")
				b.ReportMetric((cputime.Process()-cpu0).Seconds()/float64(b.N), "cpu-s/pass")
				b.ReportMetric(float64(pairs), "pairs")
				b.ReportMetric(float64(kept), "kept")
				b.ReportMetric(float64(scored)/float64(n), "lcs/check")
			})
		}
	}
}

// BenchmarkRougeLPair compares one ROUGE-L score by the textbook dynamic
// programme (the reference, as rouge_score computes it) with the
// bit-parallel LCS the index uses, on typical instruction lengths.
func BenchmarkRougeLPair(b *testing.B) {
	texts := generate(3, 2)
	x, y := RougeTokenizer{}.Tokens(texts[0]), RougeTokenizer{}.Tokens(texts[1])
	b.Run("dp", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			RougeL(x, y)
		}
	})
	b.Run("bitparallel", func(b *testing.B) {
		bf := mustBrute(b, Options{}, true)
		bf.Add(texts[0], x)
		b.ReportAllocs()
		for b.Loop() {
			bf.Check(y)
		}
	})
}

func BenchmarkTokenizers(b *testing.B) {
	en := "Write a persuasive email to a new employee about renewable energy. Use bullet points."
	ja := "次の文章を三行で要約し、重要なキーワードを三つ挙げてください。"
	jt, err := NewJapaneseTokenizer()
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range []struct {
		name string
		tok  Tokenizer
		text string
	}{
		{"rouge/en", RougeTokenizer{}, en},
		{"cjk/en", CJKTokenizer{}, en},
		{"cjk/ja", CJKTokenizer{}, ja},
		{"kagome/ja", jt, ja},
	} {
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				c.tok.Tokens(c.text)
			}
		})
	}
}
