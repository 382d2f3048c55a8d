package main

import (
	"bytes"
	"context"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
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

// TestStatusGroupsReasonsByKind commits many near-duplicate rejections, each
// of another record: status must count them as one kind and show examples
// on their own lines, not the whole count under one record's id.
func TestStatusGroupsReasonsByKind(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var recs []*record.Record
	reject := func(filter, reason string) {
		recs = append(recs, &record.Record{ID: fmt.Sprint("r", len(recs)), Seq: int64(len(recs)), Status: record.Rejected,
			Decisions: []record.Decision{{Filter: filter, Reason: reason}}})
	}
	for i := range 40 {
		reject("dedup", fmt.Sprintf("near-duplicate of clean:prompts:prompts.jsonl:%d (est. Jaccard 0.9%d)", 106384+i, i%10))
	}
	reject("dedup", "exact duplicate of clean:prompts:prompts.jsonl:5")
	reject("length", "too short")
	recs = append(recs, &record.Record{ID: "f", Seq: 999, Status: record.Failed, Error: "model: teacher (openai/x): HTTP 400: context too long"})
	if err := st.Commit(ctx, pipeline.Unit{Stage: "clean", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := writeStatus(ctx, &out, st, dir, 3); err != nil {
		t.Fatal(err)
	}
	want := `
clean:
  rejected by dedup                  41
         40  near-duplicate of … (est. Jaccard …)
             e.g. near-duplicate of clean:prompts:prompts.jsonl:106384 (est. Jaccard 0.90)
                  near-duplicate of clean:prompts:prompts.jsonl:106385 (est. Jaccard 0.91)
          1  exact duplicate of …
             e.g. exact duplicate of clean:prompts:prompts.jsonl:5
  rejected by length                 1
          1  too short
  failed     1  model: teacher (…): HTTP …: context too long
               e.g. model: teacher (openai/x): HTTP 400: context too long
  (failed records are kept as they are; run --retry-failed does their units again)
`
	if got := out.String(); !strings.HasSuffix(got, want) {
		t.Errorf("status ends\n%s\nwant it to end\n%s", got, want)
	}
}

// TestStatusShowsSampleCoverage: status shows how a sample stage covered
// each column.
func TestStatusShowsSampleCoverage(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte(`name: s
stages:
  - name: attrs
    type: sample
    with:
      cross: [lang]
      repeat: 3
      columns:
        - {name: lang, kind: category, values: [en, ja]}
        - {name: level, kind: int, min: 2, max: 2}
`), 0o644)
	if out, err := cli(dir, nil, "run", p, "--run-dir", "r", "--json").CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	out, err := cli(dir, nil, "status", "r").CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"coverage of 6 records:", "lang   2/2 values, evenness 100%  en 3 (50%) · ja 3 (50%)", "level  int: min 2 · mean 2 · max 2"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestStatusShowsAttributeCoverage: after sample → problems → reasoning,
// status shows how the kept problems and traces cover the attributes and
// the pass rate per difficulty.
func TestStatusShowsAttributeCoverage(t *testing.T) {
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	dir := t.TempDir()
	seeds := filepath.Join(dir, "seeds.txt")
	os.WriteFile(seeds, []byte("Mia has 12 apples. She buys 7 more apples. How many apples does Mia have now?\n"+
		"Tom has 30 marbles. He shares them equally among 5 friends. How many marbles does each friend get?\n"), 0o644)
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`name: diverse
concurrency: 4
models:
  teacher:
    ref: openai-compatible/t
    base_url: %s
stages:
  - name: attrs
    type: sample
    with:
      cross: [difficulty]
      repeat: 2
      columns:
        - {name: difficulty, kind: category, values: [easy, hard]}
  - name: invented
    type: problems
    with: {model: teacher, seeds: %s, shown: 2, per_prompt: 3, max_batches: 4, target: 12}
  - name: rl
    type: reasoning
    with: {model: teacher, n: 4, reference: vote}
`, srv.URL, seeds)), 0o644)
	if out, err := cli(dir, nil, "run", p, "--run-dir", "r", "--json").CombinedOutput(); err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	out, err := cli(dir, nil, "status", "r").CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"kept problems' coverage of", "pass rate by difficulty: ", "kept traces' coverage of", "difficulty  2/2 values"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}
