package review

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// LoopAnswers is the run, inside a loop's run directory, that its rounds'
// student and teacher answers are imported into for review, and the stage
// they are imported as. The loop's own store is left alone: a new stage
// there would become the one `export` picks by default.
const LoopAnswers = "loop-answers"

// LoopAnswer is one row of a loop round's eval.jsonl (written by the
// judge and verifier evaluators) as far as review reads it.
type LoopAnswer struct {
	Prompt  string `json:"prompt"`
	Student string `json:"student"`
	Teacher string `json:"teacher"`
	// Winner is the judge evaluator's verdict ("student", "teacher", "tie").
	Winner string `json:"winner"`
	// StudentPass and TeacherPass are the verifier evaluator's results.
	StudentPass *bool `json:"student_pass"`
	TeacherPass *bool `json:"teacher_pass"`
}

// ParseLoopAnswers reads an eval.jsonl. Blank lines are skipped; a line
// that is not a JSON object is an error naming it.
func ParseLoopAnswers(r io.Reader) ([]LoopAnswer, error) {
	var out []LoopAnswer
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<16), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := sc.Bytes()
		if len(line) == 0 {
			continue
		}
		var a LoopAnswer
		if err := json.Unmarshal(line, &a); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
		out = append(out, a)
	}
	return out, sc.Err()
}

// Committer is where imported answers go; *store.Store is one.
type Committer interface {
	Commit(ctx context.Context, u pipeline.Unit) error
	DoneUnits(ctx context.Context, stage string) (map[string]bool, error)
}

var roundDir = regexp.MustCompile(`^round-(\d+)$`)

// ImportLoopAnswers commits the answers of every round of the loop run in
// loopDir that is not imported yet, one unit per round: for each held-out
// prompt that both models answered, a kept record whose candidates are the
// student's answer (0) and the teacher's (1), to compare as any two
// candidates are (Decisions.HumanPairs). A round evaluated without a
// teacher has nothing to compare and adds nothing. It returns the records
// added.
func ImportLoopAnswers(ctx context.Context, st Committer, loopDir string) (int, error) {
	entries, err := os.ReadDir(loopDir)
	if err != nil {
		return 0, fmt.Errorf("review: loop answers: %w", err)
	}
	done, err := st.DoneUnits(ctx, LoopAnswers)
	if err != nil {
		return 0, fmt.Errorf("review: loop answers: %w", err)
	}
	added := 0
	for _, e := range entries { // sorted by name: round by round
		m := roundDir.FindStringSubmatch(e.Name())
		if m == nil || !e.IsDir() || done[e.Name()] {
			continue
		}
		round, _ := strconv.Atoi(m[1])
		path := filepath.Join(loopDir, e.Name(), "eval.jsonl")
		f, err := os.Open(path)
		if errors.Is(err, os.ErrNotExist) {
			continue // a round that has not been evaluated (yet)
		}
		if err != nil {
			return added, fmt.Errorf("review: loop answers: %w", err)
		}
		rows, err := ParseLoopAnswers(f)
		f.Close()
		if err != nil {
			return added, fmt.Errorf("review: loop answers: %s: %w", path, err)
		}
		u := pipeline.Unit{Stage: LoopAnswers, Key: e.Name()}
		for i, a := range rows {
			if a.Student == "" || a.Teacher == "" {
				continue
			}
			meta := map[string]any{"round": round, "candidates": []string{"student", "teacher"}}
			if a.Winner != "" {
				meta["evaluator_winner"] = a.Winner
			}
			if a.StudentPass != nil && a.TeacherPass != nil {
				meta["student_pass"], meta["teacher_pass"] = *a.StudentPass, *a.TeacherPass
			}
			u.Records = append(u.Records, &record.Record{ID: fmt.Sprintf("%s:%s:%04d", LoopAnswers, e.Name(), i), Stage: LoopAnswers,
				Seq: int64(round)<<32 | int64(i), Status: record.Kept, Instruction: a.Prompt, Meta: meta,
				Candidates: []record.Candidate{{Text: a.Student}, {Text: a.Teacher}},
				Prov:       record.Provenance{Generator: "loop-eval", Stage: LoopAnswers, Round: round}})
		}
		if len(u.Records) == 0 {
			continue
		}
		if err := st.Commit(ctx, u); err != nil {
			return added, fmt.Errorf("review: loop answers: %w", err)
		}
		added += len(u.Records)
	}
	return added, nil
}
