package lab

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/engine/tensor"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/trainjob"
	"golang.org/x/sync/errgroup"
)

// Config is one self-improvement run (Lee et al., 2025): round 0 trains on
// true labels up to LabelMax; each later round has the models label problems
// Step difficulties harder, filters the labels, and continues training with
// the new round drawn with probability Train.Newest (Lee et al.: 0.5).
type Config struct {
	Task string `json:"task"`
	Arch Arch   `json:"arch"`
	Seed uint64 `json:"seed"`
	// Models trained from different seeds on the same data; with Filter on,
	// they vote. Model 0 is the one evaluated and served.
	Models int `json:"models"`

	// LabelMin..LabelMax are the difficulties with true labels (round 0).
	LabelMin   int `json:"label_min"`
	LabelMax   int `json:"label_max"`
	Supervised int `json:"supervised"` // labelled problems, uniform over the difficulties
	// MixedOperands draws the two operands of round 0's problems with
	// independent lengths (tasks with task.Operands), as Lee et al. train
	// addition, and in later rounds gives one operand the round's new
	// length and the other any length up to it. Evaluation keeps equal
	// lengths.
	MixedOperands bool        `json:"mixed_operands,omitempty"`
	Pretrain      TrainConfig `json:"pretrain"` // round 0

	Rounds int `json:"rounds"` // self-labelled rounds after round 0
	Step   int `json:"step"`   // difficulties added per round; 0 means 1
	// Advance is the filter yield (kept / labelled, which needs no true
	// answer) below which the next round labels the same difficulties again
	// instead of moving on; 0 always moves on, as Lee et al. do.
	Advance float64 `json:"advance,omitempty"`
	// Label is how many problems each round has the models label, spread
	// evenly over the round's new difficulties.
	Label  int         `json:"label"`
	Train  TrainConfig `json:"train"` // each later round
	Filter Filter      `json:"filter"`
	// MinKept is the fewest kept labels for which the round's data is drawn
	// with weight Train.Newest; below it the round is pooled with the
	// earlier ones by size, so a handful of labels is not repeated a
	// hundred times over (it hurt more than it taught when we tried).
	MinKept int `json:"min_kept,omitempty"`

	// Eval lists the held-out difficulties measured after every round.
	Eval      []int `json:"eval"`
	EvalCount int   `json:"eval_count"` // problems per difficulty
}

// Filter selects self-made labels without looking at the true answer. The
// zero Filter is the unfiltered baseline: every problem is kept with model
// 0's greedy answer.
type Filter struct {
	// Length keeps an answer only when it ends with <|end|> and has a length
	// a true answer can have (task.Shape.AnswerLen).
	Length bool `json:"length,omitempty"`
	// Samples is the number of answers each model gives; with Models models
	// there are Models×Samples voters. 1 decodes greedily.
	Samples     int     `json:"samples,omitempty"`
	Temperature float64 `json:"temperature,omitempty"` // for Samples > 1
	// Agree is the share of all voters that must give the majority answer,
	// e.g. 0.7; 0 keeps the majority answer whatever its share.
	Agree float64 `json:"agree,omitempty"`
}

// On reports whether f filters at all.
func (f Filter) On() bool { return f.Length || f.Agree > 0 || f.Samples > 1 }

func (c *Config) check() error {
	t, err := task.Lookup(c.Task)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	if _, ok := t.(task.Shape); !ok {
		return fmt.Errorf("lab: task %s has no shape", c.Task)
	}
	switch {
	case c.Models < 1:
		return fmt.Errorf("lab: models %d: need at least 1", c.Models)
	case c.LabelMin < 1 || c.LabelMax < c.LabelMin:
		return fmt.Errorf("lab: labelled difficulties [%d, %d] empty", c.LabelMin, c.LabelMax)
	case c.Supervised < 1:
		return fmt.Errorf("lab: supervised %d: need labelled problems", c.Supervised)
	case c.Rounds < 0 || c.Step < 0:
		return fmt.Errorf("lab: rounds %d and step %d must not be negative", c.Rounds, c.Step)
	case c.Rounds > 0 && c.Label < 1:
		return fmt.Errorf("lab: label %d: rounds need problems to label", c.Label)
	case c.Advance < 0 || c.Advance > 1:
		return fmt.Errorf("lab: advance %g outside [0, 1]", c.Advance)
	case len(c.Eval) == 0 || c.EvalCount < 1:
		return errors.New("lab: no evaluation difficulties")
	case c.Filter.Agree < 0 || c.Filter.Agree > 1:
		return fmt.Errorf("lab: filter agree %g outside [0, 1]", c.Filter.Agree)
	}
	return nil
}

func (c *Config) step() int { return max(c.Step, 1) }

// difficulties returns what the round after prev labels: the Step
// difficulties after prev's, or, when prev kept less than Advance of its
// labels, prev's again. Round 0 is LabelMin..LabelMax.
func (c Config) difficulties(prev *RoundResult) []int {
	if prev == nil {
		return span(c.LabelMin, c.LabelMax)
	}
	if prev.Round > 0 && prev.Yield < c.Advance {
		return prev.Difficulties
	}
	last := prev.Difficulties[len(prev.Difficulties)-1]
	return span(last+1, last+c.step())
}

// RoundResult is what one round did and measured.
type RoundResult struct {
	Round        int     `json:"round"`
	Difficulties []int   `json:"difficulties"` // labelled this round (round 0: with true labels)
	Labels       int     `json:"labels"`       // problems labelled by the models (0 in round 0)
	Kept         int     `json:"kept"`         // examples added to the training data
	Yield        float64 `json:"yield"`        // Kept / Labels
	// KeptCorrect is the share of kept labels the verifier accepts: measured
	// for the report only, never used to choose labels.
	KeptCorrect float64    `json:"kept_correct"`
	Train       TrainStats `json:"train"` // model 0's last training phase
	// ModelSteps are the steps each model trained this round (round 0 may
	// train some longer: TrainConfig.Until).
	ModelSteps []int   `json:"model_steps,omitempty"`
	Accuracy   []Point `json:"accuracy"` // model 0, greedy, on the held-out problems
	CPUSeconds float64 `json:"cpu_seconds"`
	// CopiedFrom names the round directory this round was copied from (the
	// unfiltered baseline shares round 0 with the filtered run).
	CopiedFrom string `json:"copied_from,omitempty"`
	// Resumed is set when the round was read back from the run directory
	// instead of being run.
	Resumed bool `json:"-"`
}

// Result is a whole run.
type Result struct {
	Dir        string        `json:"dir"`
	Rounds     []RoundResult `json:"rounds"`
	CPUSeconds float64       `json:"cpu_seconds"` // all rounds, including ones run before a resume
	Model      string        `json:"model"`       // the last round's model 0 directory
}

// Event reports progress. Phase is "train", "label", "eval" or "done"; Done
// and Total count steps or problems within it. Round is set when Phase is
// "done".
type Event struct {
	Round       int
	Phase       string
	Done, Total int
	Result      *RoundResult
}

// Observer receives events, one call at a time (training events come from
// the goroutines training the models); it must not block for long.
type Observer func(Event)

// Files and directories of a run directory:
//
//	DIR/config.json             the Config; a resumed run must match it
//	DIR/round-NN/data.jsonl     the examples round NN added (trainjob SFT lines)
//	DIR/round-NN/labels.jsonl   rounds ≥ 1: every labelled problem, its answers, label and verdicts
//	DIR/round-NN/model/         model 0 after round NN (engine/checkpoint; servable)
//	DIR/round-NN/model-K/       the other voters, K ≥ 1
//	DIR/round-NN/result.json    the RoundResult
//
// A round is built in DIR/round-NN.partial and renamed when complete, so a
// round directory is always whole and a killed round is redone from its
// start.
const (
	ConfigFile = "config.json"
	DataFile   = "data.jsonl"
	LabelsFile = "labels.jsonl"
	ResultFile = "result.json"
)

// RoundDir is the directory of round r in a run directory.
func RoundDir(dir string, r int) string { return filepath.Join(dir, fmt.Sprintf("round-%02d", r)) }

// ModelDir is where model k of round r is saved.
func ModelDir(dir string, r, k int) string {
	if k == 0 {
		return filepath.Join(RoundDir(dir, r), "model")
	}
	return filepath.Join(RoundDir(dir, r), fmt.Sprintf("model-%d", k))
}

// ErrConfigChanged reports a run directory made with another Config.
var ErrConfigChanged = errors.New("lab: run directory holds a different config")

// SelfImprove runs cfg in dir, resuming after the last finished round, and
// returns every round's result. It stops with ctx's error between steps,
// losing only the unfinished round. obs may be nil.
//
// The models are small, so rather than splitting each matrix product over
// the cores, which cost a third more CPU time in our measurements,
// SelfImprove sets the engine to one thread per product (tensor.SetThreads)
// while it runs and trains the voters side by side instead. That also makes
// a run's numbers independent of the core count. Do not run two at once in
// one process: the first to finish restores the thread count.
func SelfImprove(ctx context.Context, dir string, cfg Config, obs Observer) (Result, error) {
	if err := cfg.check(); err != nil {
		return Result{}, err
	}
	defer tensor.SetThreads(tensor.Threads())
	tensor.SetThreads(1)
	if obs == nil {
		obs = func(Event) {}
	}
	if err := claim(dir, cfg); err != nil {
		return Result{}, err
	}
	t, _ := task.Lookup(cfg.Task)
	res := Result{Dir: dir}
	var models []*Model
	var sets [][]Conversation
	for r := 0; r <= cfg.Rounds; r++ {
		if rr, ok, err := readRound(dir, r); err != nil {
			return res, err
		} else if ok {
			rr.Resumed = true
			res.Rounds = append(res.Rounds, rr)
			res.CPUSeconds += rr.CPUSeconds
			models = nil // load lazily: only the last finished round's are needed
			obs(Event{Round: r, Phase: "done", Result: &rr})
			continue
		}
		if len(sets) < r {
			var err error
			if sets, err = readSets(dir, r); err != nil {
				return res, err
			}
		}
		if models == nil && r > 0 {
			var err error
			if models, err = loadModels(dir, r-1, cfg.Models); err != nil {
				return res, err
			}
		}
		var prev *RoundResult
		if r > 0 {
			prev = &res.Rounds[r-1]
		}
		rr, ms, set, err := runRound(ctx, dir, cfg, t, r, cfg.difficulties(prev), models, sets, obs)
		if err != nil {
			return res, err
		}
		models, sets = ms, append(sets, set)
		res.Rounds = append(res.Rounds, rr)
		res.CPUSeconds += rr.CPUSeconds
		obs(Event{Round: r, Phase: "done", Result: &rr})
	}
	res.Model = ModelDir(dir, cfg.Rounds, 0)
	return res, nil
}

// claim writes cfg to a new run directory, or checks it against the one
// there.
func claim(dir string, cfg Config) error {
	want, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	want = append(want, '\n')
	path := filepath.Join(dir, ConfigFile)
	got, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		if err := checkpoint.WriteFileAtomic(path, want); err != nil {
			return fmt.Errorf("lab: %w", err)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	var old Config
	if err := json.Unmarshal(got, &old); err != nil {
		return fmt.Errorf("lab: %s: %w", path, err)
	}
	if canon, _ := json.MarshalIndent(old, "", "  "); !bytes.Equal(append(canon, '\n'), want) {
		return fmt.Errorf("%w: %s", ErrConfigChanged, path)
	}
	return nil
}

func readRound(dir string, r int) (RoundResult, bool, error) {
	raw, err := os.ReadFile(filepath.Join(RoundDir(dir, r), ResultFile))
	if errors.Is(err, os.ErrNotExist) {
		return RoundResult{}, false, nil
	}
	if err != nil {
		return RoundResult{}, false, fmt.Errorf("lab: %w", err)
	}
	var rr RoundResult
	if err := json.Unmarshal(raw, &rr); err != nil {
		return RoundResult{}, false, fmt.Errorf("lab: round %d: %s: %w", r, ResultFile, err)
	}
	return rr, true, nil
}

// readSets reads the training data of rounds 0..n-1 back with trainjob's
// reader, the same one `synthloop train` uses on these files.
func readSets(dir string, n int) ([][]Conversation, error) {
	var sets [][]Conversation
	for r := range n {
		path := filepath.Join(RoundDir(dir, r), DataFile)
		var set []Conversation
		if st, err := os.Stat(path); err == nil && st.Size() == 0 {
			sets = append(sets, nil) // a round that kept nothing
			continue
		}
		convs, err := trainjob.ReadJSONL(path)
		if err != nil {
			return nil, fmt.Errorf("lab: round %d: %w", r, err)
		}
		for _, c := range convs {
			set = append(set, c.Messages)
		}
		sets = append(sets, set)
	}
	return sets, nil
}

func loadModels(dir string, r, n int) ([]*Model, error) {
	ms := make([]*Model, n)
	for k := range ms {
		var err error
		if ms[k], err = LoadModel(ModelDir(dir, r, k)); err != nil {
			return nil, fmt.Errorf("lab: round %d model %d: %w", r, k, err)
		}
	}
	return ms, nil
}

// label is one line of labels.jsonl.
type label struct {
	task.Problem
	Answers []Answer `json:"answers"`
	Agree   float64  `json:"agree"`
	Kept    bool     `json:"kept"`
	// Correct is the verifier's verdict on the label, for the report only.
	Correct bool `json:"correct"`
}

// runRound runs round r into DIR/round-NN.partial and renames it.
func runRound(ctx context.Context, dir string, cfg Config, t task.Task, r int, ds []int, models []*Model, sets [][]Conversation, obs Observer) (RoundResult, []*Model, []Conversation, error) {
	cpu0 := CPUSeconds()
	sh := t.(task.Shape)
	final := RoundDir(dir, r)
	tmp := final + ".partial"
	if err := os.RemoveAll(tmp); err != nil {
		return RoundResult{}, nil, nil, fmt.Errorf("lab: %w", err)
	}
	if err := os.MkdirAll(tmp, 0o755); err != nil {
		return RoundResult{}, nil, nil, fmt.Errorf("lab: %w", err)
	}
	rr := RoundResult{Round: r, Difficulties: ds}
	// Every random choice of the round comes from the seed and the round
	// number, so a redone round repeats exactly.
	rng := rand.New(rand.NewPCG(cfg.Seed, uint64(r)))
	var set []Conversation
	var labels []label
	tc := cfg.Train
	if r == 0 {
		tc = cfg.Pretrain
		models = make([]*Model, cfg.Models)
		for k := range models {
			var err error
			if models[k], err = NewModel(t, cfg.Arch, cfg.Seed+uint64(k)); err != nil {
				return rr, nil, nil, err
			}
		}
		op, mixed := t.(task.Operands)
		mixed = mixed && cfg.MixedOperands
		ds := rr.Difficulties
		for range cfg.Supervised {
			var p task.Problem
			if mixed {
				p = op.GenerateOperands(rng, ds[rng.IntN(len(ds))], ds[rng.IntN(len(ds))])
			} else {
				p = t.Generate(rng, ds[rng.IntN(len(ds))])
			}
			set = append(set, Messages(p))
		}
		rr.Kept, rr.Yield, rr.KeptCorrect = len(set), 1, 1
	} else {
		op, mixed := t.(task.Operands)
		mixed = mixed && cfg.MixedOperands
		probs := make([]task.Problem, cfg.Label)
		for i := range probs {
			d := rr.Difficulties[i%len(rr.Difficulties)]
			if mixed {
				// One operand has the new length, the other any length up
				// to it, in either order.
				k := cfg.LabelMin + rng.IntN(d-cfg.LabelMin+1)
				if rng.IntN(2) == 0 {
					probs[i] = op.GenerateOperands(rng, d, k)
				} else {
					probs[i] = op.GenerateOperands(rng, k, d)
				}
			} else {
				probs[i] = t.Generate(rng, d)
			}
			probs[i].Answer = "" // the models label it; the truth stays unseen
		}
		obs(Event{Round: r, Phase: "label", Total: len(probs)})
		var err error
		labels, err = labelProblems(ctx, cfg, sh, models, probs)
		if err != nil {
			return rr, nil, nil, err
		}
		correct := 0
		for i := range labels {
			l := &labels[i]
			l.Correct = t.Verify(l.Problem, l.Answer)
			if l.Kept {
				set = append(set, Messages(l.Problem))
				if l.Correct {
					correct++
				}
			}
		}
		rr.Labels, rr.Kept = len(labels), len(set)
		rr.Yield = float64(rr.Kept) / float64(rr.Labels)
		rr.KeptCorrect = float64(correct) / float64(max(rr.Kept, 1))
		obs(Event{Round: r, Phase: "label", Done: len(probs), Total: len(probs)})
	}
	all := append(sets[:len(sets):len(sets)], set)
	if r > 0 && len(set) < cfg.MinKept {
		tc.Newest = 0
	}
	var val []task.Problem
	if r == 0 && tc.Until > 0 {
		val = HeldOut(t, []int{cfg.LabelMax}, valCount, valSeed(cfg.Seed))[0]
	}
	stats, steps, err := trainAll(ctx, models, t, all, tc, cfg.Seed*1000+uint64(r)*16, val, func(done, total int) {
		obs(Event{Round: r, Phase: "train", Done: done, Total: total})
	})
	if err != nil {
		return rr, nil, nil, err
	}
	rr.Train, rr.ModelSteps = stats[0], steps
	obs(Event{Round: r, Phase: "eval", Total: len(cfg.Eval) * cfg.EvalCount})
	acc, err := Evaluate(ctx, models[0], t, HeldOut(t, cfg.Eval, cfg.EvalCount, evalSeed(cfg.Seed)))
	if err != nil {
		return rr, nil, nil, err
	}
	rr.Accuracy = acc
	if err := writeRound(tmp, models, set, labels, r); err != nil {
		return rr, nil, nil, err
	}
	rr.CPUSeconds = CPUSeconds() - cpu0
	if err := writeJSON(filepath.Join(tmp, ResultFile), rr); err != nil {
		return rr, nil, nil, err
	}
	if err := os.Rename(tmp, final); err != nil {
		return rr, nil, nil, fmt.Errorf("lab: %w", err)
	}
	return rr, models, set, nil
}

// evalSeed keeps held-out problems off the training streams, which use
// stream numbers 0..Rounds of the run's seed.
func evalSeed(seed uint64) uint64 { return seed ^ 0xe7a1_5eed_0f_f1ce }

// valSeed draws round 0's validation problems, apart from the evaluation's.
func valSeed(seed uint64) uint64 { return seed ^ 0x7a1_da7e }

// valCount is the number of labelled validation problems of round 0.
const valCount = 200

// trainAll trains the models side by side, one goroutine each (all at once
// rather than GOMAXPROCS at a time: three models on two cores then take 1.5
// times one model's time, not twice), model k with seed base+k. progress gets the steps
// done by all of them and their total, from one goroutine at a time.
func trainAll(ctx context.Context, models []*Model, t task.Task, sets [][]Conversation, tc TrainConfig, base uint64, val []task.Problem, progress func(done, total int)) ([]TrainStats, []int, error) {
	stats := make([]TrainStats, len(models))
	steps := make([]int, len(models))
	var mu sync.Mutex
	done, total := make([]int, len(models)), make([]int, len(models))
	g, gctx := errgroup.WithContext(ctx)
	for k, m := range models {
		g.Go(func() error {
			var err error
			stats[k], steps[k], err = trainModel(gctx, m, t, sets, tc, base+uint64(k), val, func(d, n int) {
				mu.Lock()
				defer mu.Unlock()
				done[k], total[k] = d, n
				sd, st := 0, 0
				for i := range done {
					sd += done[i]
					st += max(total[i], tc.Steps)
				}
				progress(sd, st)
			})
			return err
		})
	}
	if err := g.Wait(); err != nil {
		return nil, nil, err
	}
	return stats, steps, nil
}

// trainModel trains m for tc.Steps and then, while it answers fewer than
// tc.Until of the labelled validation problems val, for tc.Steps/2 more with
// a fresh schedule, up to tc.MaxSteps in all. The plateau before a small
// model finds how to align the digits of long addition lasts from a few
// hundred to many thousand steps from one seed to the next; training to a
// target instead of a step count makes round 0 reliable. It returns the
// stats of the last phase and the steps taken.
func trainModel(ctx context.Context, m *Model, t task.Task, sets [][]Conversation, tc TrainConfig, seed uint64, val []task.Problem, progress func(done, total int)) (TrainStats, int, error) {
	budget := tc.Steps
	if len(val) > 0 {
		budget = max(tc.MaxSteps, tc.Steps)
	}
	done := 0
	phase := tc
	for i := 0; ; i++ {
		st, err := Train(ctx, m, sets, phase, seed+uint64(i)*7919, func(j int, _ float64) {
			if (done+j+1)%max(budget/50, 1) == 0 {
				progress(done+j+1, budget)
			}
		})
		if err != nil {
			return st, done, err
		}
		done += phase.Steps
		if len(val) == 0 || done >= budget {
			progress(budget, budget)
			return st, done, nil
		}
		pts, err := Evaluate(ctx, m, t, [][]task.Problem{val})
		if err != nil {
			return st, done, err
		}
		if pts[0].Accuracy >= tc.Until {
			progress(budget, budget)
			return st, done, nil
		}
		phase.Steps = min(max(tc.Steps/2, 1), budget-done)
		phase.Warmup = min(tc.Warmup, phase.Steps-1)
	}
}

// labelProblems has the models answer probs and picks each label.
func labelProblems(ctx context.Context, cfg Config, sh task.Shape, models []*Model, probs []task.Problem) ([]label, error) {
	maxTok := 1
	for _, p := range probs {
		_, hi := sh.AnswerLen(p.Difficulty)
		maxTok = max(maxTok, hi+2) // room to see an answer run long
	}
	f := cfg.Filter
	voters := models
	dec := Decode{N: max(f.Samples, 1), MaxTokens: maxTok}
	if dec.N > 1 {
		dec.Temperature = f.Temperature
	}
	if !f.On() {
		voters, dec = models[:1], Decode{MaxTokens: maxTok}
	}
	labels := make([]label, len(probs))
	for i, p := range probs {
		labels[i].Problem = p
	}
	for k, m := range voters {
		d := dec
		d.Seed = cfg.Seed + uint64(k)
		as, err := Answers(ctx, m, probs, d)
		if err != nil {
			return nil, err
		}
		for i := range labels {
			labels[i].Answers = append(labels[i].Answers, as[i]...)
		}
	}
	for i := range labels {
		l := &labels[i]
		l.Answer, l.Agree, l.Kept = f.Pick(sh, l.Problem, l.Answers)
	}
	return labels, nil
}

// Pick chooses the label of p from its voters' answers and reports whether
// it is kept. Unfiltered, the first answer is kept whatever it is.
// Filtered, the label is the majority among the answers that pass the
// length filter (if on), kept when its share of all answers is at least
// Agree.
func (f Filter) Pick(sh task.Shape, p task.Problem, answers []Answer) (label string, agree float64, kept bool) {
	if len(answers) == 0 {
		return "", 0, false
	}
	if !f.On() {
		return answers[0].Text, 1, true
	}
	var ok func(Answer) bool
	if f.Length {
		ok = func(a Answer) bool { return LengthOK(sh, p, a) }
	}
	label, agree = Majority(answers, ok)
	return label, agree, agree > 0 && agree >= f.Agree
}

func writeRound(tmp string, models []*Model, set []Conversation, labels []label, r int) error {
	for k, m := range models {
		name := "model"
		if k > 0 {
			name = fmt.Sprintf("model-%d", k)
		}
		if err := m.Save(filepath.Join(tmp, name)); err != nil {
			return err
		}
	}
	if err := writeLines(filepath.Join(tmp, DataFile), len(set), func(i int) any {
		return struct {
			Messages Conversation `json:"messages"`
		}{set[i]}
	}); err != nil {
		return err
	}
	if r == 0 {
		return nil
	}
	return writeLines(filepath.Join(tmp, LabelsFile), len(labels), func(i int) any { return labels[i] })
}

func writeLines(path string, n int, item func(int) any) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	w := bufio.NewWriter(f)
	enc := json.NewEncoder(w)
	for i := range n {
		if err := enc.Encode(item(i)); err != nil {
			f.Close()
			return fmt.Errorf("lab: %s: %w", path, err)
		}
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return fmt.Errorf("lab: %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("lab: %s: %w", path, err)
	}
	return nil
}

func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("lab: %w", err)
	}
	return checkpoint.WriteFileAtomic(path, append(b, '\n'))
}
