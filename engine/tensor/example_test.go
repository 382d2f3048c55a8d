package tensor_test

import (
	"fmt"
	"math"

	"github.com/synthloop/synthloop/engine/tensor"
)

// A linear layer's forward pass, y = x·Wᵀ, with W stored out×in as
// PyTorch stores it: op(B) = Bᵀ.
func ExampleSgemm() {
	x := []float32{ // 2 tokens × 3 features
		1, 2, 3,
		4, 5, 6,
	}
	w := []float32{ // 2 outputs × 3 inputs
		1, 0, 0,
		0, 1, 1,
	}
	y := make([]float32, 2*2)
	tensor.Sgemm(false, true, 2, 2, 3, 1, x, 3, w, 3, 0, y, 2)
	fmt.Println(y)
	// Output: [1 5 4 11]
}

func ExampleSoftmax() {
	logits := []float32{1, 2, 3, float32(math.Inf(-1))}
	tensor.Softmax(logits)
	fmt.Printf("%.4f\n", logits)
	// Output: [0.0900 0.2447 0.6652 0.0000]
}

// Parallel hands each worker of the package's pool a contiguous range.
func ExampleParallel() {
	out := make([]int, 10)
	tensor.Parallel(len(out), func(lo, hi int) {
		for i := lo; i < hi; i++ {
			out[i] = i * i
		}
	})
	fmt.Println(out)
	// Output: [0 1 4 9 16 25 36 49 64 81]
}
