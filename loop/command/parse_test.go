package command

import "testing"

func TestLossAndStepLines(t *testing.T) {
	for _, tc := range []struct {
		line       string
		loss, step string
	}{
		{"loss: 0.5", "0.5", ""},
		{"step=3 loss=1.25e-2", "1.25e-2", "3"},
		{`{"loss": 0.75, "global_step": 12}`, "0.75", "12"},
		{"step 1 loss 0.5", "0.5", "1"},
		{"{'train_loss': 2.0, 'step': 7}", "2.0", "7"},
		{"eval_loss: 0.3", "", ""},
		{"val_loss 0.3 stepsize 4", "", ""},
		{"loss function changed", "", ""},
	} {
		var loss, step string
		if m := lossRe.FindStringSubmatch(tc.line); m != nil {
			loss = m[1]
		}
		if m := stepRe.FindStringSubmatch(tc.line); m != nil {
			step = m[1]
		}
		if loss != tc.loss || step != tc.step {
			t.Errorf("%q: loss %q step %q, want %q %q", tc.line, loss, step, tc.loss, tc.step)
		}
	}
}
