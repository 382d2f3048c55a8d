package loopplug

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tensor"
	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/trainjob"
	"golang.org/x/sync/errgroup"
)

// Arch is lab.Arch in the loop config. The zero RoPE is NoPE, which lets a
// model trained on short problems answer longer ones.
type Arch struct {
	Dim     int  `yaml:"dim" doc:"Model width"`
	Layers  int  `yaml:"layers" doc:"Transformer layers"`
	Heads   int  `yaml:"heads" doc:"Attention heads"`
	KVHeads int  `yaml:"kv_heads" doc:"Key/value heads (0: as many as heads)"`
	Hidden  int  `yaml:"hidden" doc:"Feed-forward width"`
	MaxSeq  int  `yaml:"max_seq" doc:"Longest sequence in tokens"`
	RoPE    bool `yaml:"rope" doc:"Rotary position embeddings instead of learned ones"`
}

func (a Arch) lab() lab.Arch {
	return lab.Arch{Dim: a.Dim, Layers: a.Layers, Heads: a.Heads, KVHeads: a.KVHeads, Hidden: a.Hidden, MaxSeq: a.MaxSeq, RoPE: a.RoPE}
}

func (a Arch) check(what string) error {
	if a.Dim < 1 || a.Layers < 1 || a.Heads < 1 || a.Hidden < 1 || a.MaxSeq < 2 || a.Dim%a.Heads != 0 || a.KVHeads < 0 {
		return fmt.Errorf("lab-train: %s: dim %d, layers %d, heads %d (dividing dim), hidden %d and max_seq %d must be positive", what, a.Dim, a.Layers, a.Heads, a.Hidden, a.MaxSeq)
	}
	return nil
}

// same reports whether c is a model of arch a.
func (a Arch) same(c llama.Config) bool {
	kv := a.KVHeads
	if kv == 0 {
		kv = a.Heads
	}
	return c.Dim == a.Dim && c.Layers == a.Layers && c.Heads == a.Heads && c.KVHeads == kv && c.Hidden == a.Hidden && c.RoPE == a.RoPE
}

// DefaultArch is lab-train's default model: 2 layers, d = 128, NoPE, about
// 0.53M parameters.
var DefaultArch = Arch{Dim: 128, Layers: 2, Heads: 4, Hidden: 512, MaxSeq: 256}

// Phase is one round's training: AdamW with a cosine schedule to LR/10 from
// a fresh optimizer state.
type Phase struct {
	Steps  int     `yaml:"steps" doc:"Training steps"`
	Batch  int     `yaml:"batch" doc:"Sequences (SFT) or pairs (DPO) per step"` // sequences (SFT) or pairs (DPO) per step
	LR     float64 `yaml:"lr" doc:"Peak learning rate"`
	Warmup int     `yaml:"warmup" doc:"Warmup steps"`
	// MaxEpochs caps the steps at this many passes over the round's
	// examples (0: no cap), so a round that kept few examples does not
	// train on them a hundred times over.
	MaxEpochs float64 `yaml:"max_epochs" doc:"Caps the steps at this many passes over the round's examples (0: no cap)"`
}

func (p Phase) check(what string) error {
	if p.Steps < 1 || p.Batch < 1 || !(p.LR > 0) || p.Warmup < 0 || p.Warmup >= p.Steps || p.MaxEpochs < 0 {
		return fmt.Errorf("lab-train: %ssteps %d, batch %d and lr %g must be positive, warmup %d in [0, steps), max_epochs %g ≥ 0", what, p.Steps, p.Batch, p.LR, p.Warmup, p.MaxEpochs)
	}
	return nil
}

// over fills p's unset fields from q, but for MaxEpochs: a cap meant for
// the few examples of a later round is not one for the first round's labels.
func (p Phase) over(q Phase) Phase {
	if p.Steps == 0 {
		p.Steps = q.Steps
	}
	if p.Batch == 0 {
		p.Batch = q.Batch
	}
	if p.LR == 0 {
		p.LR = q.LR
	}
	if p.Warmup == 0 {
		p.Warmup = min(q.Warmup, p.Steps-1)
	}
	return p
}

// capped cuts the steps to MaxEpochs passes over n examples.
func (p Phase) capped(n int) Phase {
	if p.MaxEpochs > 0 {
		p.Steps = max(1, min(p.Steps, int(math.Ceil(p.MaxEpochs*float64(n)/float64(p.Batch)))))
		p.Warmup = min(p.Warmup, p.Steps-1)
	}
	return p
}

// First is lab-train's training of a round without a teacher; unset fields
// are those of the other rounds, but for max_epochs (unset: no cap).
type First struct {
	// Arch sizes the new model (default: arch).
	Arch  *Arch `yaml:"arch"`
	Phase `yaml:",inline"`
	// Until and MaxSteps train to a target instead of a step count: after
	// Steps, while the model answers fewer than Until of 200 validation
	// problems of the hardest labelled difficulty (true labels, like the
	// rest of the round, from a seed of their own), it trains Steps/2 more
	// on a fresh schedule, up to MaxSteps in all. The plateau before a small
	// model finds how to align the digits of long addition lasts from a few
	// hundred to many thousand steps from one seed to the next.
	Until    float64 `yaml:"until" doc:"Train Steps/2 more while validation accuracy at the hardest labelled difficulty is below this (0: off)"`
	MaxSteps int     `yaml:"max_steps" doc:"Most steps in all with until"`
}

// TrainConfig is the `with:` block of lab-train.
type TrainConfig struct {
	Task string `yaml:"task" doc:"Gives a new model its alphabet (empty: the lab generator's)"`
	// Init is where the student starts: previous (the previous round's
	// student when it has this arch, else a new model), teacher (the
	// round's teacher, else a new model) or scratch (always a new model).
	Init  string `yaml:"init" doc:"Where the student starts: previous, teacher or scratch"`
	Arch  Arch   `yaml:"arch" doc:"Sizes a new student"`
	Phase `yaml:",inline"`
	// First is the training of a round without a teacher, which trains the
	// first teacher on labels: usually a new model that needs more steps,
	// and for distillation a larger one than the students.
	First *First  `yaml:"first" doc:"Training of the first round, without a teacher (arch and phase)"`
	Beta  float64 `yaml:"beta" doc:"DPO strength for preference data (0: 0.1)"`
	// NLL adds the chosen answer's mean NLL to the DPO loss (RPO, the NLL
	// term of Prasad et al.'s self-consistency preference optimisation); 0
	// is plain DPO, which collapses small models on near-identical pairs.
	NLL float64 `yaml:"nll" doc:"Weight of the chosen answer's NLL added to DPO (RPO); 0 is plain DPO"`
	// PoolEarlier weighs the earlier rounds' data by size within their
	// share of the mixture (as Lee et al. do) instead of
	// equally per round.
	PoolEarlier bool   `yaml:"pool_earlier" doc:"Weighs earlier rounds' data by size instead of equally per round"`
	SaveEvery   int    `yaml:"save_every" doc:"Steps between checkpoints (0: a quarter of the steps)"`
	Seed        uint64 `yaml:"seed" doc:"Seed of data order and new weights (0: the round's seed)"`
	// Voters train side by side from different seeds on the same mixture;
	// the student is voter 0 and the others ride along with it
	// (loop.Model.Voters), so that a labelling generator can take a
	// majority vote across models, as Lee et al. (2025) do.
	Voters int `yaml:"voters" doc:"Models trained side by side from different seeds; lab-selflabel votes across them (0: 1)"`
	// MinKept is the fewest examples the round's own file needs to be drawn
	// with its mix weight; below it every file of the mixture is pooled by
	// size, so that a handful of labels is not repeated a hundred times
	// over (it hurt more than it taught in the lab).
	MinKept int `yaml:"min_kept" doc:"Below this many examples in the round's file, the mixture is pooled by size (0: off)"`
	// ContinueOptimizer starts each voter's AdamW moments and update count
	// from the checkpoint it continues (the previous student's, or the
	// teacher's) instead of from zero, as Lee et al. continue one optimizer
	// across rounds: a round then needs no warmup of its own (set warmup 0).
	// A new model starts a fresh optimizer.
	ContinueOptimizer bool `yaml:"continue_optimizer" doc:"Continues the AdamW state of the model a round starts from instead of a fresh one (then set warmup: 0)"`
	// ByLength batches examples of about the same length together, in
	// buckets of this many tokens, so a batch of short examples is not
	// padded to the longest example of the mixture.
	ByLength int `yaml:"by_length" doc:"Batches SFT examples by length in buckets of this many tokens (0: pad every row to the longest example)"`
	// Probe scores each voter every few steps on the length the next round
	// will label, without a label, and makes the best-scoring checkpoint
	// the round's student (see ProbeConfig).
	Probe *ProbeConfig `yaml:"probe" doc:"Label-free probe of the next length during training; the best checkpoint is the student (every, problems, signal, samples, temperature)"`
	// GRPO is the reinforcement learning of rounds whose data are prompts
	// (lab-prompts): steps sampling steps of batch problems each.
	GRPO GRPO `yaml:"grpo" doc:"GRPO settings for prompt data (lab-prompts); the fields below"`

	gen      func() string // the generator's task, from SetLoop
	labelled func() int    // the generator's hardest labelled difficulty, 0 for none
	worked   func() bool   // the generator's prompts files carry worked examples
	scored   func() bool   // the generator's prompts files carry scored completions
	next     func() nexter // the generator, when it says which difficulty comes next
}

// ProbeConfig is lab-train's probe: every Every steps of a voter's
// training, and before its first and after its last step, the voter
// answers Problems problems of the next difficulty (the one the generator
// labels next when the round goes well; both operands of that length, as
// evaluation draws them), and lab.Probe scores the answers without a true
// answer: signal commute requires the answers to A+B= and B+A= to agree,
// samples the majority's share of Samples answers at Temperature. The
// checkpoint with the best score (the later of a tie; never the starting
// model, probed for the record only) becomes the voter's student
// (round-NNN/student), with the AdamW state of that step; the last
// training state stays in round-NNN/last. The scores go to the train log
// and to probe.json in the student's directory, which lab-selflabel's
// advance_probe reads.
type ProbeConfig struct {
	Every       int     `yaml:"every" doc:"Steps between probes"`
	Problems    int     `yaml:"problems" doc:"Problems of the next difficulty per probe"`
	Signal      string  `yaml:"signal" doc:"commute (answers to A+B and B+A agree) or samples (majority share of samples)"`
	Samples     int     `yaml:"samples" doc:"Samples per problem for signal samples"`
	Temperature float64 `yaml:"temperature" doc:"Temperature of the samples"`
}

func (p *ProbeConfig) lab() lab.Probe {
	return lab.Probe{Signal: p.Signal, Samples: p.Samples, Temperature: p.Temperature}
}

// nexter is a generator that says which difficulty the round after r
// labels when it moves on.
type nexter interface {
	nextDifficulty(r *loop.Round) int
}

// SetLoop implements the loop's config hook: the task defaults to the lab
// generator's.
func (c *TrainConfig) SetLoop(l *loop.Config) {
	c.gen = genTask(l)
	c.next = func() nexter {
		g, _ := l.Generate.Settings.(nexter)
		return g
	}
	c.worked = func() bool {
		g, ok := l.Generate.Settings.(interface{ writesWorked() bool })
		return ok && g.writesWorked()
	}
	c.scored = func() bool {
		g, ok := l.Generate.Settings.(interface{ writesScored() bool })
		return ok && g.writesScored()
	}
	c.labelled = func() int {
		if g, ok := l.Generate.Settings.(interface{ hardest() int }); ok {
			return g.hardest()
		}
		return 0
	}
}

// Validate implements the loop's config hook.
func (c *TrainConfig) Validate() error {
	if c.Task == "" && c.gen != nil {
		c.Task = c.gen()
	}
	if _, err := lookup(c.Task); err != nil {
		return fmt.Errorf("lab-train: %w", err)
	}
	switch c.Init {
	case "previous", "teacher", "scratch":
	default:
		return fmt.Errorf("lab-train: init %q: want previous, teacher or scratch", c.Init)
	}
	if err := c.Arch.check("arch"); err != nil {
		return err
	}
	if err := c.Phase.check(""); err != nil {
		return err
	}
	if f := c.First; f != nil {
		if f.Arch != nil {
			if err := f.Arch.check("first.arch"); err != nil {
				return err
			}
		}
		if err := f.Phase.over(c.Phase).check("first: "); err != nil {
			return err
		}
		if f.Until < 0 || f.Until > 1 || f.MaxSteps < 0 {
			return fmt.Errorf("lab-train: first: until %g in [0, 1] and max_steps %d ≥ 0", f.Until, f.MaxSteps)
		}
		if f.Until > 0 && (c.labelled == nil || c.labelled() == 0) {
			return errors.New("lab-train: first.until needs a lab generator whose first round is labelled (lab-labels, or a labels block)")
		}
	}
	if err := c.GRPO.check(); err != nil {
		return err
	}
	if c.GRPO.Replay == 0 && c.worked != nil && c.worked() {
		// Otherwise the first round whose prompts file carries proposer
		// examples stops with this error, one round later with online.
		return errors.New("lab-train: grpo: the generator writes proposer examples into its prompts files (lab-propose's prompts with train_proposer), which only replay trains: set grpo.replay")
	}
	if c.GRPO.Baseline == baselineBatch && c.scored != nil && c.scored() {
		// Their advantage is against their own batch (lab.RLConfig.Scored).
		return errors.New("lab-train: grpo: baseline batch would mix the rewards of the generator's scored completions (lab-propose's proposer_reward) with the solver's: use baseline group")
	}
	if p := c.Probe; p != nil {
		t, _ := lookup(c.Task)
		if p.Every < 1 || p.Problems < 1 {
			return fmt.Errorf("lab-train: probe: every %d and problems %d must be positive", p.Every, p.Problems)
		}
		if err := p.lab().Check(t); err != nil {
			return fmt.Errorf("lab-train: %w", err)
		}
		if c.next == nil || c.next() == nil {
			return errors.New("lab-train: probe needs a lab-selflabel generator, which says what length comes next")
		}
	}
	if c.Beta < 0 || c.SaveEvery < 0 || c.NLL < 0 || c.Voters < 0 || c.MinKept < 0 {
		return errors.New("lab-train: beta, nll, save_every, voters and min_kept must not be negative")
	}
	if c.ByLength < 0 {
		return fmt.Errorf("lab-train: by_length %d must not be negative", c.ByLength)
	}
	return nil
}

// genTask returns a function reading the task of the loop's generator when
// it is one of the lab's.
func genTask(l *loop.Config) func() string {
	return func() string {
		if g, ok := l.Generate.Settings.(interface{ labTask() string }); ok {
			return g.labTask()
		}
		return ""
	}
}

type trainer struct{ c *TrainConfig }

// Files of a round directory the trainer writes.
const (
	StudentDir = "student" // the trained model (engine/checkpoint, with trainjob's resumable state)
	LastDir    = "last"    // with a probe, the last training state (the student is the best probe's)
	InitDir    = "init"    // a new model's untrained weights
	TrainLog   = "train.log"
	// VerdictsFile is a GRPO round's record of its prompts: for each prompt
	// line of the round's prompts file (its worked examples have none), in
	// order, the answers drawn to it over the round and how many the
	// verifier passed (lab-propose's online mode reads which proposals were
	// learnable from it).
	VerdictsFile = "verdicts.jsonl"
)

func (tr *trainer) Train(ctx context.Context, r *loop.Round, in loop.TrainInput) (loop.Trained, error) {
	var done loop.Trained
	if ok, err := r.Restore("trained", &done); ok || err != nil {
		return done, err
	}
	n := max(tr.c.Voters, 1)
	if in.Format == PromptsFormat {
		var err error
		if done, err = tr.trainGRPO(ctx, r, in); err != nil {
			return loop.Trained{}, err
		}
	} else if n == 1 {
		var err error
		if done, err = tr.trainVoter(ctx, r, in, 0); err != nil {
			return loop.Trained{}, err
		}
	} else {
		// The voters are small models: rather than splitting each matrix
		// product over the cores, which cost a third more CPU time in our
		// measurements, each voter trains on one engine thread, side by side
		// (all at once: three models on two cores take 1.5 times one model's
		// time, not twice). That also makes the numbers independent of the
		// core count.
		defer tensor.SetThreads(tensor.Threads())
		tensor.SetThreads(1)
		voters := make([]loop.Trained, n)
		g, gctx := errgroup.WithContext(ctx)
		for k := range voters {
			g.Go(func() error {
				var err error
				voters[k], err = tr.trainVoter(gctx, r, in, k)
				return err
			})
		}
		if err := g.Wait(); err != nil {
			return loop.Trained{}, err
		}
		done = voters[0]
		for _, v := range voters[1:] {
			done.Student.Voters = append(done.Student.Voters, v.Student)
			done.Metrics["voter_steps"] += float64(v.Steps)
		}
		if tr.c.Probe != nil {
			sum := 0.0
			for _, v := range voters {
				sum += v.Metrics["probe"]
			}
			done.Metrics["probe_mean"] = sum / float64(len(voters))
		}
	}
	if err := r.Save(ctx, "trained", done); err != nil {
		return loop.Trained{}, err
	}
	return done, nil
}

// voterName names voter k's files: voter 0 is the student itself, so a
// loop with one voter writes what it always did.
func voterName(base string, k int) string {
	if k == 0 {
		return base
	}
	ext := filepath.Ext(base)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(base, ext), k, ext)
}

// trainVoter trains voter k of the round's student: its own seed, its own
// starting point (the previous student's voter k), its own checkpoint.
func (tr *trainer) trainVoter(ctx context.Context, r *loop.Round, in loop.TrainInput, k int) (loop.Trained, error) {
	c := tr.c
	v := &voterRun{tr: tr, r: r, ctx: ctx, k: k, method: "sft"}
	if in.Format == "dpo" {
		v.method = "dpo"
	}
	phase, arch := c.Phase, c.Arch
	if f := c.First; f != nil && !hasTeacher(r) {
		phase = f.Phase.over(c.Phase)
		if f.Arch != nil {
			arch = *f.Arch
		}
	}
	init, scratch, err := v.initial(in, arch)
	if err != nil {
		return loop.Trained{}, err
	}
	if v.data, v.n, err = tr.mixture(in); err != nil {
		return loop.Trained{}, err
	}
	phase = phase.capped(v.n)

	out := filepath.Join(r.Dir, voterName(StudentDir, k))
	if c.Probe != nil {
		// The training runs in last; the probe's best checkpoint is the student.
		if v.pr, err = tr.newProber(r, init, filepath.Join(r.Dir, voterName(StudentDir, k)), k); err != nil {
			return loop.Trained{}, err
		}
		out = filepath.Join(r.Dir, voterName(LastDir, k))
	}
	logPath := filepath.Join(r.Dir, voterName(TrainLog, k))
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return loop.Trained{}, fmt.Errorf("lab-train: %w", err)
	}
	defer lf.Close()
	v.lf, v.enc = lf, json.NewEncoder(lf)
	// The first and the last loss are kept in the round state: a job
	// resumed after a kill sees only its own steps, and none when the kill
	// came after the last one.
	v.firstKey, v.lastKey = voterName("first_loss", k), voterName("last_loss", k)
	if v.haveFirst, err = r.Restore(v.firstKey, &v.first); err != nil {
		return loop.Trained{}, err
	}
	v.from = "scratch"
	if !scratch {
		v.from = init
	}
	seed := (tr.seed(r) + uint64(k)*voterSeed) ^ forTrain<<32
	var until float64
	budget := phase.Steps
	if f := c.First; f != nil && !hasTeacher(r) && f.Until > 0 {
		until, budget = f.Until, max(f.MaxSteps, phase.Steps)
	}
	out, steps, phases, err := v.phases(init, out, phase, seed, until, budget)
	if err != nil {
		return loop.Trained{}, err
	}
	if ok, err := r.Restore(v.lastKey, &v.last); err != nil {
		return loop.Trained{}, err
	} else if !ok {
		return loop.Trained{}, errors.New("lab-train: the training finished without recording its last loss")
	}
	student := out
	if v.pr != nil {
		student = v.pr.best
	}
	metrics, err := v.metrics(student, scratch, c.ContinueOptimizer && train.HasCheckpoint(init))
	if err != nil {
		return loop.Trained{}, err
	}
	if until > 0 {
		metrics["phases"] = float64(phases)
	}
	return loop.Trained{Student: loop.LocalModel(student), Steps: steps, FirstLoss: v.first, LastLoss: v.last, Log: logPath, Metrics: metrics}, nil
}

// voterRun is the state one voter's training shares across its phases.
type voterRun struct {
	tr     *trainer
	r      *loop.Round
	ctx    context.Context
	k      int
	method string              // sft or dpo
	data   []trainjob.DataFile // the training mixture
	n      int                 // its examples
	pr     *prober
	lf     *os.File
	enc    *json.Encoder
	from   string // the starting checkpoint, for the log

	firstKey, lastKey string
	first, last       float64
	haveFirst         bool
	saveErr           error
}

// initial is the checkpoint voter k starts from; a scratch model is made
// (and saved in the round) when the config names none.
func (v *voterRun) initial(in loop.TrainInput, arch Arch) (init string, scratch bool, err error) {
	init, err = v.tr.start(v.r, in, arch, v.k)
	if err != nil || init != "" {
		return init, false, err
	}
	if v.method == "dpo" {
		return "", true, errors.New("lab-train: DPO needs a starting model, which is also its reference: set init: teacher or previous, and a first round of SFT (a labels block)")
	}
	t, _ := lookup(v.tr.c.Task)
	m, err := lab.NewModel(t, arch.lab(), (v.tr.seed(v.r)+uint64(v.k)*voterSeed)^forInit)
	if err != nil {
		return "", true, err
	}
	// Rewritten on every call: the same seed gives the same weights, and
	// a resumed job continues from the student's checkpoint, not from here.
	init = filepath.Join(v.r.Dir, voterName(InitDir, v.k))
	return init, true, m.Save(init)
}

// phases trains the first phase into out and, while first.until is set and
// not reached by the validation accuracy, further half-length phases, each
// in its own directory. It returns the last phase's checkpoint.
func (v *voterRun) phases(init, out string, phase Phase, seed uint64, until float64, budget int) (string, int, int, error) {
	res, err := v.job(init, out, phase, seed, 0, budget)
	if err != nil {
		return "", 0, 0, err
	}
	steps, phases, base := res.Steps, 1, out
	for until > 0 && steps < budget {
		// Greedy answers are deterministic, so a resumed round takes the
		// same decisions and finds its phases' checkpoints where it left them.
		acc, err := v.tr.validate(v.ctx, out)
		if err != nil {
			return "", 0, 0, err
		}
		v.r.Log.Info("lab-train: validation", "voter", v.k, "steps", steps, "accuracy", acc, "until", until)
		if acc >= until {
			break
		}
		more := phase
		more.Steps = min(max(phase.Steps/2, 1), budget-steps)
		more.Warmup = min(phase.Warmup, more.Steps-1)
		next := fmt.Sprintf("%s.more-%d", base, phases)
		if res, err = v.job(out, next, more, seed+uint64(phases)*7919, steps, budget); err != nil {
			return "", 0, 0, err
		}
		out, steps, phases = next, steps+res.Steps, phases+1
	}
	return out, steps, phases, nil
}

// job runs one training phase from init into dir; done steps came before
// it, of budget in all.
func (v *voterRun) job(init, dir string, ph Phase, seed uint64, done, budget int) (trainjob.Result, error) {
	c, r, k := v.tr.c, v.r, v.k
	every := max(ph.Steps/50, 1)
	opts := trainjob.Options{Data: v.data, Out: dir, Init: init, Method: v.method, Beta: c.Beta, NLL: c.NLL,
		InitOptimizer: c.ContinueOptimizer && train.HasCheckpoint(init),
		ByLength:      c.ByLength,
		Steps:         ph.Steps, Batch: ph.Batch, ShortSeq: true, LR: ph.LR, Warmup: ph.Warmup,
		Seed: seed, SaveEvery: c.SaveEvery,
		Progress: func(p trainjob.Progress) {
			if !v.haveFirst {
				v.first, v.haveFirst = p.Loss, true
				v.saveErr = errors.Join(v.saveErr, r.Save(v.ctx, v.firstKey, v.first))
			}
			if p.Step == p.Steps {
				v.last = p.Loss
				v.saveErr = errors.Join(v.saveErr, r.Save(v.ctx, v.lastKey, v.last))
			}
			if p.Step%every == 0 || p.Step == p.Steps {
				v.enc.Encode(map[string]any{"step": done + p.Step, "steps": budget, "loss": p.Loss, "lr": p.LR})
				if k == 0 {
					r.Progress(done+p.Step, budget, fmt.Sprintf("loss %.4f", p.Loss))
				}
			}
		}}
	if v.method != "sft" {
		opts.ByLength = 0 // preference pairs are padded as before
	}
	if v.pr != nil {
		opts.Probe, opts.ProbeEvery, opts.ProbeStart, opts.Best = v.pr.probe(done, v.enc), c.Probe.Every, done == 0, v.pr.best
	}
	if opts.SaveEvery == 0 {
		// trainjob's default, every tenth, spends more time in fsync than in
		// training on the lab's small models.
		opts.SaveEvery = max(ph.Steps/4, 1)
	}
	r.Log.Info("lab-train: training", "voter", k, "method", v.method, "from", v.from, "examples", v.n, "steps", ph.Steps, "done", done)
	res, err := trainjob.Run(v.ctx, opts)
	if err != nil && v.ctx.Err() == nil && strings.Contains(err.Error(), "holds a training state that does not fit") {
		// A kill during a checkpoint's own save leaves files that do not
		// match: the phase's training starts over.
		r.Log.Warn("lab-train: the student's checkpoint cannot be resumed; training again from the start", "err", err)
		fmt.Fprintf(v.lf, "{\"restart\": %q}\n", err.Error())
		if err := os.RemoveAll(dir); err != nil {
			return res, fmt.Errorf("lab-train: %w", err)
		}
		res, err = trainjob.Run(v.ctx, opts)
	}
	if err != nil {
		return res, fmt.Errorf("lab-train: %w", err)
	}
	return res, v.saveErr
}

// metrics describes the trained student for the round summary.
func (v *voterRun) metrics(student string, scratch, continued bool) (map[string]float64, error) {
	m, err := checkpoint.LoadModel(student)
	if err != nil {
		return nil, fmt.Errorf("lab-train: %w", err)
	}
	isScratch := 0.0
	if scratch {
		isScratch = 1
	}
	metrics := map[string]float64{"params": float64(m.Config.NumParams()), "examples": float64(v.n), "scratch": isScratch}
	if v.pr != nil {
		if err := v.pr.finish(metrics); err != nil {
			return nil, err
		}
	}
	if continued {
		metrics["optimizer_continued"] = 1
	}
	return metrics, nil
}

// Validation problems of first.until: their own seed, apart from the
// evaluator's held-out problems.
const (
	validationSeed  = 0x7a1_da7e
	validationCount = 200
)

// validate returns the greedy accuracy of the model in dir on the
// validation problems of the hardest labelled difficulty.
func (tr *trainer) validate(ctx context.Context, dir string) (float64, error) {
	t, _ := lookup(tr.c.Task)
	m, err := lab.LoadModel(dir)
	if err != nil {
		return 0, fmt.Errorf("lab-train: %w", err)
	}
	pts, err := lab.Evaluate(ctx, m, t, lab.HeldOut(t, []int{tr.c.labelled()}, validationCount, validationSeed))
	if err != nil {
		return 0, fmt.Errorf("lab-train: validation: %w", err)
	}
	return pts[0].Accuracy, nil
}

// voterSeed separates the voters' seeds; voter 0 keeps the round's.
const voterSeed = 0x9e37_79b9_7f4a_7c15

func (tr *trainer) seed(r *loop.Round) uint64 {
	if tr.c.Seed != 0 {
		return tr.c.Seed
	}
	return uint64(r.Seed)
}

// start returns the model directory the student continues, "" for a new
// model. A previous student of another size than arch (the first teacher
// of a distillation) is not continued.
func (tr *trainer) start(r *loop.Round, in loop.TrainInput, arch Arch, k int) (string, error) {
	switch tr.c.Init {
	case "teacher":
		if !hasTeacher(r) {
			return "", nil
		}
		t := voter(r.Teacher, k)
		if t.Dir == "" {
			return "", fmt.Errorf("lab-train: init: teacher, but the teacher %q is not a built-in model directory", t.Ref())
		}
		return t.Dir, nil
	case "previous":
		p := voter(in.Previous, k)
		if p.Dir == "" {
			return "", nil
		}
		m, err := checkpoint.LoadModel(p.Dir)
		if err != nil {
			return "", fmt.Errorf("lab-train: previous student: %w", err)
		}
		if !arch.same(m.Config) {
			r.Log.Info("lab-train: the previous student has another size than arch; starting a new model", "previous", p.Dir)
			return "", nil
		}
		return p.Dir, nil
	}
	return "", nil
}

// voter returns voter k of m: m itself for k = 0, else its voter k, or m
// when it has fewer voters (a loop that raised voters: the new voters start
// from model 0 and differ by their seeds).
func voter(m loop.Model, k int) loop.Model {
	if k == 0 || k > len(m.Voters) {
		return m
	}
	return m.Voters[k-1]
}

// mixture returns the data files with their weights (the loop's, pooled by
// size for PoolEarlier and MinKept) and the number of examples. trainjob
// reads and encodes the files; the rows are as long as the longest example
// less its last token, which is only a target (trainjob's ShortSeq).
func (tr *trainer) mixture(in loop.TrainInput) ([]trainjob.DataFile, int, error) {
	earlierW, earlierN := 0.0, 0
	for _, d := range in.Data[:len(in.Data)-1] {
		earlierW += d.Weight
		earlierN += d.Kept
	}
	newest := in.Data[len(in.Data)-1]
	pool := newest.Kept < tr.c.MinKept && len(in.Data) > 1
	var out []trainjob.DataFile
	n := 0
	for i, d := range in.Data {
		k, err := countLines(d.Path)
		if err != nil {
			return nil, 0, fmt.Errorf("lab-train: %w", err)
		}
		w := d.Weight
		switch {
		case pool:
			w = float64(d.Kept) / float64(earlierN+newest.Kept)
		case tr.c.PoolEarlier && i < len(in.Data)-1 && earlierN > 0:
			w = earlierW * float64(d.Kept) / float64(earlierN)
		}
		n += k
		out = append(out, trainjob.DataFile{Path: d.Path, Weight: w})
	}
	return out, n, nil
}

// countLines counts the lines of a JSONL file that are not blank: its
// examples, as trainjob.ReadJSONL reads them, without decoding them.
func countLines(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	n := 0
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) > 0 {
			n++
		}
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}
