package train

import (
	"fmt"

	"github.com/synthloop/synthloop/engine/llama"
)

// Score returns, for each example, the summed log-probability the model
// gives its trained tokens (Mask, or all after the first) and how many there
// are: the sequence log-likelihood DPO references, likelihood filters and
// perplexity need. Examples are run batch at a time through one workspace
// of seq positions; longer examples are an error rather than silently cut.
func Score(m *llama.Model, items []Example, batch, seq int) (logp []float64, tokens []int, err error) {
	if batch <= 0 {
		return nil, nil, fmt.Errorf("train: score: batch %d", batch)
	}
	for i := range items {
		if err := items[i].validate(m.Config.Vocab); err != nil {
			return nil, nil, fmt.Errorf("train: score: example %d: %w", i, err)
		}
		if len(items[i].Tokens) > seq+1 {
			return nil, nil, fmt.Errorf("train: score: example %d has %d tokens, more than seq+1 = %d", i, len(items[i].Tokens), seq+1)
		}
	}
	ws, err := m.NewForwardWorkspace(batch, seq)
	if err != nil {
		return nil, nil, fmt.Errorf("train: score: %w", err)
	}
	inputs, targets := make([]int32, batch*seq), make([]int32, batch*seq)
	logp, tokens = make([]float64, len(items)), make([]int, len(items))
	for start := 0; start < len(items); start += batch {
		for b := range batch {
			row := Example{}
			if start+b < len(items) {
				row = items[start+b]
			}
			n := packRow(&row, inputs[b*seq:(b+1)*seq], targets[b*seq:(b+1)*seq], 0)
			if start+b < len(items) {
				tokens[start+b] = n
			}
		}
		if err := ws.Forward(inputs, targets); err != nil {
			return nil, nil, err
		}
		for b := range min(batch, len(items)-start) {
			for i := b * seq; i < (b+1)*seq; i++ {
				logp[start+b] += float64(ws.LogProbs[i])
			}
		}
	}
	return logp, tokens, nil
}
