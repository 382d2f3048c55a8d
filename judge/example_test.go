package judge_test

import (
	"context"
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// ExampleNewPointwise scores an answer three times with the self-rewarding
// rubric on a scripted judge and averages the scores.
func ExampleNewPointwise() {
	srv := modeltest.NewServer(modeltest.Texts(
		"Relevant and complete.\nScore: 4",
		"Relevant, complete, well organised.\nScore: 5",
		"Relevant but thin.\nScore: 3"))
	defer srv.Close()
	b, info, err := model.Open(context.Background(), "critic", model.Config{Ref: "openai-compatible/critic", BaseURL: srv.URL}, model.Options{})
	if err != nil {
		panic(err)
	}
	j, err := judge.NewPointwise(judge.Backend{Backend: b, Name: "critic", Provider: info.Provider, Model: info.Model}, judge.Rubric{}, judge.Options{})
	if err != nil {
		panic(err)
	}
	res, err := j.Score(context.Background(), judge.Item{Prompt: "Name three primary colours.", Answer: "Red, yellow and blue."})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Score, len(res.Samples), res.Reasons()[2])
	// Output: 4 3 Relevant but thin.
}

// ExampleParseScore shows that a score is read only from the line the
// prompt asks for, and only within range.
func ExampleParseScore() {
	for _, reply := range []string{"Good.\nScore: 4", "Good.\nScore: 9", "I'd say 4 out of 5."} {
		s, _, err := judge.ParseScore(reply, 0, 5, true)
		fmt.Println(s, err != nil)
	}
	// Output:
	// 4 false
	// 0 true
	// 0 true
}

// ExampleCalibrate measures a judge against human scores.
func ExampleCalibrate() {
	labels, err := judge.ReadLabels(strings.NewReader(`{"prompt":"p","answer":"short","score":1}
{"prompt":"p","answer":"medium answer","score":2}
{"prompt":"p","answer":"a long, complete answer","score":3}`))
	if err != nil {
		panic(err)
	}
	// A stand-in judge that likes longer answers.
	byLength := judgeFunc(func(_ context.Context, it judge.Item) (judge.Result, error) {
		return judge.Result{Score: float64(len(it.Answer))}, nil
	})
	cal, err := judge.Calibrate(context.Background(), labels, byLength, nil, 1)
	if err != nil {
		panic(err)
	}
	fmt.Println(cal)
	// Output: scored 3 (judge errors 0): spearman 1.000, kendall tau-b 1.000, pairwise accuracy 1.000 over 3 pairs; preferences 0 (judge errors 0): accuracy n/a
}

type judgeFunc func(context.Context, judge.Item) (judge.Result, error)

func (f judgeFunc) Score(ctx context.Context, it judge.Item) (judge.Result, error) { return f(ctx, it) }
