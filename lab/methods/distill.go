package methods

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/trainjob"
)

// DistillConfig configures distillation: a teacher trained to high accuracy
// answers fresh problems, and a student of at most MaxParamRatio of its
// parameters learns from those answers alone.
type DistillConfig struct {
	Task task.Task `json:"-"`
	Seed uint64    `json:"seed"`
	// Teacher is trained on labels (or loaded from Teacher.Dir) in round 0.
	Teacher Start `json:"teacher"`
	// Student sizes the student; it must have at most MaxParamRatio of the
	// teacher's parameters (0 means 0.25).
	Student       lab.Arch `json:"student"`
	MaxParamRatio float64  `json:"max_param_ratio,omitempty"`
	// Each round the teacher answers Problems fresh problems greedily with
	// difficulty uniform in [MinDifficulty, MaxDifficulty]; the student,
	// new in round 1 and continued after, trains on every round's answers
	// pooled. Answers the teacher did not finish within the token limit are
	// dropped, the rest kept as they are: the verifier is not consulted.
	Rounds        int          `json:"rounds"`
	Problems      int          `json:"problems"`
	MinDifficulty int          `json:"min_difficulty"`
	MaxDifficulty int          `json:"max_difficulty"`
	Train         TrainConfig  `json:"train"`
	Eval          EvalConfig   `json:"eval"`
	Log           *slog.Logger `json:"-"`
}

func (c DistillConfig) check() error {
	if c.Task == nil {
		return fmt.Errorf("methods: distill: no task")
	}
	if c.Rounds < 0 || c.Problems <= 0 || c.MinDifficulty < 1 || c.MaxDifficulty < c.MinDifficulty || c.MaxParamRatio < 0 {
		return fmt.Errorf("methods: distill: %d rounds of %d problems (difficulty %d..%d), parameter ratio %g: want rounds ≥ 0, problems > 0, 1 ≤ min ≤ max, ratio ≥ 0",
			c.Rounds, c.Problems, c.MinDifficulty, c.MaxDifficulty, c.MaxParamRatio)
	}
	if err := c.Teacher.check("distill teacher"); err != nil {
		return err
	}
	if err := c.Train.check("distill student"); err != nil {
		return err
	}
	return c.Eval.check()
}

// params is the size of the teacher and of the student, which must be at
// most the allowed share of the teacher.
func (c DistillConfig) params() (teacher, student int, err error) {
	var tm *lab.Model
	if c.Teacher.Dir != "" {
		tm, err = lab.LoadModel(c.Teacher.Dir)
	} else {
		tm, err = lab.NewModel(c.Task, c.Teacher.Arch, 0)
	}
	if err != nil {
		return 0, 0, err
	}
	sm, err := lab.NewModel(c.Task, c.Student, 0)
	if err != nil {
		return 0, 0, err
	}
	teacher, student = tm.LM.Config.NumParams(), sm.LM.Config.NumParams()
	limit := c.MaxParamRatio
	if limit == 0 {
		limit = 0.25
	}
	if float64(student) > limit*float64(teacher) {
		return teacher, student, fmt.Errorf("methods: distill: the student has %d parameters, %.3f of the teacher's %d; at most %g allowed",
			student, float64(student)/float64(teacher), teacher, limit)
	}
	return teacher, student, nil
}

// DistillRound is one round; round 0 is the teacher.
type DistillRound struct {
	Round
	Problems int `json:"problems,omitempty"` // answered by the teacher
	Cut      int `json:"cut,omitempty"`      // answers that hit the token limit, dropped
	// LabelAccuracy is the share of the round's teacher answers that are
	// right, measured with the verifier after training, never used by it.
	LabelAccuracy   float64 `json:"label_accuracy,omitempty"`
	TeacherAccuracy float64 `json:"teacher_accuracy"`
	ParamRatio      float64 `json:"param_ratio"` // student parameters / teacher parameters
	// Relative is the student's accuracy over the teacher's.
	Relative float64 `json:"relative"`
}

// Distill runs distillation in dir, resuming a run that stopped there, and
// returns every round's results.
func Distill(ctx context.Context, dir string, cfg DistillConfig) ([]DistillRound, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if _, _, err := cfg.params(); err != nil {
		return nil, err
	}
	r, err := open[DistillRound](dir, "distill", cfg.Task, cfg, cfg.Eval, cfg.Log)
	if err != nil {
		return nil, err
	}
	gen := func(ctx context.Context, i int, _, rec *DistillRound) error {
		teacher, err := lab.LoadModel(r.abs(r.rounds[0].Model))
		if err != nil {
			return err
		}
		ps := unlabelled(r.problems(rng(cfg.Seed, i, forPool), cfg.Problems, cfg.MinDifficulty, cfg.MaxDifficulty))
		r.log.Info("teacher labelling", "round", i, "problems", len(ps))
		ans, err := lab.Answers(ctx, teacher, ps, lab.Decode{MaxTokens: maxTokens(cfg.Task, ps)})
		if err != nil {
			return err
		}
		var labelled []task.Problem
		for j, p := range ps {
			if a := ans[j][0]; a.Stopped && a.Text != "" {
				p.Answer = a.Text
				labelled = append(labelled, p)
			} else {
				rec.Cut++
			}
		}
		data := filepath.Join(r.roundDir(i), lab.DataFile)
		if err := writeSFT(data, labelled); err != nil {
			return err
		}
		rec.Data, rec.Examples, rec.Problems = r.rel(data), len(labelled), len(ps)
		return nil
	}
	fit := func(ctx context.Context, i int, rec *DistillRound) error {
		init := r.abs(r.rounds[i-1].Model)
		if i == 1 {
			init = filepath.Join(r.roundDir(1), initDir)
			m, err := lab.NewModel(cfg.Task, cfg.Student, cfg.Seed^forInit)
			if err != nil {
				return err
			}
			if err := m.Save(init); err != nil {
				return err
			}
		}
		var files []string
		for j := 1; j <= i; j++ {
			d, n := rec.Data, rec.Examples
			if j < i {
				d, n = r.rounds[j].Data, r.rounds[j].Examples
			}
			if n > 0 {
				files = append(files, r.abs(d))
			}
		}
		if _, err := r.fit(ctx, i, "sft", init, files, cfg.Train, cfg.Seed, &rec.Round); err != nil {
			return err
		}
		t0 := r.rounds[0]
		rec.TeacherAccuracy = t0.Eval.Accuracy
		rec.ParamRatio = float64(rec.Params) / float64(t0.Params)
		if t0.Eval.Accuracy > 0 {
			rec.Relative = rec.Eval.Accuracy / t0.Eval.Accuracy
		}
		if rec.Examples == 0 {
			return nil
		}
		convs, err := trainjob.ReadJSONL(r.abs(rec.Data))
		if err != nil {
			return fmt.Errorf("methods: %w", err)
		}
		right := 0
		for _, c := range convs {
			if cfg.Task.Verify(task.Problem{Prompt: c.Messages[0].Content}, c.Messages[1].Content) {
				right++
			}
		}
		rec.LabelAccuracy = float64(right) / float64(len(convs))
		return nil
	}
	first := func(rec *DistillRound) {
		rec.TeacherAccuracy, rec.ParamRatio, rec.Relative = rec.Eval.Accuracy, 1, 1
	}
	return rounds(ctx, r, cfg.Rounds, cfg.Teacher, cfg.Seed, first, gen, fit)
}
