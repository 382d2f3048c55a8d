package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// TestReviewSurvivesKill reviews through a real `synthloop review` process,
// kills it with SIGKILL the moment the last decision is answered, and checks
// that status and export see every decision.
func TestReviewSurvivesKill(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	st, err := store.Open(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*record.Record
	for i := range 8 {
		recs = append(recs, &record.Record{ID: fmt.Sprintf("a:%d", i), Seq: int64(i), Status: record.Kept,
			Instruction: fmt.Sprintf("Say %d.", i), Output: fmt.Sprint(i)})
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "a", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	st.Close()

	cmd := cli(dir, nil, "review", run, "--addr", "127.0.0.1:0", "--reviewer", "ann", "--sample", "4")
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	var base string
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		if m := regexp.MustCompile(`at (http://\S+/)`).FindStringSubmatch(sc.Text()); m != nil {
			base = m[1]
			break
		}
	}
	if base == "" {
		t.Fatal("review printed no address")
	}
	go func() { // keep the pipe drained
		for sc.Scan() {
		}
	}()
	c := &http.Client{Timeout: 10 * time.Second}
	res, err := c.Get(base + "api/session")
	if err != nil {
		t.Fatal(err)
	}
	var s struct{ CSRF string }
	json.NewDecoder(res.Body).Decode(&s)
	res.Body.Close()
	post := func(path, who string, body map[string]any) {
		t.Helper()
		b, _ := json.Marshal(body)
		req, _ := http.NewRequest("POST", base+path, bytes.NewReader(b))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("X-CSRF-Token", s.CSRF)
		req.Header.Set("X-Reviewer", who)
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Fatalf("POST %s %v: %s", path, body, res.Status)
		}
	}
	post("api/decide", "ann", map[string]any{"id": "a:1", "kind": "reject", "reason": "wrong answer"})
	post("api/decide", "bob", map[string]any{"id": "a:2", "kind": "edit", "edits": map[string]string{"output": "two"}})
	post("api/decide", "ann", map[string]any{"id": "a:3", "kind": "accept"})
	cmd.Process.Kill() // SIGKILL: no shutdown, no close of the store
	cmd.Wait()

	out, err := cli(dir, nil, "export", run, "--format", "alpaca", "--out", "-").Output()
	if err != nil {
		t.Fatal(err)
	}
	var lines []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		var m map[string]any
		json.Unmarshal([]byte(l), &m)
		lines = append(lines, m)
	}
	if len(lines) != 7 {
		t.Fatalf("exported %d records, want 7 (a:1 rejected by ann): %s", len(lines), out)
	}
	if lines[1]["output"] != "two" {
		t.Errorf("a:2 exported as %v, want bob's edit", lines[1])
	}
	status, err := cli(dir, nil, "status", run).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, status)
	}
	for _, want := range []string{"review of a: 3 of 8 records reviewed (ann 2, bob 1); sample of 4", "agreement ann vs pipeline"} {
		if !strings.Contains(string(status), want) {
			t.Errorf("status lacks %q:\n%s", want, status)
		}
	}
}

// TestJudgeCalibrateFromReview calibrates a judge against the decisions of a
// review: the scripted judge scores answers by the quality written in them,
// the reviewer accepted quality 3, edited 2 and rejected 1, so they rank alike.
func TestJudgeCalibrateFromReview(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pipe := qualityJudge(t, dir)
	run := filepath.Join(dir, "run")
	st, err := store.Open(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	var recs []*record.Record
	qualities := []int{1, 3, 2, 3, 1, 2, 3}
	for i, q := range qualities {
		recs = append(recs, &record.Record{ID: fmt.Sprintf("a:%d", i), Seq: int64(i), Status: record.Kept,
			Instruction: fmt.Sprintf("question %d", i), Output: fmt.Sprintf("an answer of quality %d", q)})
	}
	recs = append(recs, &record.Record{ID: "a:unreviewed", Seq: 99, Status: record.Kept, Instruction: "q", Output: "quality 5"})
	if err := st.Commit(ctx, pipeline.Unit{Stage: "a", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	for i, q := range qualities {
		rv := store.Review{RecordID: fmt.Sprintf("a:%d", i), Reviewer: "ann", Kind: []store.ReviewKind{store.Reject, store.Edit, store.Accept}[q-1], Reason: "bad"}
		if rv.Kind == store.Edit {
			rv.Edits = map[string]string{"output": "better"}
		}
		if _, err := st.AddReview(ctx, rv); err != nil {
			t.Fatal(err)
		}
	}
	st.Close()
	out, err := cli(dir, nil, "judge", "calibrate", "--from-review", run, "--models", pipe, "--judge-model", "judge", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("calibrate: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), `"scored":7`) || !strings.Contains(string(out), `"spearman":1`) {
		t.Errorf("calibration output %s: want 7 scored and Spearman 1", out)
	}
	if out, err := cli(dir, nil, "judge", "calibrate", "x.jsonl", "--from-review", run, "--models", pipe, "--judge-model", "judge").CombinedOutput(); exitCode(err) != 2 {
		t.Errorf("labels and --from-review together: %v %s", err, out)
	}
}

// TestReviewLabelStudio exports a run's kept records as Label Studio tasks
// and imports an annotated export of them as decisions.
func TestReviewLabelStudio(t *testing.T) {
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	st := commitRecords(t, run, "a", []*record.Record{{ID: "a:0", Status: record.Kept, Instruction: "Say hi.", Output: "hi"}, {ID: "a:1", Seq: 1, Status: record.Rejected, Output: "no"}})
	st.Close()
	tasks := filepath.Join(dir, "tasks.json")
	if out, err := cli(dir, nil, "review", run, "--export-labelstudio", tasks).CombinedOutput(); err != nil || !strings.Contains(string(out), "wrote 1 tasks of stage a") {
		t.Fatalf("export: %v %s", err, out)
	}
	b, _ := os.ReadFile(tasks)
	var got []map[string]any
	if err := json.Unmarshal(b, &got); err != nil || len(got) != 1 {
		t.Fatalf("tasks %s: %v", b, err)
	}
	if _, err := os.Stat(tasks + ".config.xml"); err != nil {
		t.Error(err)
	}
	annotated := filepath.Join(dir, "export.json")
	os.WriteFile(annotated, []byte(`[{"id": 1, "data": {"record_id": "a:0", "output": "hi"}, "annotations": [{"completed_by": 2,
		"result": [{"from_name": "verdict", "type": "choices", "value": {"choices": ["reject"]}}, {"from_name": "reason", "type": "choices", "value": {"choices": ["unsafe"]}}]}]}]`), 0o644)
	if out, err := cli(dir, nil, "review", run, "--import-labelstudio", annotated).CombinedOutput(); err != nil || !strings.Contains(string(out), "imported 1 decisions") {
		t.Fatalf("import: %v %s", err, out)
	}
	out, err := cli(dir, nil, "export", run, "--format", "openai", "--include-rejected", "--out", "-").Output()
	if err != nil || !strings.Contains(string(out), `"human: reject by labelstudio:2: unsafe"`) || strings.Contains(string(out), `"status":"kept"`) {
		t.Errorf("export after the imported reject: %v %s", err, out)
	}
}

// TestExportCandidatePairs: preferences reviewers gave between a reject
// record's candidates come out of `export --format dpo` as pairs, and not
// out of an SFT format.
func TestExportCandidatePairs(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	run := filepath.Join(dir, "run")
	st := commitRecords(t, run, "best", []*record.Record{{ID: "best:q", Status: record.Kept, Instruction: "Name a colour.", Output: "red",
		Candidates: []record.Candidate{{Text: "red"}, {Text: "blue, the colour of the sky"}}}})
	if _, err := st.AddReview(ctx, store.Review{RecordID: "best:q", Reviewer: "ann", Kind: store.Prefer, Reason: "1>0"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	out, err := cli(dir, nil, "export", run, "--format", "dpo", "--out", "-").Output()
	if err != nil {
		t.Fatalf("export dpo: %v", err)
	}
	if want := `{"prompt":"Name a colour.","chosen":"blue, the colour of the sky","rejected":"red"}` + "\n"; string(out) != want {
		t.Errorf("dpo export %s, want %s", out, want)
	}
	out, err = cli(dir, nil, "export", run, "--format", "alpaca", "--out", "-").Output()
	if err != nil || strings.Count(string(out), "\n") != 1 || !strings.Contains(string(out), `"output":"red"`) {
		t.Errorf("alpaca export: %v %s", err, out)
	}
}

// TestReviewLoopAnswers imports a loop run's student and teacher answers
// with --loop-answers (here with --export-labelstudio, which does not
// serve), and a reviewer's choice between them comes out of export --format
// dpo of the loop-answers run.
func TestReviewLoopAnswers(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	loop := filepath.Join(dir, "loop")
	if err := os.MkdirAll(filepath.Join(loop, "round-001"), 0o755); err != nil {
		t.Fatal(err)
	}
	eval := `{"prompt":"capital of Japan?","student":"Kyoto","teacher":"Tokyo","winner":"teacher"}` + "\n"
	if err := os.WriteFile(filepath.Join(loop, "round-001", "eval.jsonl"), []byte(eval), 0o644); err != nil {
		t.Fatal(err)
	}
	tasks := filepath.Join(dir, "tasks.json")
	out, err := cli(dir, nil, "review", loop, "--loop-answers", "--export-labelstudio", tasks).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "imported 1 new held-out answers") {
		t.Fatalf("review --loop-answers: %v %s", err, out)
	}
	run := filepath.Join(loop, "loop-answers")
	st, err := store.Open(ctx, run)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.AddReview(ctx, store.Review{RecordID: "loop-answers:round-001:0000", Reviewer: "ann", Kind: store.Prefer, Reason: "1>0"}); err != nil {
		t.Fatal(err)
	}
	st.Close()
	got, err := cli(dir, nil, "export", run, "--format", "dpo", "--out", "-").Output()
	if want := `{"prompt":"capital of Japan?","chosen":"Tokyo","rejected":"Kyoto"}` + "\n"; err != nil || string(got) != want {
		t.Errorf("export: %v %s, want %s", err, got, want)
	}
	// Again: nothing new to import, the answers already there.
	if out, err := cli(dir, nil, "review", loop, "--loop-answers", "--export-labelstudio", tasks).CombinedOutput(); err != nil || !strings.Contains(string(out), "imported 0 new held-out answers") {
		t.Errorf("second import: %v %s", err, out)
	}
	if out, err := cli(dir, nil, "review", dir, "--loop-answers", "--export-labelstudio", tasks).CombinedOutput(); err == nil || !strings.Contains(string(out), "no evaluated loop round") {
		t.Errorf("a directory that is no loop run: %v %s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "loop-answers")); err == nil {
		t.Error("a loop-answers run was made in a directory that is no loop run")
	}
}

// commitRecords writes recs as one unit of stage into the run store at run
// and returns the store, still open for reviews to be added; close it
// before a command opens the run.
func commitRecords(t *testing.T, run, stage string, recs []*record.Record) *store.Store {
	t.Helper()
	st, err := store.Open(context.Background(), run)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: stage, Key: "u", Records: recs}); err != nil {
		st.Close()
		t.Fatal(err)
	}
	return st
}
