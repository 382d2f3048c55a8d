package loopplug

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// The proposer prompt with reference problems (Absolute Zero conditions its
// proposer on a few problems from its buffer) is the references' prompts
// written one after another, then "=":
//
//	"21+43=" and "5+78=" → "21+43=5+78=="
//
// Every prompt of every lab task ends with "=" and contains no other, so
// the references split unambiguously, the prompt stays in the task's
// alphabet, and with no references it is ProposerPrompt, the bare "=".
func proposerPrompt(refs []task.Problem) string {
	var b strings.Builder
	for _, p := range refs {
		b.WriteString(p.Prompt)
	}
	b.WriteString(ProposerPrompt)
	return b.String()
}

// pickReferences draws n distinct problems of pool (fewer when it holds
// fewer; a problem pool holds several times is drawn that much more often) whose proposer prompt is at most limit characters (0: no limit),
// from rng.
func pickReferences(rng *rand.Rand, pool []task.Problem, n, limit int) []task.Problem {
	n = min(n, len(pool))
	out := make([]task.Problem, 0, n)
	used := map[string]bool{}
	size := len(ProposerPrompt)
	for tries := 0; len(out) < n && tries < 4*n; tries++ {
		i := rng.IntN(len(pool))
		if used[pool[i].Prompt] || limit > 0 && size+len(pool[i].Prompt) > limit {
			continue
		}
		used[pool[i].Prompt] = true
		size += len(pool[i].Prompt)
		out = append(out, pool[i])
	}
	return out
}

// lastKept returns the problems an earlier round of this run kept (its
// labels.jsonl lines with kept set, each once per wrong answer), from the latest round before r that
// kept any: the learnable edge the proposer follows. None is no error: the
// proposer then gets the bare prompt.
func lastKept(r *loop.Round) ([]task.Problem, int, error) {
	for i := r.Index - 1; i >= 1; i-- {
		ps, err := readKept(labelsOf(r, i))
		if err != nil {
			return nil, 0, err
		}
		if len(ps) > 0 {
			return ps, i, nil
		}
	}
	return nil, 0, nil
}

// readKept reads the kept problems of a lab-propose labels file; a missing
// file holds none.
func readKept(path string) ([]task.Problem, error) {
	ls, err := readKeptLines(path)
	if err != nil {
		return nil, err
	}
	var out []task.Problem
	for _, l := range ls {
		for range l.weight() {
			out = append(out, task.Problem{Prompt: l.Prompt, Difficulty: l.Difficulty})
		}
	}
	return out, nil
}

// readSolved reads the kept problems of a lab-propose labels file with
// the first of their answers t's verifier passes, each once per wrong
// answer (keptLine.weight); a kept problem with no such answer (the
// labelled round's, which have none) is left out, and a missing file
// holds none.
func readSolved(path string, t task.Task) ([]task.Problem, error) {
	ls, err := readKeptLines(path)
	if err != nil {
		return nil, err
	}
	var out []task.Problem
	for _, l := range ls {
		p := task.Problem{Prompt: l.Prompt, Difficulty: l.Difficulty}
		// The verifier, not the file's verdicts, says which answer is
		// right.
		right, _ := verdicts(t, p, l.Answers)
		if i := slices.Index(right, true); i >= 0 {
			p.Answer = l.Answers[i].Text
			for range l.weight() {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// keptLine is what readKeptLines reads of a kept proposal.
type keptLine struct {
	task.Problem
	From    string       `json:"from"`
	Answers []lab.Answer `json:"answers"`
	Right   []bool       `json:"right"`
	Kept    bool         `json:"kept"`
	Copies  int          `json:"copies"`
	Online  bool         `json:"online"`
	// Balanced: see proposal.Balanced.
	Balanced bool `json:"balanced"`
	// Expected: see proposal.Expected.
	Expected bool `json:"expected"`
	// EqualOnly: see proposal.EqualOnly.
	EqualOnly bool `json:"equal_only"`
	// verdict is an online proposal's answers and right ones over its
	// round's GRPO (resolveOnline); none when GRPO never drew it.
	verdict verdictLine
}

// onlineScale is the answers an online proposal's wrong ones are scaled
// to for its weight (copies): GRPO draws a prompt of a round's file a
// varying number of times, and 8 is the group it draws most often.
const onlineScale = 8

// resolveOnline sets Kept and Copies of the online proposals of ls (a
// labels file's lines, whose round directory is dir) from the round's
// verdicts: kept when GRPO's answers to it, summed over the prompt's
// lines, were some right and some wrong, weighted by its wrong answers
// scaled to onlineScale (or, Balanced, by 4p(1 − p) scaled to it;
// Expected, by its wrong answers scaled and rounded at random, which may
// come to none: expectedCopies). A
// round without verdicts (not trained yet) kept none.
func resolveOnline(ls []keptLine, dir string) error {
	if !slices.ContainsFunc(ls, func(l keptLine) bool { return l.Online }) {
		return nil
	}
	vs, err := readVerdicts(filepath.Join(dir, VerdictsFile))
	if err != nil {
		return err
	}
	for i := range ls {
		l := &ls[i]
		if !l.Online {
			continue
		}
		v := vs[l.Prompt]
		l.verdict = v
		l.Kept = v.Right > 0 && v.Right < v.Drawn
		switch {
		case l.Kept && l.Balanced:
			l.Copies = scaleBalanced(onlineScale, int(v.Drawn), int(v.Right))
		case l.Kept && l.Expected:
			l.Copies = expectedCopies(onlineScale, int(v.Drawn), int(v.Right), l.Prompt)
		case l.Kept:
			l.Copies = scaleWrong(onlineScale, int(v.Drawn), int(v.Right))
		}
	}
	return nil
}

// readVerdicts reads a VerdictsFile, summed by prompt; a missing file
// holds none.
func readVerdicts(path string) (map[string]verdictLine, error) {
	raw, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab-propose: %w", err)
	}
	out := map[string]verdictLine{}
	n := 0
	for line := range bytes.Lines(raw) {
		n++
		var v verdictLine
		if err := json.Unmarshal(line, &v); err != nil || v.Right < 0 || v.Right > v.Drawn {
			return nil, fmt.Errorf("lab-propose: %s:%d: not a verdict line {\"prompt\", \"drawn\", \"right\" ≤ drawn} (%v)", path, n, err)
		}
		s := out[v.Prompt]
		s.Prompt, s.Difficulty = v.Prompt, v.Difficulty
		s.Drawn += v.Drawn
		s.Right += v.Right
		out[v.Prompt] = s
	}
	return out, nil
}

// weight is how often a kept problem is drawn: in proportion to its wrong
// answers, as the proposer is rewarded (1 − solve rate), so the hardest
// problems the solver still solves sometimes are drawn most. A labelled
// problem, with no answers, counts once. A proposal that stopped drawing
// early (chunk) has its wrong answers scaled to k, which its line carries
// (copies), as the round that kept it wrote it.
func (l keptLine) weight() int {
	// An Expected line's copies may round to none, which means none.
	if l.Expected && l.Copies == 0 || l.EqualOnly && !equalOperands(l.Prompt) {
		return 0
	}
	if l.Copies > 0 {
		return l.Copies
	}
	wrong := 0
	for _, r := range l.Right {
		if !r {
			wrong++
		}
	}
	return max(wrong, 1)
}

// labelsOf is the labels file of round i of r's run: the loop names
// round directories round-NNN beside each other.
func labelsOf(r *loop.Round, i int) string {
	return filepath.Join(filepath.Dir(r.Dir), fmt.Sprintf("round-%03d", i), LabelsFile)
}

// readKeptLines reads the kept lines of a lab-propose labels file; a
// missing file holds none.
func readKeptLines(path string) ([]keptLine, error) {
	ls, err := readLabelLines(path)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(ls, func(l keptLine) bool { return !l.Kept }), nil
}

// readLabelLines reads every line of a lab-propose labels file, online
// proposals resolved by their round's verdicts; a missing file holds none.
func readLabelLines(path string) ([]keptLine, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("lab-propose: references: %w", err)
	}
	defer f.Close()
	var out []keptLine
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<24)
	for n := 1; sc.Scan(); n++ {
		var l keptLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			return nil, fmt.Errorf("lab-propose: references: %s:%d: %w", path, n, err)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("lab-propose: references: %s: %w", path, err)
	}
	return out, resolveOnline(out, filepath.Dir(path))
}

// hardest returns the share of pool with the highest difficulties (ties
// at the cut kept, so a pool of one difficulty stays whole), in pool's
// order; a share of 0 or 1 is the whole pool. pool holds a problem once per
// wrong answer, so the share counts draws, not problems.
func hardest(pool []task.Problem, share float64) []task.Problem {
	if share <= 0 || share >= 1 || len(pool) == 0 {
		return pool
	}
	ds := make([]int, len(pool))
	for i, p := range pool {
		ds[i] = p.Difficulty
	}
	slices.Sort(ds)
	cut := ds[len(ds)-max(1, int(share*float64(len(ds))))]
	var out []task.Problem
	for _, p := range pool {
		if p.Difficulty >= cut {
			out = append(out, p)
		}
	}
	return out
}
