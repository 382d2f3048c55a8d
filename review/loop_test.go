package review

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// writeRound writes a loop round's eval.jsonl under dir.
func writeRound(t *testing.T, dir, round, jsonl string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Join(dir, round), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, round, "eval.jsonl"), []byte(jsonl), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestImportLoopAnswers(t *testing.T) {
	ctx := context.Background()
	loop := t.TempDir()
	// The judge evaluator's rows, and the verifier's, with and without a teacher.
	writeRound(t, loop, "round-001", `{"prompt":"2+2?","student":"4","teacher":"four","winner":"tie","forward":"tie","backward":"tie"}
{"prompt":"3+3?","student":"","teacher":"6","winner":""}

{"prompt":"capital of Japan?","student":"Kyoto","teacher":"Tokyo","winner":"teacher"}
`)
	writeRound(t, loop, "round-002", `{"prompt":"12+9","answer":"21","student":"21","student_pass":true,"teacher":"20","teacher_pass":false}`+"\n")
	writeRound(t, loop, "round-003", `{"prompt":"12+9","answer":"21","student":"21","student_pass":true}`+"\n") // no teacher
	os.MkdirAll(filepath.Join(loop, "round-004"), 0o755)                                                        // not evaluated yet
	os.MkdirAll(filepath.Join(loop, "servers"), 0o755)

	st, err := store.Open(ctx, filepath.Join(loop, LoopAnswers))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	n, err := ImportLoopAnswers(ctx, st, loop)
	if err != nil || n != 3 {
		t.Fatalf("ImportLoopAnswers = %d, %v; want 3 records", n, err)
	}
	var got []*record.Record
	for r, err := range st.Records(ctx, LoopAnswers, "") {
		if err != nil {
			t.Fatal(err)
		}
		got = append(got, r)
	}
	if len(got) != 3 {
		t.Fatalf("%d records", len(got))
	}
	r := got[1]
	if r.ID != "loop-answers:round-001:0002" || r.Instruction != "capital of Japan?" || len(r.Candidates) != 2 ||
		r.Candidates[0].Text != "Kyoto" || r.Candidates[1].Text != "Tokyo" || r.Meta["evaluator_winner"] != "teacher" || r.Status != record.Kept {
		t.Errorf("round 1 record: %+v", r)
	}
	if r := got[2]; r.Meta["student_pass"] != true || r.Meta["teacher_pass"] != false || r.Meta["round"] != 2.0 {
		t.Errorf("round 2 record meta %v", r.Meta)
	}
	// Imported rounds are not imported again; a round evaluated since is.
	writeRound(t, loop, "round-004", `{"prompt":"1+1","student":"2","teacher":"2"}`+"\n")
	if n, err := ImportLoopAnswers(ctx, st, loop); err != nil || n != 1 {
		t.Errorf("second import = %d, %v; want the 1 new record", n, err)
	}
	// Reviewers' choices become pairs: the teacher's answer preferred.
	if _, err := st.AddReview(ctx, store.Review{RecordID: r.ID, Reviewer: "ann", Kind: store.Prefer, Reason: "1>0"}); err != nil {
		t.Fatal(err)
	}
	d, err := Load(ctx, st, LoopAnswers)
	if err != nil {
		t.Fatal(err)
	}
	if p := d.HumanPairs(r); len(p) != 1 || p[0].Chosen != "Tokyo" || p[0].Rejected != "Kyoto" {
		t.Errorf("pairs %+v", p)
	}

	writeRound(t, loop, "round-005", "{\"prompt\":\n")
	if _, err := ImportLoopAnswers(ctx, st, loop); err == nil || !strings.Contains(err.Error(), "round-005") {
		t.Errorf("a broken eval.jsonl: %v", err)
	}
}

func FuzzParseLoopAnswers(f *testing.F) {
	for _, s := range []string{`{"prompt":"p","student":"s","teacher":"t"}`, "\n\n", `{"student_pass":true}`, `[1]`, `{"prompt":1}`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		rows, err := ParseLoopAnswers(strings.NewReader(s))
		if err != nil && rows != nil {
			t.Errorf("ParseLoopAnswers(%q) = %d rows and %v", s, len(rows), err)
		}
	})
}
