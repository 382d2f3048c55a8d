package methods

import (
	"context"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/lab"
)

func TestDistill(t *testing.T) {
	t.Parallel()
	rs, err := Distill(context.Background(), t.TempDir(), tinyDistill(t))
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 3 {
		t.Fatalf("%d rounds, want 3", len(rs))
	}
	teacher := rs[0]
	for _, r := range rs[1:] {
		if r.ParamRatio <= 0 || r.ParamRatio > 0.25 || r.Params*4 > teacher.Params {
			t.Errorf("round %d: student of %d parameters, ratio %g, teacher %d", r.Index, r.Params, r.ParamRatio, teacher.Params)
		}
		if r.TeacherAccuracy != teacher.Eval.Accuracy || r.Examples+r.Cut != r.Problems {
			t.Errorf("round %d: %+v", r.Index, r)
		}
	}
	if rs[2].Trained != rs[1].Examples+rs[2].Examples {
		t.Errorf("round 2 trained on %d examples, want both rounds' %d + %d", rs[2].Trained, rs[1].Examples, rs[2].Examples)
	}
}

func TestDistillRejectsLargeStudent(t *testing.T) {
	cfg := tinyDistill(t)
	cfg.Student = lab.Arch{Dim: 32, Layers: 1, Heads: 2, Hidden: 32, MaxSeq: 16}
	_, err := Distill(context.Background(), t.TempDir(), cfg)
	if err == nil || !strings.Contains(err.Error(), "at most 0.25") {
		t.Errorf("a student nearly the teacher's size: %v, want an error", err)
	}
}
