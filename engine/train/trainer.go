package train

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
)

// Config is what a training run needs besides the model and data.
type Config struct {
	Batch    int    // sequences (SFT) or preference pairs (DPO) per micro-batch
	Accum    int    // micro-batches whose gradients are summed per step; 0 means 1
	Seq      int    // positions per sequence; longer examples are truncated
	Seed     uint64 // drives data sampling; same seed, same run
	AdamW    AdamWConfig
	Schedule Schedule
	ClipNorm float64 // global gradient-norm clip; 0 disables
	Pad      int32   // input token for padding positions (never a target)
	// ByLength batches SFT examples by length: a step draws its first
	// example from the mixture as usual and the rest of its batch from the
	// same dataset among the examples of the same length bucket (lengths
	// rounded up to a multiple of ByLength positions), and its rows are as
	// long as that bucket instead of Seq. Each example is still drawn with
	// its mixture probability; only which examples share a batch changes.
	// 0 pads every row to Seq.
	ByLength int
}

// Stats describe one step.
type Stats struct {
	Step     int     // 0-based index of the step just taken
	Loss     float64 // mean loss of the batch
	GradNorm float64 // before clipping
	LR       float64
	Targets  int // trained tokens (SFT) in the batch
}

// core is the state shared by the SFT and DPO trainers and saved in a
// training checkpoint: weights, optimizer moments, step and RNG state.
type core struct {
	cfg  Config
	m    *llama.Model
	ws   *llama.Workspace
	opt  *AdamW
	pcg  *rand.PCG
	rng  *rand.Rand
	step int

	inputs, targets []int32 // all micro-batches of a step, packed
	dlogp           []float32
}

// micro returns the inputs and targets of micro-batch a.
func (c *core) micro(a int) (inputs, targets []int32) {
	n := c.ws.N
	return c.inputs[a*n : (a+1)*n], c.targets[a*n : (a+1)*n]
}

func newCore(m *llama.Model, cfg Config, rows int) (*core, error) {
	if cfg.Batch <= 0 || cfg.Seq <= 0 {
		return nil, fmt.Errorf("train: batch %d and seq %d must be positive", cfg.Batch, cfg.Seq)
	}
	if cfg.Schedule == nil {
		return nil, errors.New("train: no learning-rate schedule")
	}
	if cfg.Pad < 0 || int(cfg.Pad) >= m.Config.Vocab {
		return nil, fmt.Errorf("train: pad token %d outside vocabulary", cfg.Pad)
	}
	if cfg.Accum < 0 {
		return nil, fmt.Errorf("train: accum %d is negative", cfg.Accum)
	}
	cfg.Accum = max(cfg.Accum, 1)
	ws, err := m.NewWorkspace(rows, cfg.Seq)
	if err != nil {
		return nil, fmt.Errorf("train: %w", err)
	}
	m.InitGrads()
	pcg := rand.NewPCG(cfg.Seed, 0x5eed)
	n := cfg.Accum * rows * cfg.Seq
	return &core{cfg: cfg, m: m, ws: ws, opt: NewAdamW(m, cfg.AdamW), pcg: pcg, rng: rand.New(pcg),
		inputs: make([]int32, n), targets: make([]int32, n), dlogp: make([]float32, n)}, nil
}

// Steps returns how many steps have been taken.
func (c *core) Steps() int { return c.step }

// Model returns the model being trained.
func (c *core) Model() *llama.Model { return c.m }

// ErrNonFinite reports a loss or gradient that is NaN or infinite; the step
// is not applied, so the weights stay usable.
var ErrNonFinite = errors.New("train: non-finite loss or gradient")

// apply clips the accumulated gradients and takes an optimizer step.
func (c *core) apply(s *Stats) error {
	s.Step = c.step
	s.LR = c.cfg.Schedule.LR(c.step)
	s.GradNorm = ClipGradNorm(c.m.Grads, c.cfg.ClipNorm)
	if math.IsNaN(s.GradNorm) || math.IsInf(s.GradNorm, 0) || math.IsNaN(s.Loss) || math.IsInf(s.Loss, 0) {
		return fmt.Errorf("%w at step %d: loss %g, gradient norm %g", ErrNonFinite, c.step, s.Loss, s.GradNorm)
	}
	c.opt.Update(c.m.Params, c.m.Grads, s.LR)
	c.step++
	return nil
}

// Files of a training checkpoint directory, besides the model's own.
const (
	optimizerFile = "optimizer.safetensors"
	stateFile     = "trainer_state.json"
)

type state struct {
	Step      int    `json:"step"`
	AdamSteps int    `json:"adam_steps"`
	RNG       string `json:"rng"` // base64 of rand.PCG's binary state
	// Files holds the SHA-256 of every other file of the checkpoint. The
	// state file is written last, so a save interrupted half-way, which
	// would leave new weights beside old optimizer moments, is detected
	// instead of resumed from.
	Files map[string]string `json:"files"`
}

var checkpointFiles = []string{checkpoint.ConfigFile, checkpoint.WeightsFile, optimizerFile}

// HasCheckpoint reports whether dir holds a training checkpoint written by
// Save (its state file, written last), so a job knows to Restore from it.
func HasCheckpoint(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, stateFile))
	return err == nil
}

func fileHash(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("train: %w", err)
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:]), nil
}

// Save writes everything needed to continue the run bit for bit: the model
// (config.json, model.safetensors), AdamW moments and the trainer state.
//
// The files form one checkpoint, so Save journals them: each new file is
// written beside the old one as NAME.next, then the state file, whose
// hashes name the new contents, is renamed into place (the commit point),
// then the .next files are renamed over the old ones. A kill before the
// commit leaves the previous checkpoint whole; a kill after it is finished
// by Restore, which completes the renames.
func (c *core) Save(dir string) error {
	cfg, err := json.MarshalIndent(c.m.Config, "", "  ")
	if err != nil {
		return fmt.Errorf("train: save: %w", err)
	}
	next := func(name string) string { return filepath.Join(dir, name+nextSuffix) }
	if err := checkpoint.WriteFileAtomic(next(checkpoint.ConfigFile), append(cfg, '\n')); err != nil {
		return err
	}
	if err := checkpoint.WriteAtomic(next(checkpoint.WeightsFile), func(w io.Writer) error {
		return checkpoint.Write(w, checkpoint.ModelTensors(c.m), map[string]string{"format": "pt"})
	}); err != nil {
		return err
	}
	n := len(c.opt.M)
	if err := checkpoint.WriteAtomic(next(optimizerFile), func(w io.Writer) error {
		return checkpoint.Write(w, []checkpoint.Tensor{
			{Name: "adamw.m", Shape: []int{n}, Data: c.opt.M},
			{Name: "adamw.v", Shape: []int{n}, Data: c.opt.V},
		}, nil)
	}); err != nil {
		return err
	}
	rs, err := c.pcg.MarshalBinary()
	if err != nil {
		return fmt.Errorf("train: save rng: %w", err)
	}
	st := state{Step: c.step, AdamSteps: c.opt.Steps, RNG: base64.StdEncoding.EncodeToString(rs), Files: map[string]string{}}
	for _, name := range checkpointFiles {
		if st.Files[name], err = fileHash(next(name)); err != nil {
			return err
		}
	}
	js, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return fmt.Errorf("train: save: %w", err)
	}
	if err := checkpoint.WriteFileAtomic(filepath.Join(dir, stateFile), append(js, '\n')); err != nil {
		return err
	}
	return finishSave(dir, st)
}

// nextSuffix marks a checkpoint file written by Save but not yet renamed
// into place.
const nextSuffix = ".next"

// finishSave renames the .next files of a committed save into place. A file
// already in place (its hash matches the state) is left alone, so finishing
// twice is harmless.
func finishSave(dir string, st state) error {
	for _, name := range checkpointFiles {
		path := filepath.Join(dir, name)
		if h, err := fileHash(path); err == nil && h == st.Files[name] {
			os.Remove(path + nextSuffix)
			continue
		}
		h, err := fileHash(path + nextSuffix)
		if err != nil || h != st.Files[name] {
			return fmt.Errorf("train: restore %s: %s does not match %s (files of different saves mixed, or an interrupted save)", dir, name, stateFile)
		}
		if err := os.Rename(path+nextSuffix, path); err != nil {
			return fmt.Errorf("train: %w", err)
		}
	}
	return nil
}

// Restore loads a checkpoint written by Save into this trainer, whose model
// must have the same config. The schedule, data and batch shape come from
// the trainer's own Config, so they must match the original run for the
// continuation to be exact.
func (c *core) Restore(dir string) error {
	st, err := readState(dir, "restore")
	if err != nil {
		return err
	}
	// Complete a save that was killed after its commit point.
	if err := finishSave(dir, st); err != nil {
		return err
	}
	m, err := checkpoint.LoadModel(dir)
	if err != nil {
		return err
	}
	if m.Config != c.m.Config {
		return fmt.Errorf("train: restore %s: checkpoint config %+v differs from model %+v", dir, m.Config, c.m.Config)
	}
	mt, vt, err := c.moments(dir, "restore")
	if err != nil {
		return err
	}
	rs, err := base64.StdEncoding.DecodeString(st.RNG)
	if err != nil {
		return fmt.Errorf("train: restore rng: %w", err)
	}
	if st.Step < 0 || st.AdamSteps < 0 {
		return fmt.Errorf("train: restore %s: negative step", stateFile)
	}
	if err := c.pcg.UnmarshalBinary(rs); err != nil {
		return fmt.Errorf("train: restore rng: %w", err)
	}
	copy(c.m.Params, m.Params)
	copy(c.opt.M, mt)
	copy(c.opt.V, vt)
	c.opt.Steps, c.step = st.AdamSteps, st.Step
	return nil
}

// RestoreOptimizer continues the AdamW state (moments and update count)
// of the checkpoint in dir, written by Save for a model of the same config,
// but not its weights, step, data order or schedule: a new training phase
// that starts from that checkpoint's model goes on with its optimizer
// instead of re-warming a fresh one. dir is only read; a checkpoint whose
// save did not finish is an error.
func (c *core) RestoreOptimizer(dir string) error {
	st, err := readState(dir, "restore optimizer")
	if err != nil {
		return err
	}
	if st.AdamSteps < 0 {
		return fmt.Errorf("train: restore optimizer %s: negative step", dir)
	}
	path := filepath.Join(dir, optimizerFile)
	if h, err := fileHash(path); err != nil || h != st.Files[optimizerFile] {
		return fmt.Errorf("train: restore optimizer %s: %s does not match %s (an interrupted save)", dir, optimizerFile, stateFile)
	}
	mt, vt, err := c.moments(dir, "restore optimizer")
	if err != nil {
		return err
	}
	copy(c.opt.M, mt)
	copy(c.opt.V, vt)
	c.opt.Steps = st.AdamSteps
	return nil
}

// readState reads the state file of the checkpoint in dir; op, the
// caller, heads the errors.
func readState(dir, op string) (state, error) {
	var st state
	raw, err := os.ReadFile(filepath.Join(dir, stateFile))
	if err != nil {
		return st, fmt.Errorf("train: %s: %w", op, err)
	}
	if err := json.Unmarshal(raw, &st); err != nil {
		return st, fmt.Errorf("train: %s %s: %w", op, stateFile, err)
	}
	return st, nil
}

// moments reads the AdamW moments of the checkpoint in dir, checked to
// fit c's optimizer, without touching it; op, the caller, heads the errors.
func (c *core) moments(dir, op string) (m, v []float32, err error) {
	f, err := checkpoint.ReadFile(filepath.Join(dir, optimizerFile))
	if err != nil {
		return nil, nil, err
	}
	mt, ok1 := f.Get("adamw.m")
	vt, ok2 := f.Get("adamw.v")
	if !ok1 || !ok2 || len(mt.Data) != len(c.opt.M) || len(vt.Data) != len(c.opt.V) {
		return nil, nil, fmt.Errorf("train: %s %s: optimizer state missing or for another model", op, dir)
	}
	return mt.Data, vt.Data, nil
}

// SFT trains next-token prediction on the masked tokens of examples.
type SFT struct {
	*core
	data *Mixture[Example]
	// With ByLength: per dataset, the indices of its items by row length,
	// and a workspace per row length, made when first needed.
	buckets []map[int][]int
	wss     map[int]*llama.Workspace
}

// rowLen is the row length of e's bucket with ByLength: the positions it
// needs (its last token is only a target), rounded up, at most Seq.
func (c *core) rowLen(e *Example) int {
	w := c.cfg.ByLength
	return max(min((len(e.Tokens)-1+w-1)/w*w, c.cfg.Seq), 1)
}

// NewSFT prepares SFT of m on data. All buffers are allocated here, so Step
// does not allocate.
func NewSFT(m *llama.Model, data *Mixture[Example], cfg Config) (*SFT, error) {
	for _, s := range data.sets {
		for i := range s.Items {
			if err := s.Items[i].validate(m.Config.Vocab); err != nil {
				return nil, fmt.Errorf("train: dataset %q item %d: %w", s.Name, i, err)
			}
		}
	}
	if cfg.ByLength < 0 {
		return nil, fmt.Errorf("train: by_length %d is negative", cfg.ByLength)
	}
	c, err := newCore(m, cfg, cfg.Batch)
	if err != nil {
		return nil, err
	}
	t := &SFT{core: c, data: data}
	if cfg.ByLength > 0 {
		t.wss = map[int]*llama.Workspace{cfg.Seq: c.ws}
		for _, s := range data.sets {
			b := map[int][]int{}
			for i := range s.Items {
				k := c.rowLen(&s.Items[i])
				b[k] = append(b[k], i)
			}
			t.buckets = append(t.buckets, b)
		}
	}
	return t, nil
}

// byLength draws a step's examples from one dataset and length bucket
// into the packed buffers and points the workspace at the bucket's row
// length; it returns the trained tokens.
func (t *SFT) byLength() (int, error) {
	first, set := t.data.Sample(t.rng)
	seq := t.rowLen(first)
	ws, ok := t.wss[seq]
	if !ok {
		var err error
		if ws, err = t.m.NewWorkspace(t.cfg.Batch, seq); err != nil {
			return 0, fmt.Errorf("train: %w", err)
		}
		t.wss[seq] = ws
	}
	t.ws = ws
	items, bucket := t.data.sets[set].Items, t.buckets[set][seq]
	n := 0
	for b := range t.cfg.Accum * t.cfg.Batch {
		e := first
		if b > 0 {
			e = &items[bucket[t.rng.IntN(len(bucket))]]
		}
		n += packRow(e, t.inputs[b*seq:(b+1)*seq], t.targets[b*seq:(b+1)*seq], t.cfg.Pad)
	}
	return n, nil
}

// Step samples a batch, computes the mean cross-entropy over its target
// tokens, and updates the model.
func (t *SFT) Step() (Stats, error) {
	seq := t.cfg.Seq
	var s Stats
	if t.cfg.ByLength > 0 {
		var err error
		if s.Targets, err = t.byLength(); err != nil {
			return s, err
		}
		if s.Loss, err = t.lossAndGrad(s.Targets); err != nil {
			return s, err
		}
		return s, t.apply(&s)
	}
	for b := range t.cfg.Accum * t.cfg.Batch {
		e, _ := t.data.Sample(t.rng)
		s.Targets += packRow(e, t.inputs[b*seq:(b+1)*seq], t.targets[b*seq:(b+1)*seq], t.cfg.Pad)
	}
	var err error
	if s.Loss, err = t.lossAndGrad(s.Targets); err != nil {
		return s, err
	}
	return s, t.apply(&s)
}

// lossAndGrad sets the model's Grads to the gradient of the mean loss over
// the k targets of all packed micro-batches and returns that loss.
func (t *SFT) lossAndGrad(k int) (float64, error) {
	t.m.ZeroGrads()
	var loss float64
	for a := range t.cfg.Accum {
		in, tg := t.micro(a)
		if err := t.ws.Forward(in, tg); err != nil {
			return 0, err
		}
		loss += crossEntropy(t.ws.LogProbs, tg, t.dlogp[:len(tg)], k)
		if err := t.ws.Backward(t.dlogp[:len(tg)]); err != nil {
			return 0, err
		}
	}
	return loss, nil
}

// CrossEntropy returns the mean of −logp over positions with a target ≥ 0
// and sets dlogp to its gradient with respect to logp.
func CrossEntropy(logp []float32, targets []int32, dlogp []float32) float64 {
	k := 0
	for _, t := range targets {
		if t >= 0 {
			k++
		}
	}
	return crossEntropy(logp, targets, dlogp, k)
}

// crossEntropy is CrossEntropy's share from one micro-batch of a mean over
// k targets in all.
func crossEntropy(logp []float32, targets []int32, dlogp []float32, k int) float64 {
	var loss float64
	for i, t := range targets {
		dlogp[i] = 0
		if t >= 0 {
			loss -= float64(logp[i])
			dlogp[i] = float32(-1 / float64(k))
		}
	}
	if k == 0 {
		return 0
	}
	return loss / float64(k)
}

// DPO trains a policy to prefer chosen over rejected responses relative to a
// frozen reference model (Rafailov et al., 2023).
type DPO struct {
	*core
	ref  *llama.Workspace
	data *Mixture[Pair]
	Beta float64
	// NLL adds NLL times the chosen response's mean negative log-likelihood
	// per token to the loss (RPO, Pang et al., 2024; the NLL term of
	// self-consistency preference optimisation). Without it, pushing down a
	// rejected answer that differs from the chosen one by a character also
	// pushes down the shared characters, and small models collapse.
	NLL   float64
	seqLP []float64 // per row: summed response log-probs of policy
	refLP []float64 // and of the reference
}

// NewDPO prepares DPO of policy against ref (which is only read) with
// strength beta. Each step runs Batch pairs as 2·Batch rows.
func NewDPO(policy, ref *llama.Model, data *Mixture[Pair], beta float64, cfg Config) (*DPO, error) {
	if ref.Config != policy.Config {
		return nil, errors.New("train: dpo: reference and policy configs differ")
	}
	for _, s := range data.sets {
		for i := range s.Items {
			for _, e := range []*Example{&s.Items[i].Chosen, &s.Items[i].Rejected} {
				if err := e.validate(policy.Config.Vocab); err != nil {
					return nil, fmt.Errorf("train: dataset %q pair %d: %w", s.Name, i, err)
				}
			}
		}
	}
	c, err := newCore(policy, cfg, 2*cfg.Batch)
	if err != nil {
		return nil, err
	}
	rws, err := ref.NewForwardWorkspace(2*cfg.Batch, cfg.Seq)
	if err != nil {
		return nil, fmt.Errorf("train: dpo: %w", err)
	}
	return &DPO{core: c, ref: rws, data: data, Beta: beta,
		seqLP: make([]float64, 2*cfg.Batch), refLP: make([]float64, 2*cfg.Batch)}, nil
}

// DPOLoss returns −log σ(β·((pc − rc) − (pr − rr))) for policy and
// reference log-likelihoods of the chosen (pc, rc) and rejected (pr, rr)
// responses, and its derivatives with respect to pc and pr.
func DPOLoss(beta, pc, pr, rc, rr float64) (loss, dpc, dpr float64) {
	z := beta * ((pc - rc) - (pr - rr))
	// softplus(−z), stable for large |z|.
	loss = math.Max(-z, 0) + math.Log1p(math.Exp(-math.Abs(z)))
	g := -beta / (1 + math.Exp(z)) // ∂loss/∂pc = −β·σ(−z)
	return loss, g, -g
}

// Step samples Batch pairs and takes one DPO update. Stats.Loss is the mean
// DPO loss over the pairs.
func (t *DPO) Step() (Stats, error) {
	seq := t.cfg.Seq
	var s Stats
	for b := range t.cfg.Accum * t.cfg.Batch {
		p, _ := t.data.Sample(t.rng)
		r := 2 * b
		s.Targets += packRow(&p.Chosen, t.inputs[r*seq:(r+1)*seq], t.targets[r*seq:(r+1)*seq], t.cfg.Pad)
		s.Targets += packRow(&p.Rejected, t.inputs[(r+1)*seq:(r+2)*seq], t.targets[(r+1)*seq:(r+2)*seq], t.cfg.Pad)
	}
	var err error
	if s.Loss, err = t.lossAndGrad(); err != nil {
		return s, err
	}
	return s, t.apply(&s)
}

// lossAndGrad runs the reference and the policy on each packed
// micro-batch, sets the policy's Grads and returns the mean DPO loss over
// all pairs of the step.
func (t *DPO) lossAndGrad() (float64, error) {
	t.m.ZeroGrads()
	var loss float64
	for a := range t.cfg.Accum {
		in, tg := t.micro(a)
		if err := t.ref.Forward(in, tg); err != nil {
			return 0, err
		}
		if err := t.ws.Forward(in, tg); err != nil {
			return 0, err
		}
		loss += t.loss(t.ws.LogProbs, t.ref.LogProbs, tg, t.dlogp[:len(tg)])
		if err := t.ws.Backward(t.dlogp[:len(tg)]); err != nil {
			return 0, err
		}
	}
	return loss, nil
}

// loss computes one micro-batch's share of the mean DPO loss from
// per-position policy and reference log-probs and writes ∂loss/∂logp for
// the policy.
func (t *DPO) loss(policy, ref []float32, targets []int32, dlogp []float32) float64 {
	seq := t.cfg.Seq
	for r := range t.seqLP {
		t.seqLP[r], t.refLP[r] = 0, 0
		for i := r * seq; i < (r+1)*seq; i++ {
			if targets[i] >= 0 {
				t.seqLP[r] += float64(policy[i])
				t.refLP[r] += float64(ref[i])
			}
		}
	}
	var total float64
	nb := float64(t.cfg.Batch * t.cfg.Accum)
	for b := range t.cfg.Batch {
		c, r := 2*b, 2*b+1
		l, dc, dr := DPOLoss(t.Beta, t.seqLP[c], t.seqLP[r], t.refLP[c], t.refLP[r])
		if t.NLL != 0 {
			nc := 0
			for i := c * seq; i < (c+1)*seq; i++ {
				if targets[i] >= 0 {
					nc++
				}
			}
			nc = max(nc, 1)
			l -= t.NLL * t.seqLP[c] / float64(nc)
			dc -= t.NLL / float64(nc)
		}
		total += l
		for i := c * seq; i < (c+1)*seq; i++ {
			dlogp[i] = 0
			if targets[i] >= 0 {
				dlogp[i] = float32(dc / nb)
			}
		}
		for i := r * seq; i < (r+1)*seq; i++ {
			dlogp[i] = 0
			if targets[i] >= 0 {
				dlogp[i] = float32(dr / nb)
			}
		}
	}
	return total / nb
}
