package trainjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/llama"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/engine/train"
)

// DataFile is one training file and its sampling weight in the mixture.
type DataFile struct {
	Path   string
	Weight float64 // 0 means 1
}

// Options describe a training job.
type Options struct {
	Data []DataFile
	// Out is the model directory written at the end and at every checkpoint.
	// When it already holds this job's training state, the job resumes from it.
	Out string
	// Init starts from an existing model directory (and its tokenizer); empty
	// builds a new model of Preset with a tokenizer made from the data.
	Init string
	// InitOptimizer continues Init's AdamW moments and update count (Init
	// must be a training checkpoint this package wrote) instead of starting
	// from a fresh optimizer, so a phase that follows another needs no new
	// warmup. A job resumed from Out's own checkpoint ignores it.
	InitOptimizer bool
	// Preset sizes a new model: "tiny" (2 layers, d=128, about 0.5M
	// parameters) or "small" (6 layers, d=384, about 11M).
	Preset string
	// Tokenizer for a new model: "char" (every character of the data) or
	// "bpe" (byte-level BPE trained on the data, BPEVocab entries).
	Tokenizer string
	BPEVocab  int
	// Method is "sft" (loss on assistant tokens) or "dpo" (needs Init, which
	// is also the frozen reference).
	Method string
	Beta   float64 // DPO strength; 0 means 0.1
	// NLL adds NLL times the chosen answer's mean negative log-likelihood
	// to the DPO loss (RPO); 0 is plain DPO. Small models trained with plain
	// DPO on near-identical pairs tend to collapse; 1 is a good start.
	NLL   float64
	Steps int
	Batch int
	// Seq is the positions per example; 0 means the longest example (less
	// one with ShortSeq), capped at the model's context. Padding a
	// short-example set (arithmetic, the lab's tasks) to the whole context
	// would cost many times the compute for the same gradients: positions
	// after an example's end are never attended to or trained.
	Seq int
	// ShortSeq makes Seq 0 one position shorter than the longest example:
	// an example's last token is only ever a target, so its input position
	// trains nothing. lab-train sets it. It is not the default because
	// rows of another length sum the gradients in another order, which
	// would change the last bits of every model trained so far.
	ShortSeq bool
	// ByLength batches SFT examples of about the same length together
	// (train.Config.ByLength: buckets of this many positions), so a batch of
	// short examples is not padded to the longest example of all the data.
	// 0 pads every row to Seq.
	ByLength int
	LR       float64
	Warmup   int
	// Schedule is "cosine" (default) or "wsd" (warmup-stable-decay, last 20%
	// decaying).
	Schedule  string
	Seed      uint64
	SaveEvery int // steps between checkpoints; 0 means every 10% of Steps
	// Progress, when set, is called after every step.
	Progress func(Progress)
	// Probe, when set, scores the model being trained every ProbeEvery
	// steps and after the last one, and the checkpoint with the best score
	// so far is saved in Best (a tie takes the later one, which has trained
	// more), with BestFile naming its step and score. ProbeStart also
	// probes before the first step, for the record only: the starting
	// model is never the best, since a phase that handed back the model it
	// started from would change nothing, and a loop would repeat it.
	// Probe must only read the model. A resumed job reads the best score
	// from Best, and its probes after the resumed checkpoint repeat those of
	// the stopped job, so the files end the same.
	Probe      func(ctx context.Context, m *llama.Model, step int) (float64, error)
	ProbeEvery int
	ProbeStart bool
	Best       string
}

// BestFile is the file of Options.Best recording the best probe.
const BestFile = "best.json"

// Best is what BestFile holds: the step of the job whose checkpoint is in
// Best, and its probe score.
type Best struct {
	Step  int     `json:"step"`
	Score float64 `json:"score"`
}

// Progress reports one step.
type Progress struct {
	Step, Steps  int
	Loss         float64
	LR           float64
	TokensPerSec float64 // trained (target) tokens per second since the job started
	ETA          time.Duration
}

// Result summarises a finished job.
type Result struct {
	Out        string
	Examples   int
	Params     int
	Steps      int
	Seq        int // positions per training sequence
	FirstLoss  float64
	LastLoss   float64
	Resumed    bool
	ResumeStep int
	// Best is the best probe of the job, when it probes (Best.Step -1: none).
	Best Best
}

// Presets are the model sizes a new model can take.
var Presets = map[string]llama.Config{
	"tiny":  {Dim: 128, Layers: 2, Heads: 4, KVHeads: 4, Hidden: 512, MaxSeq: 256, RoPE: true, RopeTheta: 10000, NormEps: 1e-5, TiedEmbeddings: true},
	"small": {Dim: 384, Layers: 6, Heads: 6, KVHeads: 6, Hidden: 1536, MaxSeq: 256, RoPE: true, RopeTheta: 10000, NormEps: 1e-5, TiedEmbeddings: true},
}

func (o *Options) defaults() error {
	if len(o.Data) == 0 {
		return errors.New("trainjob: no data files")
	}
	if o.Out == "" {
		return errors.New("trainjob: no output directory")
	}
	if o.Method == "" {
		o.Method = "sft"
	}
	if o.Method != "sft" && o.Method != "dpo" {
		return fmt.Errorf("trainjob: method %q: want sft or dpo", o.Method)
	}
	if o.ByLength < 0 || o.ByLength > 0 && o.Method != "sft" {
		return fmt.Errorf("trainjob: by_length %d: want 0, or a bucket width for sft", o.ByLength)
	}
	if o.InitOptimizer && o.Init == "" {
		return errors.New("trainjob: continuing the optimizer needs an initial model")
	}
	if o.Method == "dpo" && o.Init == "" {
		return errors.New("trainjob: dpo needs an initial model (the reference); train it with sft first")
	}
	if o.Preset == "" {
		o.Preset = "tiny"
	}
	if _, ok := Presets[o.Preset]; !ok && o.Init == "" {
		return fmt.Errorf("trainjob: preset %q: want tiny or small", o.Preset)
	}
	if o.Tokenizer == "" {
		o.Tokenizer = "char"
	}
	if o.Tokenizer != "char" && o.Tokenizer != "bpe" {
		return fmt.Errorf("trainjob: tokenizer %q: want char or bpe", o.Tokenizer)
	}
	if o.BPEVocab == 0 {
		o.BPEVocab = 1024
	}
	if o.Beta == 0 {
		o.Beta = 0.1
	}
	if o.NLL < 0 || o.Beta < 0 {
		return fmt.Errorf("trainjob: beta %g and nll %g must not be negative", o.Beta, o.NLL)
	}
	if o.Steps <= 0 {
		o.Steps = 200
	}
	if o.Batch <= 0 {
		o.Batch = 16
	}
	if o.LR <= 0 {
		o.LR = 1e-3
	}
	if o.Warmup < 0 || o.Warmup >= o.Steps {
		return fmt.Errorf("trainjob: warmup %d must be in [0, steps)", o.Warmup)
	}
	if o.Schedule == "" {
		o.Schedule = "cosine"
	}
	if o.Schedule != "cosine" && o.Schedule != "wsd" {
		return fmt.Errorf("trainjob: schedule %q: want cosine or wsd", o.Schedule)
	}
	if o.SaveEvery <= 0 {
		o.SaveEvery = max(o.Steps/10, 1)
	}
	if o.Probe != nil && (o.ProbeEvery < 1 || o.Best == "" || filepath.Clean(o.Best) == filepath.Clean(o.Out)) {
		return fmt.Errorf("trainjob: a probe needs probe_every ≥ 1 (have %d) and a best directory apart from out", o.ProbeEvery)
	}
	return nil
}

// Run trains until opts.Steps or until ctx ends; on cancellation it saves a
// checkpoint first, so running the same job again continues exactly.
func Run(ctx context.Context, opts Options) (Result, error) {
	if err := opts.defaults(); err != nil {
		return Result{}, err
	}
	sets, all, err := readSets(opts.Data)
	if err != nil {
		return Result{}, err
	}
	m, tok, err := opts.model(all)
	if err != nil {
		return Result{}, err
	}
	pad, _ := tok.SpecialID(tokenizer.PAD)
	cfg := train.Config{Batch: opts.Batch, Seed: opts.Seed, AdamW: train.DefaultAdamW, ClipNorm: 1, Pad: int32(pad), ByLength: opts.ByLength}
	switch opts.Schedule {
	case "wsd":
		cfg.Schedule = train.WSD{Peak: opts.LR, Min: opts.LR / 10, Warmup: opts.Warmup, Decay: max(opts.Steps/5, 1), Total: opts.Steps}
	default:
		cfg.Schedule = train.Cosine{Peak: opts.LR, Min: opts.LR / 10, Warmup: opts.Warmup, Total: opts.Steps}
	}
	res := Result{Out: opts.Out, Params: len(m.Params)}
	tr, err := opts.trainer(m, tok, sets, &cfg, &res)
	if err != nil {
		return res, err
	}
	if train.HasCheckpoint(opts.Out) {
		if err := tr.Restore(opts.Out); err != nil {
			return res, fmt.Errorf("trainjob: %s holds a training state that does not fit this job (different data, size or settings?): %w", opts.Out, err)
		}
		res.Resumed, res.ResumeStep = true, tr.Steps()
	} else if opts.InitOptimizer {
		if err := tr.RestoreOptimizer(opts.Init); err != nil {
			return res, fmt.Errorf("trainjob: continue the optimizer of %s: %w", opts.Init, err)
		}
	}
	if err := checkpoint.SaveTokenizer(opts.Out, tok); err != nil {
		return res, err
	}
	res.Best = Best{Step: -1}
	if opts.Probe != nil {
		if b, err := readBest(opts.Best); err != nil {
			return res, err
		} else if b != nil {
			res.Best = *b
		}
		if opts.ProbeStart && tr.Steps() == 0 {
			if err := opts.probe(ctx, tr, m, tok, &res, false); err != nil {
				return res, err
			}
		}
	}
	start := time.Now()
	tokens := 0
	first := true
	for tr.Steps() < opts.Steps {
		if ctx.Err() != nil {
			if err := tr.Save(opts.Out); err != nil {
				return res, err
			}
			return res, fmt.Errorf("trainjob: stopped at step %d of %d, checkpoint saved; run the same command to continue: %w", tr.Steps(), opts.Steps, ctx.Err())
		}
		st, err := tr.Step()
		if err != nil {
			return res, fmt.Errorf("trainjob: step %d: %w", tr.Steps(), err)
		}
		if first {
			res.FirstLoss, first = st.Loss, false
		}
		res.LastLoss = st.Loss
		tokens += st.Targets
		if opts.Probe != nil && (tr.Steps()%opts.ProbeEvery == 0 || tr.Steps() == opts.Steps) {
			if err := opts.probe(ctx, tr, m, tok, &res, true); err != nil {
				return res, err
			}
		}
		if tr.Steps()%opts.SaveEvery == 0 && tr.Steps() < opts.Steps {
			if err := tr.Save(opts.Out); err != nil {
				return res, err
			}
		}
		if opts.Progress != nil {
			el := time.Since(start)
			p := Progress{Step: tr.Steps(), Steps: opts.Steps, Loss: st.Loss, LR: st.LR}
			if el > 0 {
				p.TokensPerSec = float64(tokens) / el.Seconds()
				done := tr.Steps() - res.ResumeStep
				if done > 0 {
					p.ETA = time.Duration(float64(el) / float64(done) * float64(opts.Steps-tr.Steps()))
				}
			}
			opts.Progress(p)
		}
	}
	res.Steps, res.Seq = tr.Steps(), cfg.Seq
	if err := tr.Save(opts.Out); err != nil {
		return res, err
	}
	return res, nil
}

// probe scores the model at the trainer's step and, when it is a
// candidate, saves it in Best if it scores at least the best so far. The checkpoint is saved before BestFile names
// it: a kill between the two leaves the old score beside the new
// checkpoint, and the resumed job, probing the same step again, saves the
// same files again.
func (o *Options) probe(ctx context.Context, tr stepper, m *llama.Model, tok tokenizer.Tokenizer, res *Result, candidate bool) error {
	// A stop never cuts a probe short: the probe of a step is logged and
	// recorded with it, and the stop is taken, with a checkpoint, before
	// the next step. Cut short, the step would be trained again on resume
	// and its log lines written twice. A probe is short (the lab's scores a
	// few hundred problems).
	score, err := o.Probe(context.WithoutCancel(ctx), m, tr.Steps())
	if err != nil {
		return fmt.Errorf("trainjob: probe at step %d: %w", tr.Steps(), err)
	}
	if !candidate || res.Best.Step >= 0 && score < res.Best.Score {
		return nil
	}
	if err := tr.Save(o.Best); err != nil {
		return err
	}
	if err := checkpoint.SaveTokenizer(o.Best, tok); err != nil {
		return err
	}
	res.Best = Best{Step: tr.Steps(), Score: score}
	b, err := json.Marshal(res.Best)
	if err != nil {
		return fmt.Errorf("trainjob: %w", err)
	}
	return checkpoint.WriteFileAtomic(filepath.Join(o.Best, BestFile), append(b, '\n'))
}

// readBest reads dir's BestFile, nil when there is none.
func readBest(dir string) (*Best, error) {
	b, err := os.ReadFile(filepath.Join(dir, BestFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("trainjob: %w", err)
	}
	var out Best
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("trainjob: %s: %w", filepath.Join(dir, BestFile), err)
	}
	return &out, nil
}

// readSets reads the data files, each a dataset of the mixture; all holds
// every conversation, for building a new tokenizer.
func readSets(files []DataFile) (sets []dataset, all []Conversation, err error) {
	for _, d := range files {
		convs, err := ReadJSONL(d.Path)
		if err != nil {
			return nil, nil, err
		}
		w := d.Weight
		if w == 0 {
			w = 1
		}
		sets = append(sets, dataset{name: d.Path, weight: w, convs: convs})
		all = append(all, convs...)
	}
	return sets, all, nil
}

// stepper is an SFT or DPO trainer.
type stepper interface {
	Step() (train.Stats, error)
	Steps() int
	Save(dir string) error
	Restore(dir string) error
	RestoreOptimizer(dir string) error
}

// trainer builds the trainer of o.Method on the mixture of sets, setting
// cfg.Seq from the longest example and res.Examples.
func (o *Options) trainer(m *llama.Model, tok tokenizer.Tokenizer, sets []dataset, cfg *train.Config, res *Result) (stepper, error) {
	switch o.Method {
	case "sft":
		mix, n, longest, err := sftMixture(tok, sets)
		if err != nil {
			return nil, err
		}
		res.Examples = n
		cfg.Seq = o.seq(longest, m.Config.MaxSeq)
		return train.NewSFT(m, mix, *cfg)
	case "dpo":
		ref, err := checkpoint.LoadModel(o.Init)
		if err != nil {
			return nil, err
		}
		mix, n, longest, err := dpoMixture(tok, sets)
		if err != nil {
			return nil, err
		}
		res.Examples = n
		cfg.Seq = o.seq(longest, m.Config.MaxSeq)
		d, err := train.NewDPO(m, ref, mix, o.Beta, *cfg)
		if err != nil {
			return nil, err
		}
		d.NLL = o.NLL
		return d, nil
	}
	return nil, fmt.Errorf("trainjob: method %q (want sft or dpo)", o.Method)
}

// model loads Init or builds a new model and tokenizer from the data.
func (o *Options) model(convs []Conversation) (*llama.Model, tokenizer.Tokenizer, error) {
	if o.Init != "" {
		m, err := checkpoint.LoadModel(o.Init)
		if err != nil {
			return nil, nil, err
		}
		tok, err := checkpoint.LoadTokenizer(o.Init)
		if err != nil {
			return nil, nil, err
		}
		return m, tok, nil
	}
	var tok tokenizer.Tokenizer
	var err error
	if o.Tokenizer == "bpe" {
		tok, err = tokenizer.TrainBPE(Texts(convs), o.BPEVocab, tokenizer.DefaultSpecials)
	} else {
		tok, err = tokenizer.NewCharFromCorpus(Texts(convs), tokenizer.DefaultSpecials)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("trainjob: tokenizer: %w", err)
	}
	cfg := Presets[o.Preset]
	cfg.Vocab = tok.VocabSize()
	m, err := llama.New(cfg, o.Seed)
	if err != nil {
		return nil, nil, err
	}
	return m, tok, nil
}

type dataset struct {
	name   string
	weight float64
	convs  []Conversation
}

// seq is the training sequence length for examples of at most longest
// tokens: Seq if set, else longest (less one with ShortSeq), within the
// model's context.
func (o *Options) seq(longest, context int) int {
	if o.Seq > 0 {
		return min(o.Seq, context)
	}
	if o.ShortSeq {
		longest--
	}
	return max(min(longest, context), 1)
}

func sftMixture(tok tokenizer.Tokenizer, sets []dataset) (mix *train.Mixture[train.Example], n, longest int, err error) {
	var ds []train.Dataset[train.Example]
	for _, s := range sets {
		d := train.Dataset[train.Example]{Name: s.name, Weight: s.weight}
		for i, c := range s.convs {
			if c.Chosen != "" || c.Rejected != "" {
				return nil, 0, 0, fmt.Errorf("trainjob: %s example %d is a DPO pair; train it with method dpo", s.name, i+1)
			}
			e, err := train.ChatExample(tok, c.Messages)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("trainjob: %s example %d: %w", s.name, i+1, err)
			}
			d.Items = append(d.Items, e)
			longest = max(longest, len(e.Tokens))
		}
		n += len(d.Items)
		ds = append(ds, d)
	}
	mix, err = train.NewMixture(ds...)
	return mix, n, longest, err
}

func dpoMixture(tok tokenizer.Tokenizer, sets []dataset) (mix *train.Mixture[train.Pair], n, longest int, err error) {
	var ds []train.Dataset[train.Pair]
	for _, s := range sets {
		d := train.Dataset[train.Pair]{Name: s.name, Weight: s.weight}
		for i, c := range s.convs {
			if c.Chosen == "" && c.Rejected == "" {
				return nil, 0, 0, fmt.Errorf("trainjob: %s example %d is not a DPO pair (prompt, chosen, rejected)", s.name, i+1)
			}
			p, err := train.ChatPair(tok, c.Messages, c.Chosen, c.Rejected)
			if err != nil {
				return nil, 0, 0, fmt.Errorf("trainjob: %s example %d: %w", s.name, i+1, err)
			}
			d.Items = append(d.Items, p)
			longest = max(longest, len(p.Chosen.Tokens), len(p.Rejected.Tokens))
		}
		n += len(d.Items)
		ds = append(ds, d)
	}
	mix, err = train.NewMixture(ds...)
	return mix, n, longest, err
}
