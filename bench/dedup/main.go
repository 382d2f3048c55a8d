// Command dedup benchmarks MinHash-LSH near-duplicate detection on generated short texts.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"syscall"
	"time"

	"github.com/synthloop/synthloop/dedup"
)

func main() {
	n := flag.Int("n", 1_000_000, "texts")
	dupShare := flag.Float64("dups", 0.1, "share of texts that are near copies of an earlier one")
	perms := flag.Int("perms", dedup.DefaultPermutations, "MinHash permutations")
	spill := flag.String("spill", "", "keep the signatures in a temporary file in this directory (the dedup stage's spill_dir)")
	out := flag.String("jsonl", "", "write the texts as JSONL prompts to this file instead of benchmarking the index (input for the pipeline benchmark)")
	flag.Parse()
	var err error
	if *out != "" {
		err = writeJSONL(*out, generate(*n, *dupShare))
	} else {
		err = run(*n, *dupShare, *perms, *spill)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/dedup:", err)
		os.Exit(1)
	}
}

// words is a vocabulary large enough that random 8–20 word texts rarely
// collide, so near duplicates come only from the deliberate copies.
func words(rng *rand.Rand, n int) []string {
	const letters = "abcdefghijklmnopqrstuvwxyz"
	out := make([]string, n)
	for i := range out {
		var b strings.Builder
		for l := 3 + rng.IntN(6); l > 0; l-- {
			b.WriteByte(letters[rng.IntN(len(letters))])
		}
		out[i] = b.String()
	}
	return out
}

// generate returns n texts of 8–20 words; a dupShare of them copy an earlier
// text with one word appended, the kind of variation LLM generations repeat.
func generate(n int, dupShare float64) []string {
	rng := rand.New(rand.NewPCG(1, 2))
	vocab := words(rng, 20000)
	texts := make([]string, n)
	for i := range texts {
		if i > 0 && rng.Float64() < dupShare {
			texts[i] = texts[rng.IntN(i)] + " " + vocab[rng.IntN(len(vocab))]
			continue
		}
		w := make([]string, 8+rng.IntN(13))
		for j := range w {
			w[j] = vocab[rng.IntN(len(vocab))]
		}
		texts[i] = strings.Join(w, " ")
	}
	return texts
}

// writeJSONL writes one {"instruction": text} line per text: what the
// load stage reads in the load → dedup → export benchmark.
func writeJSONL(path string, texts []string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	enc := json.NewEncoder(w)
	for _, t := range texts {
		if err := enc.Encode(map[string]string{"instruction": t}); err != nil {
			f.Close()
			return err
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func run(n int, dupShare float64, perms int, spill string) error {
	texts := generate(n, dupShare)
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	m, err := dedup.NewMinHash(dedup.MinHashOptions{Permutations: perms, Seed: 1, SpillDir: spill, Capacity: n})
	if err != nil {
		return err
	}
	start := time.Now()
	dups := 0
	for i, t := range texts {
		sig := m.Signature(t)
		_, dup, err := m.Check(sig)
		if err != nil {
			return err
		}
		if dup {
			dups++
			continue
		}
		if err := m.Add(fmt.Sprint(i), sig); err != nil {
			return err
		}
	}
	elapsed := time.Since(start)
	defer m.Close()

	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	runtime.GC()
	var live runtime.MemStats
	runtime.ReadMemStats(&live)
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)

	o := m.Options()
	fmt.Printf("texts %d, near-duplicates found %d (%.1f%%), kept %d\n", n, dups, 100*float64(dups)/float64(n), m.Len())
	fmt.Printf("minhash: %d permutations, %d bands × %d rows, threshold %.2f, %s %d-grams\n", o.Permutations, o.Bands, o.Rows, o.Threshold, o.Unit, o.ShingleSize)
	fmt.Printf("time %.2fs (%.2f µs/text)\n", elapsed.Seconds(), float64(elapsed.Microseconds())/float64(n))
	fmt.Printf("allocated %.0f MB, index live heap %.0f MB (Bytes %.0f MB), peak RSS %.0f MB (texts included)\n",
		float64(after.TotalAlloc-before.TotalAlloc)/1e6, float64(live.HeapAlloc-before.HeapAlloc)/1e6, float64(m.Bytes())/1e6, float64(ru.Maxrss)/1e3)
	return nil
}
