package main

import (
	"bytes"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
)

// mixedTeacher answers Self-Instruct prompts with the scripted teacher,
// judge prompts with a score derived from the answer, and anything else
// with answers of varying length.
func mixedTeacher() modeltest.Responder {
	teacher := scripted.New(3)
	inner := teacher.Responder()
	return func(r *modeltest.Request) modeltest.Reply {
		if scripted.Kind(r.Messages) != scripted.KindOther {
			return inner(r)
		}
		var rep modeltest.Reply
		last := r.LastUser()
		temp := -1.0 // the value, not the pointer: answers must not depend on the process
		if r.Temperature != nil {
			temp = *r.Temperature
		}
		for i := range r.N {
			h := fnv.New32a()
			fmt.Fprintf(h, "%s|%d|%v", last, i, temp)
			v := h.Sum32()
			if strings.Contains(last, `"Score: N"`) {
				rep.Choices = append(rep.Choices, modeltest.Choice{Text: fmt.Sprintf("Reasonable.\nScore: %d", 1+v%5)})
				continue
			}
			rep.Choices = append(rep.Choices, modeltest.Choice{Text: strings.Repeat("An answer. ", 1+int(v%6))})
		}
		return rep
	}
}

// TestStatusShowsStageReports runs self-instruct then self-rewarding and
// checks that status adds the self-rewarding length report.
func TestStatusShowsStageReports(t *testing.T) {
	srv := modeltest.NewServer(mixedTeacher())
	defer srv.Close()
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`name: sr
concurrency: 4
models:
  student:
    ref: openai-compatible/s
    base_url: %s
stages:
  - name: instructions
    type: selfinstruct
    with:
      model: student
      target: 12
  - name: pairs
    type: selfreward
    with:
      model: student
`, srv.URL)), 0o644)
	out, err := cli(dir, nil, "run", p, "--run-dir", "r", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	out, err = cli(dir, nil, "status", "r").CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "chosen_chars") {
		t.Errorf("status lacks the self-rewarding length report:\n%s", out)
	}
	out, err = cli(dir, nil, "export", "r", "--format", "dpo", "--out", filepath.Join(dir, "pairs.jsonl")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "wrote") {
		t.Fatalf("dpo export: %v\n%s", err, out)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "pairs.jsonl"))
	if !strings.Contains(string(b), `"score_chosen"`) {
		t.Errorf("dpo export lacks scores: %s", b)
	}
	// --out - puts the data alone on stdout and the summary on stderr.
	var stdout, stderr bytes.Buffer
	c := cli(dir, nil, "export", "r", "--format", "dpo", "--out", "-")
	c.Stdout, c.Stderr = &stdout, &stderr
	if err := c.Run(); err != nil {
		t.Fatalf("export --out -: %v\n%s", err, stderr.Bytes())
	}
	if !bytes.Equal(stdout.Bytes(), b) || !strings.Contains(stderr.String(), "wrote") {
		t.Errorf("export --out -: stdout %q (want the file's bytes), stderr %q", stdout.Bytes(), stderr.Bytes())
	}
}
