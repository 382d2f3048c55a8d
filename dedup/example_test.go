package dedup_test

import (
	"fmt"
	"log"
	"strings"

	"github.com/synthloop/synthloop/dedup"
)

func ExampleNormalize() {
	fmt.Println(dedup.Normalize("  Write a POEM,  about\tthe sea! "))
	fmt.Println(dedup.Normalize("ＡＢＣ　日本語。"))
	// Output:
	// write a poem about the sea
	// abc 日本語
}

func ExampleScrub() {
	s, n := dedup.Scrub("Mail jo@example.com or call +1 (555) 123-4567; card 4111 1111 1111 1111.")
	fmt.Println(s)
	fmt.Printf("%+v\n", n)
	// Output:
	// Mail [EMAIL] or call [PHONE]; card [CARD].
	// {Emails:1 Phones:1 Cards:1}
}

func ExampleMinHash() {
	m, err := dedup.NewMinHash(dedup.MinHashOptions{Threshold: 0.8, Seed: 1})
	if err != nil {
		log.Fatal(err)
	}
	defer m.Close()
	for _, tc := range []struct{ id, text string }{
		{"a", "Explain how photosynthesis works in plants to a ten year old child using simple words"},
		{"b", "Explain how photosynthesis works in plants to a ten year old child using simple words please"},
		{"c", "List five prime numbers greater than one hundred"},
	} {
		sig := m.Signature(tc.text)
		match, dup, err := m.Check(sig)
		if err != nil {
			log.Fatal(err) // only a spilled index (SpillDir) reads back from disk
		}
		if dup {
			fmt.Printf("%s: near-duplicate of %s\n", tc.id, match.ID)
			continue
		}
		if err := m.Add(tc.id, sig); err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%s: kept\n", tc.id)
	}
	// Output:
	// a: kept
	// b: near-duplicate of a
	// c: kept
}

func ExampleDecontaminator() {
	d, _ := dedup.NewDecontaminator(8)
	evals := "What is the boiling point of water at sea level in Celsius?\nName the largest planet in the solar system.\n"
	_ = d.Load(strings.NewReader(evals), "evals.txt", "", false)
	for _, c := range d.Check("Quiz: name the largest planet in the solar system, and its moons.") {
		fmt.Println(c.EvalItem)
	}
	// Output:
	// eval item 2 of evals.txt
}
