package grounding_test

import (
	"fmt"

	"github.com/synthloop/synthloop/grounding"
)

func ExampleFind() {
	chunk := "Refunds are issued within 5 business\ndays. Opened software cannot be returned."
	// The model's quote has other whitespace, curly quotes and a case change.
	for _, quote := range []string{"refunds are issued within 5 business days.", "Refunds are issued within 3 business days."} {
		start, end, ok := grounding.Find(chunk, quote)
		fmt.Printf("%v %q\n", ok, chunk[start:end])
	}
	// Output:
	// true "Refunds are issued within 5 business\ndays."
	// false ""
}
