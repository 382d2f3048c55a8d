package bestofn

import (
	"context"
	"testing"

	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

func TestPrompt(t *testing.T) {
	for _, tc := range []struct {
		in   record.Record
		want string
	}{
		{record.Record{Instruction: " Sum the numbers. "}, "Sum the numbers."},
		{record.Record{Instruction: "Sum the numbers.", Input: "3, 4"}, "Sum the numbers.\n\n3, 4"},
		{record.Record{Instruction: "Tell a joke.", Input: "<noinput>"}, "Tell a joke."},
	} {
		if got := Prompt(&tc.in); got != tc.want {
			t.Errorf("Prompt(%+v) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestReference(t *testing.T) {
	r := &record.Record{Input: "in", Output: "out", Meta: map[string]any{"answer": "42", "n": 7.5}}
	for _, tc := range []struct{ spec, want string }{
		{"", "out"}, {"output", "out"}, {"input", "in"}, {"meta.answer", "42"}, {"meta.n", "7.5"}, {"meta.none", ""},
	} {
		f, err := Reference(tc.spec)
		if err != nil {
			t.Fatalf("Reference(%q): %v", tc.spec, err)
		}
		if got := f(r); got != tc.want {
			t.Errorf("Reference(%q) = %q, want %q", tc.spec, got, tc.want)
		}
	}
	for _, bad := range []string{"meta.", "answer", "Output"} {
		if _, err := Reference(bad); err == nil {
			t.Errorf("Reference(%q) accepted", bad)
		}
	}
}

// fixedJudge gives every answer res.
type fixedJudge struct{ res judge.Result }

func (j fixedJudge) Score(context.Context, judge.Item) (judge.Result, error) { return j.res, nil }

// TestScoreStructured: how a judge's replies were asked for travels into
// each candidate's judgment.
func TestScoreStructured(t *testing.T) {
	j := fixedJudge{judge.Result{Score: 4, Structured: "native", Samples: []judge.Sample{{Score: 4, Valid: true, Reason: "fine"}}}}
	cands := []record.Candidate{{Text: "a"}, {Text: "b"}}
	var u pipeline.UnitUsage
	js, _, _, err := Scorer{Judge: j}.Score(context.Background(), &record.Record{Instruction: "q"}, cands, &u)
	if err != nil || len(js) != 2 || js[0].Structured != "native" || *js[1].Score != 4 || cands[1].Scores["judge"] != 4 {
		t.Errorf("Score = %+v, %v", js, err)
	}
}
