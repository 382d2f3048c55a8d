package methods

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/trainjob"
)

// dpoNLL trains the model in init on the DPO pairs of files with the DPO
// loss plus nll times the chosen answer's mean negative log-likelihood (RPO,
// Pang et al. 2024; the NLL term of Prasad et al.'s ScPO), the frozen
// reference being init itself. engine/train's DPO has no such term: without
// it, pairs whose answers differ in a character or two lower the likelihood
// of the chosen answer along with the rejected one, and the model unlearns
// what it knew. It writes the model to out at the end only: a kill restarts
// the round's training.
func dpoNLL(ctx context.Context, init, out string, files []string, c TrainConfig, nll float64, seed uint64, progress func(step int, loss float64)) (trainjob.Result, error) {
	res := trainjob.Result{Out: out}
	policy, err := checkpoint.LoadModel(init)
	if err != nil {
		return res, fmt.Errorf("methods: %w", err)
	}
	ref, err := checkpoint.LoadModel(init)
	if err != nil {
		return res, fmt.Errorf("methods: %w", err)
	}
	tok, err := checkpoint.LoadTokenizer(init)
	if err != nil {
		return res, fmt.Errorf("methods: %w", err)
	}
	var sets []train.Dataset[train.Pair]
	seq := 0
	for _, f := range files {
		convs, err := trainjob.ReadJSONL(f)
		if err != nil {
			return res, fmt.Errorf("methods: %w", err)
		}
		d := train.Dataset[train.Pair]{Name: f, Weight: float64(len(convs))}
		for i, cv := range convs {
			p, err := train.ChatPair(tok, cv.Messages, cv.Chosen, cv.Rejected)
			if err != nil {
				return res, fmt.Errorf("methods: %s pair %d: %w", f, i+1, err)
			}
			seq = max(seq, len(p.Chosen.Tokens)-1, len(p.Rejected.Tokens)-1)
			d.Items = append(d.Items, p)
		}
		res.Examples += len(d.Items)
		sets = append(sets, d)
	}
	mix, err := train.NewMixture(sets...)
	if err != nil {
		return res, fmt.Errorf("methods: %w", err)
	}
	if seq > policy.Config.MaxSeq {
		return res, fmt.Errorf("methods: pairs of %d tokens exceed the context of %d", seq+1, policy.Config.MaxSeq)
	}
	rows := 2 * c.Batch
	ws, err := policy.NewWorkspace(rows, seq)
	if err != nil {
		return res, fmt.Errorf("methods: %w", err)
	}
	rws, err := ref.NewForwardWorkspace(rows, seq)
	if err != nil {
		return res, fmt.Errorf("methods: %w", err)
	}
	policy.InitGrads()
	opt := train.NewAdamW(policy, train.DefaultAdamW)
	sched := train.Cosine{Peak: c.LR, Min: c.LR / 10, Warmup: c.Warmup, Total: c.Steps}
	beta := c.Beta
	if beta == 0 {
		beta = 0.1
	}
	pad, _ := tok.SpecialID(tokenizer.PAD)
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	inputs, targets := make([]int32, rows*seq), make([]int32, rows*seq)
	dlogp := make([]float32, rows*seq)
	sum := func(lp []float32, r int) (s float64, n int) {
		for i := r * seq; i < (r+1)*seq; i++ {
			if targets[i] >= 0 {
				s += float64(lp[i])
				n++
			}
		}
		return s, n
	}
	for step := range c.Steps {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		for b := range c.Batch {
			p, _ := mix.Sample(rng)
			pack(&p.Chosen, inputs[2*b*seq:(2*b+1)*seq], targets[2*b*seq:(2*b+1)*seq], int32(pad))
			pack(&p.Rejected, inputs[(2*b+1)*seq:(2*b+2)*seq], targets[(2*b+1)*seq:(2*b+2)*seq], int32(pad))
		}
		if err := rws.Forward(inputs, targets); err != nil {
			return res, fmt.Errorf("methods: %w", err)
		}
		if err := ws.Forward(inputs, targets); err != nil {
			return res, fmt.Errorf("methods: %w", err)
		}
		var loss float64
		nb := float64(c.Batch)
		for b := range c.Batch {
			ch, rj := 2*b, 2*b+1
			pc, nc := sum(ws.LogProbs, ch)
			pr, _ := sum(ws.LogProbs, rj)
			rc, _ := sum(rws.LogProbs, ch)
			rr, _ := sum(rws.LogProbs, rj)
			l, dc, dr := train.DPOLoss(beta, pc, pr, rc, rr)
			loss += l - nll*pc/float64(max(nc, 1))
			dc -= nll / float64(max(nc, 1))
			for _, row := range [2]struct {
				r int
				d float64
			}{{ch, dc}, {rj, dr}} {
				for i := row.r * seq; i < (row.r+1)*seq; i++ {
					dlogp[i] = 0
					if targets[i] >= 0 {
						dlogp[i] = float32(row.d / nb)
					}
				}
			}
		}
		loss /= nb
		policy.ZeroGrads()
		if err := ws.Backward(dlogp); err != nil {
			return res, fmt.Errorf("methods: %w", err)
		}
		train.ClipGradNorm(policy.Grads, 1)
		opt.Update(policy.Params, policy.Grads, sched.LR(step))
		if step == 0 {
			res.FirstLoss = loss
		}
		res.LastLoss, res.Steps = loss, step+1
		if progress != nil {
			progress(step+1, loss)
		}
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return res, fmt.Errorf("methods: %w", err)
	}
	if err := checkpoint.SaveTokenizer(out, tok); err != nil {
		return res, fmt.Errorf("methods: %w", err)
	}
	// The weights last: their presence marks a finished model.
	if err := checkpoint.SaveModel(out, policy); err != nil {
		return res, fmt.Errorf("methods: %w", err)
	}
	res.Params = len(policy.Params)
	return res, nil
}

// pack writes example e into one batch row, as engine/train packs rows:
// inputs are the tokens, targets the next token where it is trained and −1
// elsewhere.
func pack(e *train.Example, inputs, targets []int32, pad int32) {
	for i := range inputs {
		inputs[i], targets[i] = pad, -1
		if i < len(e.Tokens) {
			inputs[i] = e.Tokens[i]
		}
		if i+1 < len(e.Tokens) && (e.Mask == nil || e.Mask[i+1]) {
			targets[i] = e.Tokens[i+1]
		}
	}
}
