package train_test

import (
	"fmt"

	"github.com/synthloop/synthloop/engine/train"
)

// A policy that likes the chosen answer more than the reference does has a
// DPO loss below ln 2, and the gradient pushes the two log-likelihoods apart.
func ExampleDPOLoss() {
	loss, dChosen, dRejected := train.DPOLoss(0.1, -10, -14, -12, -12)
	fmt.Printf("loss %.4f, ∂/∂chosen %.4f, ∂/∂rejected %.4f\n", loss, dChosen, dRejected)
	// Output: loss 0.5130, ∂/∂chosen -0.0401, ∂/∂rejected 0.0401
}
