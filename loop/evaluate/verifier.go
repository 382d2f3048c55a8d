package evaluate

import (
	"context"
	"fmt"
	"path/filepath"

	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/verify"
)

func init() {
	loop.RegisterEvaluator(loop.Type[loop.Evaluator]{
		Name: "verifier",
		Doc: `Answers every held-out item with the student and with the teacher (greedy by default,
so a resumed evaluation is served from the response cache) and checks each answer against
the item's answer with a verifier (exact by default; normalized, regex, numeric,
json_schema or command). The compared metric is accuracy; with item difficulties it is
also reported per difficulty. Per-item results go to round-NNN/eval.jsonl.`,
		Example: `evaluate:
  type: verifier
  with:
    data: heldout.jsonl          # {"prompt": ..., "answer": ..., "difficulty": 3} per line
    verifier: {kind: numeric, tolerance: 1e-6}
    max_tokens: 64`,
		Config: func() any { return &VerifierConfig{Verifier: verify.Config{Kind: verify.Exact}} },
		New:    func(c any) (loop.Evaluator, error) { return NewVerifier(c.(*VerifierConfig)) },
	})
}

// VerifierConfig is the `with:` block of the verifier evaluator.
type VerifierConfig struct {
	Decode   `yaml:",inline"`
	Verifier verify.Config `yaml:"verifier" doc:"How an answer is checked against its item"`
}

// Validate checks the settings without reading the data.
func (c *VerifierConfig) Validate() error {
	if err := c.Decode.validate(); err != nil {
		return err
	}
	for i, it := range c.Items {
		if it.Answer == "" {
			return fmt.Errorf("items[%d]: no answer to verify against", i)
		}
	}
	return c.Verifier.Validate()
}

// Verifier is the verifier evaluator.
type Verifier struct {
	c *VerifierConfig
	v verify.Verifier
}

// NewVerifier returns the evaluator of a config.
func NewVerifier(c *VerifierConfig) (*Verifier, error) {
	if err := c.Decode.validate(); err != nil {
		return nil, err
	}
	v, err := verify.New(&c.Verifier)
	if err != nil {
		return nil, err
	}
	return &Verifier{c: c, v: v}, nil
}

type scored struct {
	acc    float64
	byDiff map[int]float64
	pass   []bool
	errs   int
	cost   float64
	ans    []answer
}

func (e *Verifier) score(ctx context.Context, r *loop.Round, m loop.Model, items []Item, who string) (scored, error) {
	ans, err := e.c.answerAll(ctx, r, m, items, who)
	if err != nil {
		return scored{}, err
	}
	s := scored{pass: make([]bool, len(items)), ans: ans}
	right := 0
	n, ok := map[int]int{}, map[int]int{}
	for i, it := range items {
		s.cost += ans[i].Cost
		if ans[i].Err != "" {
			s.errs++
		} else {
			v, err := e.v.Verify(ctx, verify.Check{Prompt: it.Prompt, Candidate: ans[i].Text, Reference: it.Answer})
			if err != nil {
				return scored{}, fmt.Errorf("evaluate: verifier: %w", err)
			}
			s.pass[i] = v.Pass
		}
		if s.pass[i] {
			right++
			ok[it.Difficulty]++
		}
		n[it.Difficulty]++
	}
	s.acc = float64(right) / float64(len(items))
	if len(n) > 1 || n[0] == 0 {
		s.byDiff = map[int]float64{}
		for d, c := range n {
			s.byDiff[d] = float64(ok[d]) / float64(c)
		}
	}
	return s, nil
}

// Evaluate implements loop.Evaluator.
func (e *Verifier) Evaluate(ctx context.Context, r *loop.Round, student, teacher loop.Model) (loop.Eval, error) {
	items, err := e.c.items(true)
	if err != nil {
		return loop.Eval{}, err
	}
	st, err := e.score(ctx, r, student, items, "student")
	if err != nil {
		return loop.Eval{}, err
	}
	ev := loop.Eval{
		Metric: "accuracy", Student: st.acc, ByDifficulty: st.byDiff, CostUSD: st.cost,
		Metrics: map[string]float64{"accuracy": st.acc, "items": float64(len(items)), "student_errors": float64(st.errs)},
	}
	var te scored
	if teacher.Ref() != "" {
		if te, err = e.score(ctx, r, teacher, items, "teacher"); err != nil {
			return loop.Eval{}, err
		}
		ev.Teacher, ev.TeacherByDifficulty = te.acc, te.byDiff
		ev.CostUSD += te.cost
		ev.Metrics["teacher_accuracy"] = te.acc
		ev.Metrics["teacher_errors"] = float64(te.errs)
	}
	rows := make([]any, len(items))
	for i, it := range items {
		row := map[string]any{"prompt": it.Prompt, "answer": it.Answer, "student": st.ans[i].Text, "student_pass": st.pass[i]}
		if it.Difficulty > 0 {
			row["difficulty"] = it.Difficulty
		}
		if st.ans[i].Err != "" {
			row["student_error"] = st.ans[i].Err
		}
		if te.ans != nil {
			row["teacher"], row["teacher_pass"] = te.ans[i].Text, te.pass[i]
			if te.ans[i].Err != "" {
				row["teacher_error"] = te.ans[i].Err
			}
		}
		rows[i] = row
	}
	if err := writeJSONL(filepath.Join(r.Dir, "eval.jsonl"), rows); err != nil {
		return loop.Eval{}, err
	}
	return ev, nil
}
