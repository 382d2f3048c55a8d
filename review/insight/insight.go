// Package insight computes the review app's per-stage figures of a run (length and judge-score histograms, rejections per filter, language mix, distinct-n, the instruction verb chart, near-duplicate clusters) over a bounded, reproducible sample of its records.
package insight

import (
	"cmp"
	"context"
	"fmt"
	"iter"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/review"
	"github.com/synthloop/synthloop/text"
)

// DefaultLimit is how many records of a stage the figures are computed over
// at most: enough for every histogram to be smooth, few enough that a stage
// of a million records is read in about a second.
const DefaultLimit = 20000

// Seed fixes which records the sample holds, so the page shows the same
// figures every time it is opened on the same run.
const Seed = 1

// maxBins bounds a histogram's bars, so a chart stays readable.
const maxBins = 20

// Report is what the Insight page shows of one stage.
type Report struct {
	Stage string `json:"stage"`
	// Population is how many records the stage holds; Sampled how many of
	// them (a simple random sample, see Load) every figure below counts.
	Population int `json:"population"`
	Sampled    int `json:"sampled"`
	Limit      int `json:"limit"`
	// Status counts kept, rejected and failed records.
	Status []Count `json:"status"`
	// Lengths holds the instruction and output length histograms, in the
	// length filter's words (text.WordCount: whitespace-separated fields,
	// kagome morphemes for Japanese, characters for Chinese).
	Lengths []Histogram `json:"lengths"`
	// Scores holds one histogram per score key (judge scores and the like).
	Scores []Histogram `json:"scores"`
	// Rejections counts, per filter, the rejected records it rejected
	// first (the one a record's rejection is charged to).
	Rejections []Count `json:"rejections"`
	// Languages counts records by the language of their instruction.
	Languages []Count `json:"languages"`
	// Distinct is distinct-1 and distinct-2 of the outputs.
	Distinct Distinct `json:"distinct"`
	// Diversity is the root verbs and direct objects of the instructions,
	// one chart per language parsed (English, Japanese; see Diversity);
	// DiversitySkipped counts the instructions in other languages.
	Diversity        []Diversity `json:"diversity"`
	DiversitySkipped int         `json:"diversity_skipped"`
	// Duplicates are the near-duplicate clusters of the kept records.
	Duplicates Clusters `json:"duplicates"`
}

// Count is how many records have a value.
type Count struct {
	Name string `json:"name"`
	N    int    `json:"n"`
}

// Bin is one bar of a histogram: the values in [Lo, Hi).
type Bin struct {
	Lo float64 `json:"lo"`
	Hi float64 `json:"hi"`
	N  int     `json:"n"`
}

// Histogram is a distribution of one quantity.
type Histogram struct {
	Name string  `json:"name"`
	Unit string  `json:"unit"`
	N    int     `json:"n"`
	Mean float64 `json:"mean"`
	Min  float64 `json:"min"`
	Max  float64 `json:"max"`
	// Integers is set when every value is a whole number, so a bar
	// [Lo, Hi) holds Lo to Hi-1.
	Integers bool  `json:"integers"`
	Bins     []Bin `json:"bins"`
}

// Distinct is corpus-level distinct-n (Li et al., 2016): distinct n-grams
// over all n-grams of the outputs, tokenized by text.TokenizerFor of each
// output's guessed language.
type Distinct struct {
	Outputs int     `json:"outputs"`
	Tokens  int     `json:"tokens"`
	D1      float64 `json:"distinct_1"`
	D2      float64 `json:"distinct_2"`
}

// Source is the part of a run store the figures are read from;
// *store.Store is one.
type Source interface {
	IDs(ctx context.Context, stage string, status string) iter.Seq2[string, error]
	Record(ctx context.Context, id string) (*record.Record, error)
}

// Load computes the stage's report over at most limit of its records: the
// sample review.SampleIDs takes with Seed, read one by one, so memory and
// time grow with limit and only an ID scan with the stage.
func Load(ctx context.Context, src Source, stage string, limit int) (Report, error) {
	if limit <= 0 {
		limit = DefaultLimit
	}
	ids, pop, err := review.SampleIDs(src.IDs(ctx, stage, ""), limit, Seed)
	if err != nil {
		return Report{}, fmt.Errorf("insight: %s: %w", stage, err)
	}
	recs := make([]*record.Record, 0, len(ids))
	for _, id := range ids {
		r, err := src.Record(ctx, id)
		if err != nil {
			return Report{}, fmt.Errorf("insight: %s: %w", stage, err)
		}
		recs = append(recs, r)
	}
	rep, err := Compute(recs)
	if err != nil {
		return Report{}, fmt.Errorf("insight: %s: %w", stage, err)
	}
	rep.Stage, rep.Population, rep.Limit = stage, pop, limit
	return rep, nil
}

// Compute works out the figures of recs. It fails only when a tokenizer
// cannot be loaded (a broken binary).
func Compute(recs []*record.Record) (Report, error) {
	rep := Report{Sampled: len(recs)}
	status, rejections, langs := map[string]int{}, map[string]int{}, map[string]int{}
	var instLen, outLen []float64
	scores := map[string][]float64{}
	var insts, outs []string
	for _, r := range recs {
		status[string(r.Status)]++
		if r.Status == record.Rejected {
			if s, ok := strings.CutPrefix(review.StratumOf(r), "rejected: "); ok {
				rejections[s]++
			}
		}
		inst, out := Instruction(r), Output(r)
		langs[Language(r, inst+out)]++
		if inst != "" {
			insts = append(insts, inst)
			instLen = append(instLen, float64(text.WordCount(inst, "")))
		}
		if out != "" {
			outLen = append(outLen, float64(text.WordCount(out, "")))
			outs = append(outs, out)
		}
		for k, v := range r.Scores {
			if !math.IsNaN(v) && !math.IsInf(v, 0) {
				scores[k] = append(scores[k], v)
			}
		}
	}
	rep.Status, rep.Rejections, rep.Languages = counts(status), counts(rejections), counts(langs)
	rep.Lengths = []Histogram{NewHistogram("instruction", "words", instLen), NewHistogram("output", "words", outLen)}
	rep.Scores = []Histogram{}
	for _, k := range slices.Sorted(maps.Keys(scores)) {
		rep.Scores = append(rep.Scores, NewHistogram(k, "score", scores[k]))
	}
	d, err := DistinctN(outs)
	if err != nil {
		return rep, err
	}
	rep.Distinct = d
	if rep.Diversity, rep.DiversitySkipped, err = VerbDiversity(insts); err != nil {
		return rep, err
	}
	if rep.Duplicates, err = NearDuplicates(recs); err != nil {
		return rep, err
	}
	return rep, nil
}

// Instruction is what a record asks: its instruction, else its first user
// turn.
func Instruction(r *record.Record) string {
	if r.Instruction != "" {
		return r.Instruction
	}
	for _, t := range r.Messages {
		if t.Role == "user" {
			return t.Content
		}
	}
	return ""
}

// Output is what a record answers: its output, else the chosen side of its
// pair, else its last assistant turn.
func Output(r *record.Record) string {
	switch {
	case r.Output != "":
		return r.Output
	case r.Chosen != "":
		return r.Chosen
	}
	for i := len(r.Messages) - 1; i >= 0; i-- {
		if r.Messages[i].Role == "assistant" {
			return r.Messages[i].Content
		}
	}
	return ""
}

// Language is the record's language: meta "lang" when the data brought one
// (an imported dataset's column), else guessed from the text's script by
// text.GuessLang; "none" for a record with no text.
func Language(r *record.Record, s string) string {
	if l, ok := r.Meta["lang"].(string); ok && l != "" {
		return l
	}
	if strings.TrimSpace(s) == "" {
		return "none"
	}
	return string(text.GuessLang(s))
}

// counts lists m by count, most first, ties by name.
func counts(m map[string]int) []Count {
	out := make([]Count, 0, len(m))
	for k, n := range m {
		out = append(out, Count{k, n})
	}
	slices.SortFunc(out, func(a, b Count) int { return cmp.Or(b.N-a.N, strings.Compare(a.Name, b.Name)) })
	return out
}

// NewHistogram bins vals into at most maxBins bars of equal width. Integer
// data spanning few values gets one bar per integer; otherwise the width is
// 1, 2 or 5 times a power of ten, so the bar edges are round numbers.
func NewHistogram(name, unit string, vals []float64) Histogram {
	h := Histogram{Name: name, Unit: unit, N: len(vals), Bins: []Bin{}}
	if len(vals) == 0 {
		return h
	}
	h.Min, h.Max = slices.Min(vals), slices.Max(vals)
	ints := true
	sum := 0.0
	for _, v := range vals {
		sum += v
		ints = ints && v == math.Trunc(v)
	}
	h.Mean, h.Integers = sum/float64(len(vals)), ints
	w := niceWidth((h.Max - h.Min) / maxBins)
	if ints && w < 1 {
		w = 1
	}
	lo := math.Floor(h.Min/w) * w
	n := int(math.Floor((h.Max-lo)/w)) + 1
	if n > maxBins { // the edges were rounded outwards: one step wider
		w = niceWidth(w * 1.5)
		lo = math.Floor(h.Min/w) * w
		n = int(math.Floor((h.Max-lo)/w)) + 1
	}
	h.Bins = make([]Bin, n)
	for i := range h.Bins {
		h.Bins[i] = Bin{Lo: lo + float64(i)*w, Hi: lo + float64(i+1)*w}
	}
	for _, v := range vals {
		i := min(int(math.Floor((v-lo)/w)), n-1)
		h.Bins[i].N++
	}
	return h
}

// niceWidth is the smallest of 1, 2 and 5 times a power of ten that is at
// least x (and a positive width for x = 0).
func niceWidth(x float64) float64 {
	if x <= 0 {
		return 1
	}
	p := math.Pow(10, math.Floor(math.Log10(x)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*p >= x {
			return m * p
		}
	}
	return 10 * p
}

// DistinctN returns distinct-1 and distinct-2 over outs: the number of
// distinct unigrams (bigrams) over the number of unigrams (bigrams) in all
// of them; a bigram never spans two outputs. Zero when there are none.
func DistinctN(outs []string) (Distinct, error) {
	d := Distinct{Outputs: len(outs)}
	uni, bi := map[string]bool{}, map[[2]string]bool{}
	bigrams := 0
	for _, s := range outs {
		tok, err := text.TokenizerFor(text.GuessLang(s))
		if err != nil {
			return d, fmt.Errorf("distinct-n: %w", err)
		}
		ts := tok.Tokens(s)
		d.Tokens += len(ts)
		for i, t := range ts {
			uni[t] = true
			if i > 0 {
				bi[[2]string{ts[i-1], t}] = true
				bigrams++
			}
		}
	}
	if d.Tokens > 0 {
		d.D1 = float64(len(uni)) / float64(d.Tokens)
	}
	if bigrams > 0 {
		d.D2 = float64(len(bi)) / float64(bigrams)
	}
	return d, nil
}
