package task_test

import (
	"fmt"
	"math/rand/v2"

	"github.com/synthloop/synthloop/lab/task"
)

func Example() {
	add, err := task.Lookup("reverse-addition")
	if err != nil {
		panic(err)
	}
	p := add.Generate(rand.New(rand.NewPCG(1, 2)), 3)
	fmt.Println(add.Verify(p, p.Answer))
	// 123 + 456 = 0579, every number written least significant digit first.
	fmt.Println(add.Verify(task.Problem{Prompt: "321+654="}, "9750"))
	// Output:
	// true
	// true
}
