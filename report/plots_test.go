package report

import (
	"strings"
	"testing"
)

func figureByFile(t *testing.T, r Run, file string) figure {
	t.Helper()
	for _, f := range figures(r) {
		if f.File == file {
			return f
		}
	}
	t.Fatalf("no figure %s", file)
	return figure{}
}

// TestAccuracyCaptionTeacher checks that the caption promises the first
// round's teacher line only when the plot draws it.
func TestAccuracyCaptionTeacher(t *testing.T) {
	const promise = "grey dotted line is the first round's teacher"
	r := loadTestRun(t, "run.json")
	if len(r.Rounds[0].TeacherAccuracyByDifficulty) == 0 {
		t.Fatal("run.json's first round has no teacher accuracy")
	}
	if c := figureByFile(t, r, AccuracyPlot).Caption; !strings.Contains(c, promise) {
		t.Errorf("caption with a first-round teacher = %q, want it to mention the teacher's line", c)
	}
	r.Rounds[0].TeacherAccuracyByDifficulty = nil
	if c := figureByFile(t, r, AccuracyPlot).Caption; strings.Contains(c, "teacher") {
		t.Errorf("caption without a first-round teacher = %q, want no teacher's line", c)
	}
}
