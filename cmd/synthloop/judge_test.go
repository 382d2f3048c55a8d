package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
)

// TestJudgeCalibrate runs `synthloop judge calibrate` against a scripted
// judge that reads the quality written into each answer, so its scores rank
// the answers exactly as the human labels do.
func TestJudgeCalibrate(t *testing.T) {
	dir := t.TempDir()
	pipe := qualityJudge(t, dir)
	var labels strings.Builder
	for i, s := range []int{1, 2, 3, 4, 5, 2} {
		fmt.Fprintf(&labels, `{"prompt":"question %d","answer":"an answer of quality %d","score":%d}`+"\n", i, s, s)
	}
	lf := filepath.Join(dir, "labels.jsonl")
	os.WriteFile(lf, []byte(labels.String()), 0o644)
	out, err := cli(dir, nil, "judge", "calibrate", lf, "--models", pipe, "--judge-model", "judge", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("calibrate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"scored":6`) || !strings.Contains(string(out), `"spearman":1`) {
		t.Errorf("calibration output %s: want 6 scored and Spearman 1", out)
	}
}

// qualityJudge starts a scripted judge that reads the quality written into
// each answer ("quality 4") as its score, and writes a pipeline file naming
// it "judge" into dir; it returns the file's path.
func qualityJudge(t *testing.T, dir string) string {
	t.Helper()
	quality := regexp.MustCompile(`quality (\d)`)
	srv := modeltest.NewServer(func(r *modeltest.Request) modeltest.Reply {
		var rep modeltest.Reply
		m := quality.FindAllStringSubmatch(r.LastUser(), -1)
		score := "3"
		if len(m) > 0 {
			score = m[len(m)-1][1]
		}
		for range r.N {
			rep.Choices = append(rep.Choices, modeltest.Choice{Text: "The answer is as good as it says.\nScore: " + score})
		}
		return rep
	})
	t.Cleanup(srv.Close)
	pipe := filepath.Join(dir, "p.yaml")
	os.WriteFile(pipe, []byte(fmt.Sprintf("models:\n  judge:\n    ref: openai-compatible/j\n    base_url: %s\nstages:\n  - type: selfinstruct\n    with:\n      model: judge\n", srv.URL)), 0o644)
	return pipe
}
