package verify_test

import (
	"context"
	"fmt"

	"github.com/synthloop/synthloop/verify"
)

// ExampleNew checks a worked solution's final number against the reference.
func ExampleNew() {
	v, err := verify.New(&verify.Config{Kind: verify.Numeric})
	if err != nil {
		panic(err)
	}
	for _, answer := range []string{"6 × 7 = 42, so the answer is 42.", "It is 41."} {
		got, err := v.Verify(context.Background(), verify.Check{Candidate: answer, Reference: "#### 42"})
		if err != nil {
			panic(err)
		}
		fmt.Println(got.Pass, got.Reason)
	}
	// Output:
	// true 42 = 42
	// false 41 != 42
}

// ExampleNew_command accepts a candidate when an external checker exits 0.
// The checker runs with a time and memory limit, without network and
// with an empty environment.
func ExampleNew_command() {
	v, err := verify.New(&verify.Config{Kind: verify.Command, Command: []string{"grep", "-qx", "42"}, Timeout: "5s", MemoryMB: 256})
	if err != nil {
		panic(err) // e.g. the kernel allows no unprivileged network namespace
	}
	got, err := v.Verify(context.Background(), verify.Check{Candidate: "42\n"})
	fmt.Println(got.Pass, err)
	// Output: true <nil>
}
