package loopplug

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"

	"github.com/synthloop/synthloop/engine/checkpoint"
	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/methods"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// AccuracyConfig is the `with:` block of lab-accuracy.
type AccuracyConfig struct {
	Task         string `yaml:"task" doc:"Lab task (empty: the lab generator's)"`
	Difficulties []int  `yaml:"difficulties" doc:"Difficulties evaluated, each on its own held-out problems"`
	Problems     int    `yaml:"problems" doc:"Held-out problems per difficulty"`
	Seed         uint64 `yaml:"seed" doc:"Draws the held-out problems: the same every round"`
	Target       []int  `yaml:"target" doc:"Difficulties whose mean accuracy decides the promotion (empty: all)"`
	// Samples answers per target problem at Temperature give pass@1, pass@K
	// and the majority vote's accuracy (0: greedy accuracy only).
	Samples     int     `yaml:"samples" doc:"Sampled answers per target problem for pass@1, pass@K and vote (0: greedy only)"`
	K           int     `yaml:"k" doc:"K of pass@K"`
	Temperature float64 `yaml:"temperature" doc:"Temperature of the sampled answers"`

	gen func() string
}

// DefaultEvalSeed draws the held-out problems. The generators draw theirs
// from the loop's seed plus the round, other streams of the same generator.
const DefaultEvalSeed = 0xe7a1

// SetLoop implements the loop's config hook.
func (c *AccuracyConfig) SetLoop(l *loop.Config) { c.gen = genTask(l) }

// Validate implements the loop's config hook.
func (c *AccuracyConfig) Validate() error {
	if c.Task == "" && c.gen != nil {
		c.Task = c.gen()
	}
	if _, err := lookup(c.Task); err != nil {
		return fmt.Errorf("lab-accuracy: %w", err)
	}
	if len(c.Difficulties) == 0 || c.Problems < 1 {
		return errors.New("lab-accuracy: difficulties and problems (per difficulty) are required")
	}
	for i, d := range c.Difficulties {
		if d < 1 || slices.Contains(c.Difficulties[:i], d) {
			return fmt.Errorf("lab-accuracy: difficulty %d: want distinct difficulties ≥ 1", d)
		}
	}
	for _, d := range c.Target {
		if !slices.Contains(c.Difficulties, d) {
			return fmt.Errorf("lab-accuracy: target difficulty %d is not among the evaluated difficulties %v", d, c.Difficulties)
		}
	}
	if c.Samples < 0 || (c.Samples > 0 && (c.K < 1 || c.K > c.Samples || !(c.Temperature > 0))) {
		return fmt.Errorf("lab-accuracy: pass@%d from %d samples at temperature %g: want 1 ≤ k ≤ samples and a positive temperature", c.K, c.Samples, c.Temperature)
	}
	return nil
}

func (c *AccuracyConfig) target() []int {
	if len(c.Target) > 0 {
		return c.Target
	}
	return c.Difficulties
}

// key identifies the evaluation, so a cached score is used only for the
// same problems and decoding.
func (c *AccuracyConfig) key() string {
	b, _ := json.Marshal([]any{c.Task, c.Difficulties, c.Problems, c.Seed, c.target(), c.Samples, c.K, c.Temperature})
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:8])
}

// Score is one model's evaluation.
type Score struct {
	// Accuracy is the mean greedy accuracy over the target difficulties, All
	// over every evaluated one.
	Accuracy     float64         `json:"accuracy"`
	All          float64         `json:"all"`
	ByDifficulty map[int]float64 `json:"by_difficulty"`
	// PassAt1, PassAtK and Majority are over the target problems, from
	// Samples samples each (0 without samples).
	PassAt1  float64 `json:"pass_at_1,omitempty"`
	PassAtK  float64 `json:"pass_at_k,omitempty"`
	Majority float64 `json:"majority,omitempty"`
	// PassAt1SE and PassAtKSE are their standard errors over the problems
	// (the spread of the per-problem estimates over √problems), so two
	// rounds' figures can be told apart from the draw of held-out problems.
	PassAt1SE float64 `json:"pass_at_1_se,omitempty"`
	PassAtKSE float64 `json:"pass_at_k_se,omitempty"`
	// Length is the mean length in characters of the greedy answers to the
	// target problems, and Working the share of them whose working is right
	// (tasks that show their working).
	Length  float64 `json:"length"`
	Working float64 `json:"working,omitempty"`
	// Params is the model's size.
	Params int `json:"params"`
}

// AccuracyFile caches the student's score in its round directory; the next
// round reads it back when that student is its teacher.
const AccuracyFile = "lab-accuracy.json"

type cached struct {
	Key   string `json:"key"`
	Model string `json:"model"`
	Score Score  `json:"score"`
}

type accuracy struct {
	c *AccuracyConfig
}

func (a *accuracy) Evaluate(ctx context.Context, r *loop.Round, student, teacher loop.Model) (loop.Eval, error) {
	if student.Dir == "" {
		return loop.Eval{}, fmt.Errorf("lab-accuracy: the student %q is not a built-in model directory", student.Ref())
	}
	cpu := lab.CPUSeconds()
	s, err := a.score(ctx, r, student.Dir, filepath.Join(r.Dir, AccuracyFile), "student")
	if err != nil {
		return loop.Eval{}, err
	}
	e := loop.Eval{Metric: "accuracy", Student: s.Accuracy, ByDifficulty: s.ByDifficulty,
		Metrics: map[string]float64{"accuracy": s.Accuracy, "accuracy_all": s.All, "answer_length": s.Length}}
	// The round's CPU includes its evaluation; this lets a method's cost be
	// compared without it (a larger held-out set is not the method's cost).
	defer func() { e.Metrics["eval_cpu_seconds"] = lab.CPUSeconds() - cpu }()
	if _, ok := a.task().(task.Worked); ok {
		e.Metrics["working_right"] = s.Working
	}
	if a.c.Samples > 0 {
		e.Metrics["pass_at_1"], e.Metrics["pass_at_k"], e.Metrics["majority"] = s.PassAt1, s.PassAtK, s.Majority
		e.Metrics["pass_at_1_se"], e.Metrics["pass_at_k_se"] = s.PassAt1SE, s.PassAtKSE
	}
	if teacher.Ref() == "" && teacher.Dir == "" {
		// No teacher yet (a labelled first round): any student that
		// answers anything beats it.
		return e, nil
	}
	if teacher.Dir == "" {
		return loop.Eval{}, fmt.Errorf("lab-accuracy: the teacher %q is not a built-in model directory", teacher.Ref())
	}
	ts, err := a.score(ctx, r, teacher.Dir, filepath.Join(filepath.Dir(teacher.Dir), AccuracyFile), "teacher")
	if err != nil {
		return loop.Eval{}, err
	}
	e.Teacher, e.TeacherByDifficulty = ts.Accuracy, ts.ByDifficulty
	e.Metrics["teacher_accuracy"], e.Metrics["teacher_accuracy_all"] = ts.Accuracy, ts.All
	// For distillation: the student's share of the teacher's accuracy and size.
	if ts.Accuracy > 0 {
		e.Metrics["relative"] = s.Accuracy / ts.Accuracy
	}
	if ts.Params > 0 {
		e.Metrics["param_ratio"] = float64(s.Params) / float64(ts.Params)
	}
	if a.c.Samples > 0 {
		e.Metrics["teacher_pass_at_1"], e.Metrics["teacher_pass_at_k"], e.Metrics["teacher_majority"] = ts.PassAt1, ts.PassAtK, ts.Majority
	}
	return e, nil
}

// score evaluates the model in dir, or reads its score from cache when an
// earlier evaluation with these settings wrote it there. Only the student's
// own cache file is written.
func (a *accuracy) score(ctx context.Context, r *loop.Round, dir, cache, who string) (Score, error) {
	key := a.c.key()
	if raw, err := os.ReadFile(cache); err == nil {
		var c cached
		if json.Unmarshal(raw, &c) == nil && c.Key == key && c.Model == dir {
			return c.Score, nil
		}
	}
	m, err := lab.LoadModel(dir)
	if err != nil {
		return Score{}, fmt.Errorf("lab-accuracy: %s: %w", who, err)
	}
	t, _ := lookup(a.c.Task)
	held := lab.HeldOut(t, a.c.Difficulties, a.c.Problems, a.c.seed())
	r.Progress(0, 1, who)
	pts, err := lab.Evaluate(ctx, m, t, held)
	if err != nil {
		return Score{}, err
	}
	s := Score{ByDifficulty: map[int]float64{}, Params: m.LM.Config.NumParams()}
	tgt := a.c.target()
	var targetProblems []task.Problem
	for i, p := range pts {
		d := a.c.Difficulties[i]
		s.ByDifficulty[d] = p.Accuracy
		s.All += p.Accuracy / float64(len(pts))
		if slices.Contains(tgt, d) {
			s.Accuracy += p.Accuracy / float64(len(tgt))
			s.Length += p.Length / float64(len(tgt))
			s.Working += p.Working / float64(len(tgt))
			targetProblems = append(targetProblems, held[i]...)
		}
	}
	if a.c.Samples > 0 {
		if err := a.passAtK(ctx, m, t, targetProblems, &s); err != nil {
			return Score{}, err
		}
	}
	r.Progress(1, 1, who)
	if who == "student" {
		b, _ := json.MarshalIndent(cached{Key: key, Model: dir, Score: s}, "", "  ")
		if err := checkpoint.WriteFileAtomic(cache, append(b, '\n')); err != nil {
			return Score{}, fmt.Errorf("lab-accuracy: %w", err)
		}
	}
	return s, nil
}

func (a *accuracy) task() task.Task {
	t, _ := lookup(a.c.Task)
	return t
}

func (c *AccuracyConfig) seed() uint64 {
	if c.Seed != 0 {
		return c.Seed
	}
	return DefaultEvalSeed
}

func (a *accuracy) passAtK(ctx context.Context, m *lab.Model, t task.Task, ps []task.Problem, s *Score) error {
	c := a.c
	as, err := lab.Answers(ctx, m, ps, lab.Decode{N: c.Samples, Temperature: c.Temperature, Seed: c.seed(), MaxTokens: maxTokens(t, ps)})
	if err != nil {
		return err
	}
	worked, _ := t.(task.Worked)
	var sq1, sqK float64
	for i, p := range ps {
		_, right := verdicts(t, p, as[i])
		if worked != nil {
			// The vote is over final answers: two samples that reach the
			// same product by different working agree.
			for j, x := range as[i] {
				f, _ := worked.Final(x.Text)
				as[i][j].Text = "#" + f
			}
		}
		p1, pk := methods.PassAtK(c.Samples, right, 1), methods.PassAtK(c.Samples, right, c.K)
		s.PassAt1, s.PassAtK = s.PassAt1+p1, s.PassAtK+pk
		sq1, sqK = sq1+p1*p1, sqK+pk*pk
		if v := methods.Votes(as[i], func(x lab.Answer) bool { return x.Stopped }); len(v) > 0 && t.Verify(p, v[0].Text) {
			s.Majority++
		}
	}
	n := float64(max(len(ps), 1))
	s.PassAt1, s.PassAtK, s.Majority = s.PassAt1/n, s.PassAtK/n, s.Majority/n
	s.PassAt1SE, s.PassAtKSE = standardError(sq1/n, s.PassAt1, n), standardError(sqK/n, s.PassAtK, n)
	return nil
}

// standardError is the standard error of a mean over n items whose squares
// average sq: the sample standard deviation over √n.
func standardError(sq, mean, n float64) float64 {
	if n < 2 {
		return 0
	}
	return math.Sqrt(max(sq-mean*mean, 0) * n / (n - 1) / n)
}
