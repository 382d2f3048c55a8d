package methods_test

import (
	"fmt"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/methods"
)

func ExamplePassAtK() {
	// 3 of 10 samples right: the chance that 1, 4 or 10 samples drawn from
	// the 10 hold a right one.
	for _, k := range []int{1, 4, 10} {
		fmt.Printf("pass@%d = %.3f\n", k, methods.PassAtK(10, 3, k))
	}
	// Output:
	// pass@1 = 0.300
	// pass@4 = 0.833
	// pass@10 = 1.000
}

func ExamplePreferencePair() {
	samples := []lab.Answer{{Text: "cba", Stopped: true}, {Text: "cba", Stopped: true}, {Text: "cab", Stopped: true},
		{Text: "cba", Stopped: true}, {Text: "cbaaaaa", Stopped: false}}
	chosen, rejected, why := methods.PreferencePair(samples, func(a lab.Answer) bool { return a.Stopped }, 0.5)
	fmt.Printf("chosen %q (%d votes), rejected %q (%d), dropped %q\n", chosen.Text, chosen.Count, rejected.Text, rejected.Count, why)
	// Output:
	// chosen "cba" (3 votes), rejected "cab" (1), dropped ""
}
