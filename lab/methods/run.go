// Package methods runs classic self-training methods on the lab's verifiable
// tasks with the built-in engine: rejection-sampling fine-tuning (STaR/RFT),
// self-consistency preference optimisation and distillation.
package methods

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/engine/train"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/trainjob"
)

// On-disk layout of a run directory, as the lab's (lab.RoundDir). Round 0
// is the starting model (the weak model of RFT, the start of
// self-consistency, the teacher of distillation); rounds 1.. are the
// method's.
//
//	config.json           the method, the task and the config; a rerun must match it
//	round-00/data.jsonl   the labelled problems the starting model learnt
//	round-00/init/        its untrained weights, the trainjob Init
//	round-00/model/       the starting model (engine/checkpoint directory)
//	round-NN/data.jsonl   the round's new training data (trainjob JSONL: SFT or DPO lines)
//	round-NN/gen.json     the generation results, written once data.jsonl is complete
//	round-NN/init/        distillation round 1: the untrained student
//	round-NN/model/       the round's model, with trainjob's resumable training state
//	round-NN/result.json  the round's results, written last: the round is finished
//
// Every file is written to a temporary name and renamed into place, so a
// kill leaves either the old file or the new one.
const (
	genFile  = "gen.json"
	modelDir = "model"
	initDir  = "init"
)

// TrainConfig is one training phase: AdamW with a cosine schedule decaying
// to LR/10, from a fresh optimizer state, run through trainjob (DPO with an
// NLL term by this package's own trainer, see NLL).
type TrainConfig struct {
	Steps  int     `json:"steps"`
	Batch  int     `json:"batch"` // sequences (SFT) or pairs (DPO) per step
	LR     float64 `json:"lr"`
	Warmup int     `json:"warmup"`
	Beta   float64 `json:"beta,omitempty"` // DPO strength; 0 means 0.1, unused by SFT
	// NLL adds this weight times the chosen answer's mean negative
	// log-likelihood to the DPO loss (RPO; the NLL term of ScPO), trained in
	// this package since trainjob's DPO has no such term; such a job is not
	// resumable midway, a kill redoes the round's training. 0 is plain DPO
	// through trainjob.
	NLL float64 `json:"nll,omitempty"`
	// MaxEpochs caps Steps at this many passes over the training data (0:
	// no cap), so that a round that found few examples does not train on
	// them a hundred times over.
	MaxEpochs float64 `json:"max_epochs,omitempty"`
}

// capped returns c with its steps cut to MaxEpochs passes over n examples.
func (c TrainConfig) capped(n int) TrainConfig {
	if c.MaxEpochs > 0 {
		c.Steps = max(1, min(c.Steps, int(math.Ceil(c.MaxEpochs*float64(n)/float64(c.Batch)))))
		c.Warmup = min(c.Warmup, c.Steps-1)
	}
	return c
}

func (c TrainConfig) check(what string) error {
	if c.Steps <= 0 || c.Batch <= 0 || !(c.LR > 0) || c.Warmup < 0 || c.Warmup >= c.Steps || c.Beta < 0 || c.NLL < 0 || c.MaxEpochs < 0 {
		return fmt.Errorf("methods: %s training: steps %d, batch %d and lr %g must be positive, warmup %d in [0, steps), beta %g, nll %g and max epochs %g not negative",
			what, c.Steps, c.Batch, c.LR, c.Warmup, c.Beta, c.NLL, c.MaxEpochs)
	}
	return nil
}

// Start is the model a method starts from: an existing model directory, or
// a new model trained from scratch on Labels labelled problems.
type Start struct {
	// Dir is a model directory (engine/checkpoint, with a character
	// tokenizer for the task) to start from. When set, the fields below are
	// unused.
	Dir  string   `json:"dir,omitempty"`
	Arch lab.Arch `json:"arch"`
	// Labels problems with their true answers, difficulties uniform in
	// [MinDifficulty, MaxDifficulty].
	Labels        int         `json:"labels"`
	MinDifficulty int         `json:"min_difficulty"`
	MaxDifficulty int         `json:"max_difficulty"`
	Train         TrainConfig `json:"train"`
}

func (s Start) check(what string) error {
	if s.Dir != "" {
		return nil
	}
	if s.Labels <= 0 || s.MinDifficulty < 1 || s.MaxDifficulty < s.MinDifficulty {
		return fmt.Errorf("methods: %s: %d labels of difficulty %d..%d: want labels > 0 and 1 ≤ min ≤ max",
			what, s.Labels, s.MinDifficulty, s.MaxDifficulty)
	}
	return s.Train.check(what)
}

// EvalConfig is the held-out evaluation after every round: Problems
// problems of each difficulty, answered greedily for Accuracy, and Samples
// times at Temperature for pass@1, pass@K and the majority vote.
type EvalConfig struct {
	Difficulties []int   `json:"difficulties"`
	Problems     int     `json:"problems"` // per difficulty
	Samples      int     `json:"samples,omitempty"`
	K            int     `json:"k,omitempty"`
	Temperature  float64 `json:"temperature,omitempty"`
	Seed         uint64  `json:"seed"`
}

func (c EvalConfig) check() error {
	if len(c.Difficulties) == 0 || c.Problems <= 0 {
		return fmt.Errorf("methods: eval: %d difficulties, %d problems each: want both positive", len(c.Difficulties), c.Problems)
	}
	if c.Samples > 0 && (c.K < 1 || c.K > c.Samples || !(c.Temperature > 0)) {
		return fmt.Errorf("methods: eval: pass@%d from %d samples at temperature %g: want 1 ≤ k ≤ samples and a positive temperature",
			c.K, c.Samples, c.Temperature)
	}
	return nil
}

// Eval is a model's score on the held-out problems.
type Eval struct {
	// Accuracy is the share of held-out problems the greedy answer solves
	// (closed by the end token and accepted by the verifier).
	Accuracy     float64     `json:"accuracy"`
	ByDifficulty []lab.Point `json:"by_difficulty"`
	// PassAt1 and PassAtK are the unbiased estimates from Samples samples
	// per problem at Temperature, averaged over the problems; Majority is
	// the share of problems whose most common sampled answer is right.
	PassAt1  float64 `json:"pass_at_1"`
	PassAtK  float64 `json:"pass_at_k"`
	K        int     `json:"k,omitempty"`
	Majority float64 `json:"majority"`
}

// Round is what every method records for a round.
type Round struct {
	Index int `json:"round"` // 0 is the starting model
	// Model is the round's model directory and Data its new training data,
	// relative to the run directory when inside it.
	Model  string `json:"model"`
	Data   string `json:"data,omitempty"`
	Params int    `json:"params"`
	// Examples is how many SFT lines or DPO pairs the round wrote, and
	// Trained how many it trained on (with earlier rounds' data pooled).
	// FirstLoss and LastLoss are the training loss at the first step and
	// the last; after a resumed training job they cover only the steps the
	// finishing process took (none, 0, when a kill came after training).
	Examples  int     `json:"examples"`
	Trained   int     `json:"trained"`
	FirstLoss float64 `json:"first_loss,omitempty"`
	LastLoss  float64 `json:"last_loss,omitempty"`
	Eval      Eval    `json:"eval"`
	// CPUSeconds is the user+system CPU time of the round: generation,
	// training and evaluation. After a kill it counts the generation and
	// whatever the finishing process spent, not training lost to the kill.
	CPUSeconds float64 `json:"cpu_seconds"`
}

func (r *Round) base() *Round { return r }

// run is an open run directory whose finished rounds are R.
type run[R any] struct {
	dir  string
	log  *slog.Logger
	t    task.Task
	held [][]task.Problem
	seen map[string]bool // held-out prompts, kept out of every training pool
	ec   EvalConfig
	// rounds are the finished rounds, read from their result.json files.
	rounds []R
}

// open creates or reopens a run directory for cfg, the method's config. A
// rerun may ask for more rounds (the "rounds" key), never for other
// settings, since finished rounds would not match them; config.json then
// records the new round count.
func open[R any](dir, method string, t task.Task, cfg any, ec EvalConfig, log *slog.Logger) (*run[R], error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	want, err := json.MarshalIndent(struct {
		Method string `json:"method"`
		Task   string `json:"task"`
		Config any    `json:"config"`
	}{method, t.Name(), cfg}, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("methods: %w", err)
	}
	want = append(want, '\n')
	path := filepath.Join(dir, lab.ConfigFile)
	have, err := os.ReadFile(path)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return nil, fmt.Errorf("methods: %w", err)
	case !sameButRounds(have, want):
		return nil, fmt.Errorf("methods: %s holds a run with another config than this one (only the number of rounds may change); use a new directory", dir)
	}
	if !bytes.Equal(have, want) {
		if err := checkpoint.WriteFileAtomic(path, want); err != nil {
			return nil, fmt.Errorf("methods: %w", err)
		}
	}
	r := &run[R]{dir: dir, log: log, t: t, ec: ec, seen: map[string]bool{}}
	for i := 0; ; i++ {
		path := filepath.Join(r.roundDir(i), lab.ResultFile)
		raw, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("methods: %w", err)
		}
		var rec R
		if err := json.Unmarshal(raw, &rec); err != nil {
			return nil, fmt.Errorf("methods: %s: %w", path, err)
		}
		r.rounds = append(r.rounds, rec)
	}
	r.held = lab.HeldOut(t, ec.Difficulties, ec.Problems, ec.Seed)
	for _, set := range r.held {
		for _, p := range set {
			r.seen[p.Prompt] = true
		}
	}
	return r, nil
}

// sameButRounds reports whether two config.json files agree on everything
// but the round count.
func sameButRounds(a, b []byte) bool {
	var x, y map[string]any
	if json.Unmarshal(a, &x) != nil || json.Unmarshal(b, &y) != nil {
		return false
	}
	for _, m := range []map[string]any{x, y} {
		if c, ok := m["config"].(map[string]any); ok {
			delete(c, "rounds")
		}
	}
	return reflect.DeepEqual(x, y)
}

// done records a finished round; it is never redone.
func (r *run[R]) done(i int, rec R) error {
	if err := writeJSON(filepath.Join(r.roundDir(i), lab.ResultFile), rec); err != nil {
		return err
	}
	r.rounds = append(r.rounds, rec)
	return nil
}

func (r *run[R]) roundDir(i int) string { return lab.RoundDir(r.dir, i) }

// rel names a path inside the run directory relative to it.
func (r *run[R]) rel(path string) string {
	if p, err := filepath.Rel(r.dir, path); err == nil && filepath.IsLocal(p) {
		return p
	}
	return path
}

// abs is rel's inverse.
func (r *run[R]) abs(path string) string {
	if filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(r.dir, path)
}

// problems draws n problems with difficulty uniform in [lo, hi], skipping
// held-out prompts so no model trains on its test. Where the task has fewer
// distinct prompts than that allows (one-character strings), it returns
// fewer problems rather than looping.
func (r *run[R]) problems(rng *rand.Rand, n, lo, hi int) []task.Problem {
	out := make([]task.Problem, 0, n)
	for tries := 0; len(out) < n && tries < 20*n; tries++ {
		p := r.t.Generate(rng, lo+rng.IntN(hi-lo+1))
		if !r.seen[p.Prompt] {
			out = append(out, p)
		}
	}
	return out
}

// rng returns the random stream of one purpose in one round.
func rng(seed uint64, round int, purpose uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, uint64(round)<<8|purpose))
}

const (
	forLabels uint64 = iota + 1
	forPool
	forSamples
	forTrain
	forInit
)

// start makes round 0: the starting model, trained from scratch on labels
// unless s.Dir names one.
func start[R any](ctx context.Context, r *run[R], s Start, seed uint64) (Round, error) {
	cpu := lab.CPUSeconds()
	rec := Round{}
	dir := r.roundDir(0)
	if s.Dir != "" {
		abs, err := filepath.Abs(s.Dir)
		if err != nil {
			return rec, fmt.Errorf("methods: %w", err)
		}
		rec.Model = abs
	} else {
		r.log.Info("round 0: training the starting model", "labels", s.Labels)
		ps := r.problems(rng(seed, 0, forLabels), s.Labels, s.MinDifficulty, s.MaxDifficulty)
		data := filepath.Join(dir, lab.DataFile)
		if err := writeSFT(data, ps); err != nil {
			return rec, err
		}
		m, err := lab.NewModel(r.t, s.Arch, seed)
		if err != nil {
			return rec, err
		}
		// The untrained model is rewritten every time: the same seed gives
		// the same weights, and trainjob resumes from model/, not init/.
		if err := m.Save(filepath.Join(dir, initDir)); err != nil {
			return rec, err
		}
		res, err := r.train(ctx, 0, "sft", filepath.Join(dir, initDir), filepath.Join(dir, modelDir), []string{data}, s.Train, seed)
		if err != nil {
			return rec, err
		}
		rec.Model, rec.Data = r.rel(filepath.Join(dir, modelDir)), r.rel(data)
		rec.Examples, rec.Trained, rec.FirstLoss, rec.LastLoss = len(ps), res.Examples, res.FirstLoss, res.LastLoss
	}
	m, err := lab.LoadModel(r.abs(rec.Model))
	if err != nil {
		return rec, err
	}
	rec.Params = m.LM.Config.NumParams()
	if rec.Eval, err = r.evaluate(ctx, m); err != nil {
		return rec, err
	}
	rec.CPUSeconds = lab.CPUSeconds() - cpu
	return rec, nil
}

// train runs one trainjob from the model directory init into out on the
// data files, pooled (each drawn in proportion to its size). A job killed
// midway resumes from out's checkpoint; a checkpoint torn by a kill during
// its own save is discarded and the job started over.
func (r *run[R]) train(ctx context.Context, round int, method, init, out string, files []string, c TrainConfig, seed uint64) (trainjob.Result, error) {
	tok, err := checkpoint.LoadTokenizer(init)
	if err != nil {
		return trainjob.Result{}, fmt.Errorf("methods: %w", err)
	}
	var data []trainjob.DataFile
	seq, n := 0, 0
	for _, f := range files {
		convs, err := trainjob.ReadJSONL(f)
		if err != nil {
			return trainjob.Result{}, fmt.Errorf("methods: %w", err)
		}
		for _, c := range convs {
			if method == "dpo" {
				p, err := train.ChatPair(tok, c.Messages, c.Chosen, c.Rejected)
				if err != nil {
					return trainjob.Result{}, fmt.Errorf("methods: %s: %w", f, err)
				}
				seq = max(seq, len(p.Chosen.Tokens), len(p.Rejected.Tokens))
				continue
			}
			e, err := train.ChatExample(tok, c.Messages)
			if err != nil {
				return trainjob.Result{}, fmt.Errorf("methods: %s: %w", f, err)
			}
			seq = max(seq, len(e.Tokens))
		}
		n += len(convs)
		data = append(data, trainjob.DataFile{Path: f, Weight: float64(len(convs))})
	}
	c = c.capped(n)
	seed ^= uint64(round)<<32 ^ forTrain
	logStep := func(step int, loss float64) {
		if step%max(c.Steps/10, 1) == 0 || step == c.Steps {
			r.log.Info("train", "round", round, "method", method, "step", step, "steps", c.Steps, "loss", loss)
		}
	}
	if method == "dpo" && c.NLL > 0 {
		if err := os.RemoveAll(out); err != nil {
			return trainjob.Result{}, fmt.Errorf("methods: %w", err)
		}
		return dpoNLL(ctx, init, out, files, c, c.NLL, seed, logStep)
	}
	// A checkpoint every quarter of the job bounds the work a kill loses;
	// trainjob's default of every tenth spends more time in fsync than in
	// training on the lab's small models.
	opts := trainjob.Options{Data: data, Out: out, Init: init, Method: method, Beta: c.Beta, SaveEvery: max(c.Steps/4, 1),
		Steps: c.Steps, Batch: c.Batch, Seq: seq - 1, LR: c.LR, Warmup: c.Warmup, Seed: seed,
		Progress: func(p trainjob.Progress) { logStep(p.Step, p.Loss) }}
	resumable := train.HasCheckpoint(out)
	res, err := trainjob.Run(ctx, opts)
	if err != nil && resumable && ctx.Err() == nil {
		r.log.Warn("train: cannot resume, starting the round's training over", "dir", out, "err", err)
		if err := os.RemoveAll(out); err != nil {
			return res, fmt.Errorf("methods: %w", err)
		}
		res, err = trainjob.Run(ctx, opts)
	}
	if err != nil {
		return res, fmt.Errorf("methods: round %d: %w", round, err)
	}
	return res, nil
}

// evaluate scores m on the held-out problems.
func (r *run[R]) evaluate(ctx context.Context, m *lab.Model) (Eval, error) {
	pts, err := lab.Evaluate(ctx, m, r.t, r.held)
	if err != nil {
		return Eval{}, err
	}
	ev := Eval{ByDifficulty: pts}
	for _, p := range pts {
		ev.Accuracy += p.Accuracy / float64(len(pts))
	}
	if r.ec.Samples == 0 {
		return ev, nil
	}
	var all []task.Problem
	for _, s := range r.held {
		all = append(all, s...)
	}
	ans, err := lab.Answers(ctx, m, all, lab.Decode{N: r.ec.Samples, Temperature: r.ec.Temperature, Seed: r.ec.Seed, MaxTokens: maxTokens(r.t, all)})
	if err != nil {
		return ev, err
	}
	ev.K = r.ec.K
	for i, p := range all {
		c := 0
		for _, a := range ans[i] {
			if a.Stopped && r.t.Verify(p, a.Text) {
				c++
			}
		}
		ev.PassAt1 += PassAtK(r.ec.Samples, c, 1)
		ev.PassAtK += PassAtK(r.ec.Samples, c, r.ec.K)
		if v := Votes(ans[i], stopped); len(v) > 0 && r.t.Verify(p, v[0].Text) {
			ev.Majority++
		}
	}
	n := float64(len(all))
	ev.PassAt1, ev.PassAtK, ev.Majority = ev.PassAt1/n, ev.PassAtK/n, ev.Majority/n
	return ev, nil
}

func stopped(a lab.Answer) bool { return a.Stopped }

// maxTokens bounds an answer to any of ps: the longest true answer the task
// allows at the difficulty plus the end token, never the answer itself.
func maxTokens(t task.Task, ps []task.Problem) int {
	sh, ok := t.(task.Shape)
	n := 1
	for _, p := range ps {
		if ok {
			_, hi := sh.AnswerLen(p.Difficulty)
			n = max(n, hi+1)
		} else {
			n = max(n, 2*len(p.Prompt)+1)
		}
	}
	return n
}

// readGen reads a round's gen.json into rec, reporting false when the
// round has not finished generating.
func readGen(dir string, rec any) (bool, error) {
	raw, err := os.ReadFile(filepath.Join(dir, genFile))
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("methods: %w", err)
	}
	if err := json.Unmarshal(raw, rec); err != nil {
		return false, fmt.Errorf("methods: %s: %w", filepath.Join(dir, genFile), err)
	}
	return true, nil
}

func writeJSON(path string, v any) error {
	js, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("methods: %w", err)
	}
	if err := checkpoint.WriteFileAtomic(path, append(js, '\n')); err != nil {
		return fmt.Errorf("methods: %w", err)
	}
	return nil
}

// sftLine and dpoLine are the trainjob JSONL shapes.
type sftLine struct {
	Messages []tokenizer.Message `json:"messages"`
}

type dpoLine struct {
	Prompt   string `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
}

// writeSFT writes problems with their answers as chat SFT lines.
func writeSFT(path string, ps []task.Problem) error {
	lines := make([]any, len(ps))
	for i, p := range ps {
		lines[i] = sftLine{Messages: lab.Messages(p)}
	}
	return writeJSONL(path, lines)
}

func writeJSONL(path string, lines []any) error {
	err := checkpoint.WriteAtomic(path, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetEscapeHTML(false)
		for _, l := range lines {
			if err := enc.Encode(l); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("methods: %w", err)
	}
	return nil
}

// rounds runs the rounds not yet finished, up to n: round 0 by start (then
// first, if set, to add the method's fields), the others by gen (sampling or labelling, writing the round's data and the
// generation results in rec) and fit (training and evaluation). A round's
// generation is kept once gen.json is written, so a kill during training
// resumes at training; a round is recorded in result.json only when fit
// returns, and never run again.
func rounds[R any, P interface {
	*R
	base() *Round
}](ctx context.Context, r *run[R], n int, s Start, seed uint64, first func(rec P),
	gen func(ctx context.Context, i int, prev, rec P) error,
	fit func(ctx context.Context, i int, rec P) error) ([]R, error) {
	for i := len(r.rounds); i <= n; i++ {
		if err := ctx.Err(); err != nil {
			return r.rounds, err
		}
		var rec R
		p := P(&rec)
		if i == 0 {
			b, err := start(ctx, r, s, seed)
			if err != nil {
				return r.rounds, err
			}
			*p.base() = b
			if first != nil {
				first(p)
			}
		} else {
			dir := r.roundDir(i)
			ok, err := readGen(dir, p)
			if err != nil {
				return r.rounds, err
			}
			if !ok {
				cpu := lab.CPUSeconds()
				if err := gen(ctx, i, P(&r.rounds[i-1]), p); err != nil {
					return r.rounds, err
				}
				p.base().Index = i
				p.base().CPUSeconds = lab.CPUSeconds() - cpu
				if err := writeJSON(filepath.Join(dir, genFile), p); err != nil {
					return r.rounds, err
				}
			} else {
				r.log.Info("resuming after generation", "round", i)
			}
			cpu, before := lab.CPUSeconds(), p.base().CPUSeconds
			if err := fit(ctx, i, p); err != nil {
				return r.rounds, err
			}
			p.base().CPUSeconds = before + lab.CPUSeconds() - cpu
		}
		b := p.base()
		r.log.Info("round done", "round", i, "accuracy", b.Eval.Accuracy, "pass@1", b.Eval.PassAt1, "pass@k", b.Eval.PassAtK,
			"examples", b.Examples, "cpu_s", b.CPUSeconds)
		if err := r.done(i, rec); err != nil {
			return r.rounds, err
		}
	}
	return r.rounds, nil
}

// fit trains round i's model from init on files with method ("sft" or
// "dpo") into the round's model directory, and evaluates it. With no data
// the round keeps init as its model.
func (r *run[R]) fit(ctx context.Context, i int, method, init string, files []string, c TrainConfig, seed uint64, rec *Round) (*lab.Model, error) {
	rec.Model = r.rel(init)
	if len(files) > 0 {
		out := filepath.Join(r.roundDir(i), modelDir)
		res, err := r.train(ctx, i, method, init, out, files, c, seed)
		if err != nil {
			return nil, err
		}
		rec.Model, rec.Trained, rec.FirstLoss, rec.LastLoss = r.rel(out), res.Examples, res.FirstLoss, res.LastLoss
	} else {
		r.log.Warn("no training data: the round keeps its starting model", "round", i)
	}
	m, err := lab.LoadModel(r.abs(rec.Model))
	if err != nil {
		return nil, err
	}
	rec.Params = m.LM.Config.NumParams()
	if rec.Eval, err = r.evaluate(ctx, m); err != nil {
		return nil, err
	}
	return m, nil
}

// unlabelled strips the true answers off problems, so that nothing built
// from them can see one.
func unlabelled(ps []task.Problem) []task.Problem {
	out := make([]task.Problem, len(ps))
	for i, p := range ps {
		out[i] = task.Problem{Prompt: p.Prompt, Difficulty: p.Difficulty}
	}
	return out
}
