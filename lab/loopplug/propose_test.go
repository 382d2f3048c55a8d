package loopplug_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/lab"
	"github.com/synthloop/synthloop/lab/loopplug"
	"github.com/synthloop/synthloop/lab/task"
	"github.com/synthloop/synthloop/loop"
)

// tinyProposeTrain trains and evaluates the proposer tests' small models.
const tinyProposeTrain = "train: {type: lab-train, with: {arch: {dim: 32, layers: 2, heads: 2, hidden: 64, max_seq: 32}, steps: 20, warmup: 1, lr: 3e-3, " +
	"first: {steps: 300, warmup: 10}}}\n" +
	"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2, 3], problems: 10}}\n"

// TestProposeRound trains a model to solve and to propose copy problems,
// then lets it propose: the round keeps only problems it solves sometimes
// but not always, writes their verified answers and proposer examples, and
// never trains on a held-out problem.
func TestProposeRound(t *testing.T) {
	y := "name: t\nrounds: 2\n" +
		"generate: {type: lab-propose, with: {task: copy, labels: {count: 300, from: 1, to: 3}, count: 300, proposer_temperature: 1.5, k: 4, temperature: 1.5}}\n" +
		tinyProposeTrain
	_, dir, sum := runLoop(t, y)
	m := sum.Rounds[1].Metrics
	for _, k := range []string{"gen_proposed_difficulty", "gen_kept_difficulty", "gen_learnable", "gen_malformed", "gen_pass_at_1"} {
		if _, ok := m[k]; !ok {
			t.Errorf("round 2 lacks %s: %v", k, m)
		}
	}
	if m["gen_learnable"] <= 0 || m["gen_learnable"] >= 1 {
		t.Fatalf("learnable share %g: the test needs some problems kept and some not", m["gen_learnable"])
	}
	held := map[string]bool{}
	for _, set := range lab.HeldOut(task.Copy{}, []int{1, 2, 3}, 10, loopplug.DefaultEvalSeed) {
		for _, p := range set {
			held[p.Prompt] = true
		}
	}
	f, err := os.Open(filepath.Join(dir, "round-002", loopplug.LabelsFile))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(nil, 1<<20)
	kept, wrong := 0, 0
	for sc.Scan() {
		var p struct {
			Prompt string `json:"prompt"`
			Right  []bool `json:"right"`
			Kept   bool   `json:"kept"`
		}
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		if held[p.Prompt] {
			t.Errorf("held-out problem %q was proposed and kept in the round's problems", p.Prompt)
		}
		right := 0
		for _, r := range p.Right {
			if r {
				right++
			}
		}
		if learnable := right > 0 && right < len(p.Right); learnable != p.Kept {
			t.Errorf("%q: %d of %d right, kept %v", p.Prompt, right, len(p.Right), p.Kept)
		}
		if p.Kept {
			kept++
			wrong += len(p.Right) - right
		}
	}
	if kept == 0 {
		t.Error("no problem kept")
	}
	data, err := os.ReadFile(filepath.Join(dir, "round-002", loopplug.DataFile))
	if err != nil {
		t.Fatal(err)
	}
	proposer := 0
	for _, line := range splitLines(data) {
		var l struct {
			Messages []struct{ Role, Content string } `json:"messages"`
		}
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatal(err)
		}
		if l.Messages[0].Content == loopplug.ProposerPrompt {
			proposer++
		}
	}
	if proposer != wrong {
		t.Errorf("%d proposer examples for %d kept problems with %d wrong answers: want one for each wrong answer", proposer, kept, wrong)
	}
}

func splitLines(b []byte) [][]byte {
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		out = append(out, append([]byte(nil), sc.Bytes()...))
	}
	return out
}

// TestProposeReferences runs three rounds with references: the labelled
// round's proposer examples show references of their problem's difficulty;
// every later proposer prompt shows problems the round before kept, and a
// kept problem's proposer examples repeat the prompt that proposed it. The
// answers the solver trains on are the teacher's own samples that the
// verifier accepts: proposals carry no answer, and nothing else could
// supply one.
func TestProposeReferences(t *testing.T) {
	y := "name: t\nrounds: 3\n" +
		"generate: {type: lab-propose, with: {task: reverse-addition, mixed_operands: true, labels: {count: 400, from: 1, to: 2}, count: 200, proposer_temperature: 1.5, k: 4, temperature: 1.5, references: 2}}\n" +
		tinyProposeTrain
	cfg, dir, sum := runLoop(t, y)
	t.Run("resume", func(t *testing.T) { proposeResume(t, cfg, dir, sum) })
	type line struct {
		Prompt     string `json:"prompt"`
		Answer     string `json:"answer"`
		Difficulty int    `json:"difficulty"`
		From       string `json:"from"`
		Answers    []lab.Answer
		Right      []bool
		Kept       bool
	}
	type conv struct {
		Messages []struct{ Role, Content string } `json:"messages"`
	}
	round := func(i int) string { return filepath.Join(dir, fmt.Sprintf("round-%03d", i)) }
	refsOf := func(prompt string) []string {
		body, ok := strings.CutSuffix(prompt, "==")
		if !ok {
			t.Fatalf("proposer prompt %q does not end with ==", prompt)
		}
		return strings.SplitAfter(body+"=", "=")[:strings.Count(body+"=", "=")]
	}
	// Round 1: references of the proposed problem's difficulty.
	difficulty := map[string]int{}
	for _, l := range readJSONL[line](t, filepath.Join(round(1), loopplug.LabelsFile)) {
		difficulty[l.Prompt] = l.Difficulty
		if !l.Kept || l.Answer == "" {
			t.Fatalf("round 1 labels line %+v: want a kept labelled problem", l)
		}
	}
	for _, c := range readJSONL[conv](t, filepath.Join(round(1), loopplug.DataFile)) {
		if p := c.Messages[0].Content; strings.HasSuffix(p, "==") {
			for _, ref := range refsOf(p) {
				if difficulty[ref] != difficulty[c.Messages[1].Content] {
					t.Errorf("round 1 proposer example %q → %q: reference of another difficulty", p, c.Messages[1].Content)
				}
			}
		}
	}
	for i := 2; i <= 3; i++ {
		m := sum.Rounds[i-1].Metrics
		if m["gen_reference_round"] != float64(i-1) || m["gen_reference_difficulty"] <= 0 {
			t.Errorf("round %d: references from round %g, difficulty %g", i, m["gen_reference_round"], m["gen_reference_difficulty"])
		}
		before := map[string]bool{}
		for _, l := range readJSONL[line](t, filepath.Join(round(i-1), loopplug.LabelsFile)) {
			if l.Kept {
				before[l.Prompt] = true
			}
		}
		from := map[string]string{}
		sampled := map[string]bool{}
		for _, l := range readJSONL[line](t, filepath.Join(round(i), loopplug.LabelsFile)) {
			if l.Answer != "" {
				t.Errorf("round %d: proposal %q came with an answer %q", i, l.Prompt, l.Answer)
			}
			for _, ref := range refsOf(l.From) {
				if !before[ref] {
					t.Errorf("round %d: reference %q was not kept in round %d", i, ref, i-1)
				}
			}
			from[l.Prompt] = l.From
			for j, a := range l.Answers {
				if l.Right[j] != (a.Stopped && (task.ReverseAddition{}).Verify(task.Problem{Prompt: l.Prompt}, a.Text)) {
					t.Errorf("round %d: %q answer %q marked %v, the verifier says otherwise", i, l.Prompt, a.Text, l.Right[j])
				}
				if l.Right[j] && l.Kept {
					sampled[l.Prompt+"\x00"+a.Text] = true
				}
			}
		}
		solver, proposer := 0, 0
		for _, c := range readJSONL[conv](t, filepath.Join(round(i), loopplug.DataFile)) {
			p, a := c.Messages[0].Content, c.Messages[1].Content
			if strings.HasSuffix(p, "==") || p == loopplug.ProposerPrompt {
				proposer++
				if from[a] != p {
					t.Errorf("round %d: proposer example %q → %q, proposed from %q", i, p, a, from[a])
				}
				continue
			}
			solver++
			if !sampled[p+"\x00"+a] {
				t.Errorf("round %d trains the solver on %q → %q, not a verified sample of a kept problem", i, p, a)
			}
		}
		t.Logf("round %d: %d solver and %d proposer examples; metrics %v", i, solver, proposer, m)
		if solver == 0 || proposer == 0 {
			t.Errorf("round %d: %d solver and %d proposer examples: the test needs both", i, solver, proposer)
		}
	}
}

// TestProposeArithExample runs examples/loop-lab-propose-arith.yaml at test
// size, its baseline too: the proposer rounds show references and record
// their difficulty; the baseline draws uniformly over its range with
// lab-rft from the shared first round. Its round 1 model (as
// TestProposeGRPOExample's) is large enough to answer some held-out problems
// on every kernel set: a round 2 only proposes once round 1 was promoted, and
// a smaller one scored 2 of 30 on AVX2 and 0 on AVX-512.
func TestProposeArithExample(t *testing.T) {
	cfg := shrinkWith(t, "loop-lab-propose-arith.yaml", `
rounds: 2
generate: {with: {labels: {count: 400, from: 1, to: 2}, count: 120, k: 4}}
train: {with: {arch: {dim: 64, layers: 2, heads: 4, hidden: 128, max_seq: 32}, first: {steps: 2000, lr: 3e-3, warmup: 100}, steps: 20, warmup: 2}}
evaluate: {with: {difficulties: [1, 2, 3], problems: 10}}
baseline: {generate: {to: 3, count: 60}}
`)
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	logRounds(t, sum)
	if r := sum.Rounds[1]; r.Generated != 120 || r.Metrics["gen_reference_round"] != 1 || r.Metrics["gen_proposed_difficulty"] <= 0 {
		t.Errorf("round 2 (proposals) = %+v", r)
	}
	// Difficulty by both operands: the share with equal lengths, the
	// length of the shorter.
	for _, k := range []string{"gen_proposed_equal", "gen_proposed_shorter", "gen_kept_equal", "gen_kept_shorter"} {
		if v, ok := sum.Rounds[1].Metrics[k]; !ok || v < 0 {
			t.Errorf("round 2: metric %s = %g, %v", k, v, ok)
		}
	}
	if v := sum.Rounds[1].Metrics["gen_proposed_shorter"]; v < 1 {
		t.Errorf("round 2: the shorter operand averages %g digits; every operand has one at least", v)
	}
	if sum.Baseline == nil || len(sum.Baseline.Rounds) != 2 || !sum.Baseline.Rounds[0].Shared {
		t.Fatalf("baseline = %+v", sum.Baseline)
	}
	b := sum.Baseline.Rounds[1]
	if b.Generated != 60*4 || b.Metrics["gen_from"] != 1 || b.Metrics["gen_to"] != 3 {
		t.Errorf("baseline round 2 (uniform RFT) = %+v", b)
	}
}

// proposeResume stops cfg while round 3 proposes, shown round 2's kept
// problems, and runs it again: the rounds, their data and their labels come
// out as in the uninterrupted run in refDir.
func proposeResume(t *testing.T, cfg *loop.Config, refDir string, ref *loop.Summary) {
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stopped := false
	_, err := loop.Run(ctx, cfg, loop.Options{RunDir: dir, Progress: func(e loop.Event) {
		if e.Round == 3 && e.Step == "generate" && e.Note == "proposing" && e.Done > 0 && !stopped {
			stopped = true
			cancel()
		}
	}})
	if !errors.Is(err, loop.ErrStopped) || !stopped {
		t.Fatalf("stopped %v with %v; want a clean stop while round 3 proposes", stopped, err)
	}
	got, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	for i := range ref.Rounds {
		if a, b := comparable(ref.Rounds[i]), comparable(got.Rounds[i]); !reflect.DeepEqual(a, b) {
			t.Errorf("round %d differs after the resume:\n got %+v\nwant %+v", i+1, b, a)
		}
	}
	sameFiles(t, filepath.Join(refDir, "round-003"), filepath.Join(dir, "round-003"), loopplug.DataFile, loopplug.LabelsFile)
}

// TestProposeTrainSolved: with train_solved the solver also trains on the
// verified answers of proposals solved every time, and still on nothing
// the verifier rejected; only the learnable ones are kept.
func TestProposeTrainSolved(t *testing.T) {
	y := "name: t\nrounds: 2\n" +
		"generate: {type: lab-propose, with: {task: copy, labels: {count: 300, from: 1, to: 3}, count: 300, proposer_temperature: 1.5, k: 4, temperature: 0.3, train_solved: true}}\n" +
		strings.Replace(tinyProposeTrain, "first: {steps: 300, warmup: 10}", "first: {steps: 800, warmup: 40}", 1)
	_, dir, _ := runLoop(t, y)
	type line struct {
		Prompt  string
		Answers []lab.Answer
		Right   []bool
		Kept    bool
	}
	right := map[string]bool{}
	solvedAlways := 0
	for _, l := range readJSONL[line](t, filepath.Join(dir, "round-002", loopplug.LabelsFile)) {
		n := 0
		for j, a := range l.Answers {
			if l.Right[j] {
				right[l.Prompt+"\x00"+a.Text] = true
				n++
			}
		}
		if n == len(l.Right) {
			solvedAlways++
			if l.Kept {
				t.Errorf("%q solved every time was kept", l.Prompt)
			}
		}
	}
	solver := map[string]bool{}
	for _, c := range readJSONL[struct {
		Messages []struct{ Content string } `json:"messages"`
	}](t, filepath.Join(dir, "round-002", loopplug.DataFile)) {
		p, a := c.Messages[0].Content, c.Messages[1].Content
		if p == loopplug.ProposerPrompt {
			continue
		}
		if !right[p+"\x00"+a] {
			t.Errorf("the solver trains on %q → %q, which the verifier did not accept", p, a)
		}
		solver[p+"\x00"+a] = true
	}
	if solvedAlways == 0 || len(solver) != len(right) {
		t.Errorf("%d problems solved every time; %d solver examples for %d distinct verified answers: want one each", solvedAlways, len(solver), len(right))
	}
}

// TestProposerEqual: with proposer_equal the labelled round's solver trains
// on every label, while its proposer examples, their references and the
// next round's references are the labels of equal operand lengths only.
func TestProposerEqual(t *testing.T) {
	y := "name: t\nrounds: 1\n" +
		"generate: {type: lab-propose, with: {task: reverse-addition, mixed_operands: true, proposer_equal: true, labels: {count: 400, from: 1, to: 2}, count: 20, proposer_temperature: 1, k: 2, temperature: 1, references: 2}}\n" +
		tinyProposeTrain
	_, dir, _ := runLoop(t, y)
	round := filepath.Join(dir, "round-001")
	type line struct {
		Prompt string `json:"prompt"`
		Kept   bool   `json:"kept"`
	}
	unequal := 0
	for _, l := range readJSONL[line](t, filepath.Join(round, loopplug.LabelsFile)) {
		if l.Kept != equal(l.Prompt) {
			t.Errorf("label %q kept %v", l.Prompt, l.Kept)
		}
		if !equal(l.Prompt) {
			unequal++
		}
	}
	type conv struct {
		Messages []struct{ Role, Content string } `json:"messages"`
	}
	solver, proposer := 0, 0
	for _, c := range readJSONL[conv](t, filepath.Join(round, loopplug.DataFile)) {
		p := c.Messages[0].Content
		if !strings.HasSuffix(p, "==") && p != loopplug.ProposerPrompt {
			solver++
			continue
		}
		proposer++
		for _, ref := range strings.SplitAfter(strings.TrimSuffix(p, "="), "=") {
			if ref != "" && !equal(ref) {
				t.Errorf("proposer example %q shows %q, of unequal operands", p, ref)
			}
		}
		if !equal(c.Messages[1].Content) {
			t.Errorf("proposer example %q → %q, of unequal operands", p, c.Messages[1].Content)
		}
	}
	if solver != 400 || proposer == 0 || unequal == 0 {
		t.Errorf("%d solver examples (want 400, unequal ones too: %d), %d proposer examples", solver, unequal, proposer)
	}
}

// TestProposeGRPOExample runs examples/loop-lab-propose-grpo.yaml at test
// size, its baseline too. The proposer rounds hand GRPO their kept problems
// without answers, each once per wrong answer, and their proposer examples;
// whether a problem is kept is the verifier's verdict on the teacher's own
// samples; no answer reaches the trainer, which rewards its own samples
// with the verifier. The baseline runs GRPO on a uniform range.
func TestProposeGRPOExample(t *testing.T) {
	cfg := shrinkWith(t, "loop-lab-propose-grpo.yaml", `
rounds: 3
generate: {with: {labels: {count: 400, from: 1, to: 2}, count: 120, k: 4, chunk: 2, temperature: 1.5}}
train: {with: {arch: {dim: 64, layers: 2, heads: 4, hidden: 128, max_seq: 32}, first: {steps: 2000, lr: 3e-3, warmup: 100, until: 0}, steps: 6, batch: 8, warmup: 1,
  grpo: {group: 4, replay: 8, reuse: 8}}}
evaluate: {with: {difficulties: [1, 2, 3], problems: 10}}
baseline: {generate: {to: 3, count: 60}}
`)
	const k = 4
	dir, sum := runConfig(t, cfg)
	type label struct {
		task.Problem
		From    string
		Answers []lab.Answer
		Right   []bool
		Kept    bool
		Copies  int
	}
	type line struct {
		Prompt     string `json:"prompt"`
		Difficulty int    `json:"difficulty"`
		Answer     string `json:"answer"`
		Messages   []struct{ Role, Content string }
	}
	held := map[string]bool{}
	for _, set := range lab.HeldOut(task.ReverseAddition{}, []int{1, 2, 3}, 10, loopplug.DefaultEvalSeed) {
		for _, p := range set {
			held[p.Prompt] = true
		}
	}
	keptBefore := map[string]bool{} // kept by a round after the labelled one, before this one
	for i := 2; i <= 3; i++ {
		round := filepath.Join(dir, fmt.Sprintf("round-%03d", i))
		wantPrompts, wantProposer := map[string]int{}, map[string]int{}
		for _, l := range readJSONL[label](t, filepath.Join(round, loopplug.LabelsFile)) {
			if l.Answer != "" || held[l.Prompt] {
				t.Errorf("round %d: proposal %+v has an answer or is held out", i, l.Problem)
			}
			right := 0
			for j, a := range l.Answers {
				ok := a.Stopped && (task.ReverseAddition{}).Verify(task.Problem{Prompt: l.Prompt}, a.Text)
				if l.Right[j] != ok {
					t.Errorf("round %d: %q answer %q marked %v, the verifier says otherwise", i, l.Prompt, a.Text, l.Right[j])
				}
				if ok {
					right++
				}
			}
			if learnable := right > 0 && right < len(l.Right); learnable != l.Kept {
				t.Errorf("round %d: %q %d of %d right, kept %v", i, l.Prompt, right, len(l.Right), l.Kept)
			}
			if len(l.Right) < k && !(right > 0 && right < len(l.Right)) || len(l.Right) > k {
				t.Errorf("round %d: %q has %d answers, %d right: want %d, or fewer once it has a right and a wrong one", i, l.Prompt, len(l.Right), right, k)
			}
			if l.Kept {
				// Once per wrong answer of k; a proposal that stopped
				// early (chunk) scales its wrong answers to k.
				n := max(1, int(math.Round(float64(k*(len(l.Right)-right))/float64(len(l.Right)))))
				wantPrompts[l.Prompt] += n
				wantProposer[l.From+"\x00"+l.Prompt] += n
				if l.Copies != n {
					// Later rounds' references and earlier_prompts draw it this often.
					t.Errorf("round %d: %q kept with copies %d, want %d", i, l.Prompt, l.Copies, n)
				}
			}
		}
		gotPrompts, gotProposer := map[string]int{}, map[string]int{}
		for _, l := range readJSONL[line](t, filepath.Join(round, loopplug.DataFile)) {
			switch {
			case l.Answer != "":
				t.Errorf("round %d: the prompts file carries an answer: %+v", i, l)
			case l.Messages != nil:
				gotProposer[l.Messages[0].Content+"\x00"+l.Messages[1].Content]++
			default:
				gotPrompts[l.Prompt]++
			}
		}
		if len(wantPrompts) == 0 {
			t.Fatalf("round %d kept nothing: the test needs kept problems", i)
		}
		// earlier_prompts adds problems earlier rounds kept, beside the
		// round's own.
		m := sum.Rounds[i-1].Metrics
		extra := 0
		for p, n := range gotPrompts {
			if more := n - wantPrompts[p]; more > 0 {
				if !keptBefore[p] {
					t.Errorf("round %d: %q is a prompt %d times more than the round kept it, and no earlier round kept it", i, p, more)
				}
				if gotPrompts[p] -= more; gotPrompts[p] == 0 {
					delete(gotPrompts, p)
				}
				extra += more
			}
		}
		if m["gen_earlier_prompts"] != float64(extra) {
			t.Errorf("round %d: %d prompts from earlier rounds, metric %g", i, extra, m["gen_earlier_prompts"])
		}
		if !reflect.DeepEqual(gotPrompts, wantPrompts) || !reflect.DeepEqual(gotProposer, wantProposer) {
			t.Errorf("round %d: prompts %v and proposer examples %v; want each kept problem once per wrong answer: %v, %v",
				i, gotPrompts, gotProposer, wantPrompts, wantProposer)
		}
		n := extra
		for _, c := range wantPrompts {
			n += c
		}
		if m["train_prompts"] != float64(n) || m["train_reward_first"] <= 0 || m["gen_reference_round"] != float64(i-1) {
			t.Errorf("round %d: GRPO on %g prompts (want %d), reward %g, references from round %g", i, m["train_prompts"], n, m["train_reward_first"], m["gen_reference_round"])
		}
		for p := range wantPrompts {
			keptBefore[p] = true
		}
	}
	if sum.Baseline == nil || len(sum.Baseline.Rounds) != 3 || !sum.Baseline.Rounds[0].Shared {
		t.Fatalf("baseline = %+v", sum.Baseline)
	}
	if b := sum.Baseline.Rounds[1]; b.Generated != 60 || b.Metrics["gen_from"] != 1 || b.Metrics["gen_to"] != 3 || b.Metrics["train_prompts"] != 60 {
		t.Errorf("baseline round 2 (GRPO on a uniform range) = %+v", b)
	}
}

// TestProposeChunk answers the same proposals all at once and 2 at a time:
// the chunked round keeps exactly the same problems, each proposal's
// answers are the first of those drawn at once, a proposal stops drawing
// only once it has a right and a wrong answer, and a kept problem's
// prompts number K × wrong / drawn, rounded.
func TestProposeChunk(t *testing.T) {
	const k = 8
	run := func(chunk int) (string, *loop.Summary) {
		y := fmt.Sprintf("name: t\nrounds: 2\n"+
			"generate: {type: lab-propose, with: {task: reverse-addition, mixed_operands: true, labels: {count: 400, from: 1, to: 3}, count: 400, proposer_temperature: 1.5, k: %d, chunk: %d, temperature: 1.5, prompts: true, train_proposer: false}}\n"+
			"train: {type: lab-train, with: {arch: {dim: 32, layers: 2, heads: 2, hidden: 64, max_seq: 32}, steps: 2, batch: 4, warmup: 1, lr: 3e-3, grpo: {group: 2}, first: {steps: 300, batch: 32, warmup: 10}}}\n"+
			"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2, 3], problems: 10}}\n", k, chunk)
		_, dir, sum := runLoop(t, y)
		return dir, sum
	}
	type label struct {
		task.Problem
		Answers []lab.Answer
		Right   []bool
		Kept    bool
	}
	fullDir, _ := run(0)
	partDir, _ := run(2)
	full := readJSONL[label](t, filepath.Join(fullDir, "round-002", loopplug.LabelsFile))
	part := readJSONL[label](t, filepath.Join(partDir, "round-002", loopplug.LabelsFile))
	if len(full) != len(part) {
		t.Fatalf("%d proposals at once, %d in chunks: the proposals must not depend on the answering", len(full), len(part))
	}
	want := map[string]int{}
	drawn, kept := 0, 0
	for i, f := range full {
		p := part[i]
		drawn += len(p.Answers)
		if p.Prompt != f.Prompt || p.Kept != f.Kept || len(p.Answers) > k || !reflect.DeepEqual(p.Answers, f.Answers[:len(p.Answers)]) {
			t.Fatalf("proposal %d: in chunks %+v, at once %+v: want the first answers of those drawn at once, and the same verdict", i, p, f)
		}
		right := 0
		for _, r := range p.Right {
			if r {
				right++
			}
		}
		if decided := right > 0 && right < len(p.Right); len(p.Answers) < k && !decided {
			t.Errorf("%q stopped after %d answers, %d right: undecided", p.Prompt, len(p.Answers), right)
		}
		if p.Kept {
			kept++
			want[p.Prompt] = max(1, int(math.Round(float64(k*(len(p.Right)-right))/float64(len(p.Right)))))
		}
	}
	if kept == 0 || drawn == len(full)*k {
		t.Fatalf("%d kept, %d of %d answers drawn: the test needs kept problems and some that stop early", kept, drawn, len(full)*k)
	}
	got := map[string]int{}
	for _, l := range readJSONL[struct{ Prompt string }](t, filepath.Join(partDir, "round-002", loopplug.DataFile)) {
		got[l.Prompt]++
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("prompts %v, want %v", got, want)
	}
	t.Logf("%d proposals, %d kept; %d of %d answers drawn", len(full), kept, drawn, len(full)*k)
}

// TestProposeEarlierPrompts: with earlier_prompts: 0.5 half of round 3's
// GRPO prompts are problems round 2 kept; the other half are round 3's own
// kept problems, once per wrong answer, as without it.
func TestProposeEarlierPrompts(t *testing.T) {
	y := "name: t\nrounds: 3\n" +
		"generate: {type: lab-propose, with: {task: reverse-addition, mixed_operands: true, labels: {count: 400, from: 1, to: 3}, count: 300, proposer_temperature: 1.5, k: 8, temperature: 1.5, prompts: true, train_proposer: false, earlier_prompts: 0.5}}\n" +
		"train: {type: lab-train, with: {arch: {dim: 32, layers: 2, heads: 2, hidden: 64, max_seq: 32}, steps: 2, batch: 4, warmup: 1, lr: 3e-3, grpo: {group: 2}, first: {steps: 300, batch: 32, warmup: 10}}}\n" +
		"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2, 3], problems: 10}}\n"
	_, dir, sum := runLoop(t, y)
	type label struct {
		task.Problem
		Right []bool
		Kept  bool
	}
	kept := func(round int) map[string]int {
		out := map[string]int{}
		for _, l := range readJSONL[label](t, filepath.Join(dir, fmt.Sprintf("round-%03d", round), loopplug.LabelsFile)) {
			if l.Kept {
				for _, r := range l.Right {
					if !r {
						out[l.Prompt]++
					}
				}
			}
		}
		return out
	}
	before, own := kept(2), kept(3)
	if len(before) == 0 || len(own) == 0 {
		t.Fatalf("rounds 2 and 3 kept %d and %d problems: the test needs some in both", len(before), len(own))
	}
	got := map[string]int{}
	lines := 0
	for _, l := range readJSONL[struct{ Prompt string }](t, filepath.Join(dir, "round-003", loopplug.DataFile)) {
		got[l.Prompt]++
		lines++
	}
	fresh := 0
	for p, n := range own {
		fresh += n
		got[p] -= n
		if got[p] < 0 {
			t.Errorf("%q kept in round 3 with %d wrong answers is a prompt %d times", p, n, got[p]+n)
		}
	}
	for p, n := range got {
		if n > 0 && before[p] == 0 {
			t.Errorf("%q is a prompt %d times more than round 3's own copies, and round 2 did not keep it", p, n)
		}
	}
	if m := sum.Rounds[2].Metrics["gen_earlier_prompts"]; lines-fresh != fresh || m != float64(fresh) {
		t.Errorf("%d prompts from earlier rounds (metric %g) beside %d of round 3's own: want as many", lines-fresh, m, fresh)
	}
}

// TestProposeEarlierAnswers: with earlier_answers: 0.5 round 3's worked
// examples are half proposer examples, as without it, and half verified
// answers to problems round 2 kept; an answer is one round 2's teacher
// sampled and the verifier passes, never a label. Round 2, with no earlier
// proposing round, adds none. A run stopped while round 3 proposes and
// resumed writes the same round 3.
func TestProposeEarlierAnswers(t *testing.T) {
	y := "name: t\nrounds: 3\n" +
		"generate: {type: lab-propose, with: {task: reverse-addition, mixed_operands: true, labels: {count: 400, from: 1, to: 3}, count: 300, proposer_temperature: 1.5, k: 8, chunk: 4, temperature: 1.5, prompts: true, train_proposer: true, earlier_answers: 0.5}}\n" +
		"train: {type: lab-train, with: {arch: {dim: 32, layers: 2, heads: 2, hidden: 64, max_seq: 32}, steps: 2, batch: 4, warmup: 1, lr: 3e-3, grpo: {group: 2, sft: 1, replay: 4}, first: {steps: 300, batch: 32, warmup: 10}}}\n" +
		"evaluate: {type: lab-accuracy, with: {difficulties: [1, 2, 3], problems: 10}}\n"
	cfg, dir, sum := runLoop(t, y)
	type label struct {
		task.Problem
		Answers []lab.Answer
		Kept    bool
	}
	kept := map[string]bool{}
	for _, l := range readJSONL[label](t, filepath.Join(dir, "round-002", loopplug.LabelsFile)) {
		if l.Kept {
			kept[l.Prompt] = true
		}
	}
	type line struct {
		Prompt   string
		Messages []struct{ Role, Content string }
	}
	worked := func(round int) (proposer, solver int) {
		for _, l := range readJSONL[line](t, filepath.Join(dir, fmt.Sprintf("round-%03d", round), loopplug.DataFile)) {
			if l.Messages == nil {
				continue
			}
			q, a := l.Messages[0].Content, l.Messages[1].Content
			if strings.HasSuffix(q, "==") || q == loopplug.ProposerPrompt {
				proposer++
				continue
			}
			solver++
			if round == 2 || !kept[q] {
				t.Errorf("round %d: worked example %q → %q: want only answers to problems round 2 kept", round, q, a)
			}
			if !(task.ReverseAddition{}).Verify(task.Problem{Prompt: q}, a) {
				t.Errorf("round %d: worked example %q → %q is wrong", round, q, a)
			}
		}
		return proposer, solver
	}
	if p, s := worked(2); p == 0 || s != 0 || sum.Rounds[1].Metrics["gen_earlier_answers"] != 0 {
		t.Errorf("round 2: %d proposer examples, %d earlier answers (metric %g): want some and none", p, s, sum.Rounds[1].Metrics["gen_earlier_answers"])
	}
	p, s := worked(3)
	if len(kept) == 0 || p == 0 || s != p || sum.Rounds[2].Metrics["gen_earlier_answers"] != float64(s) {
		t.Errorf("round 3: %d proposer examples, %d earlier answers (metric %g), round 2 kept %d: want as many answers as proposer examples",
			p, s, sum.Rounds[2].Metrics["gen_earlier_answers"], len(kept))
	}
	proposeResume(t, cfg, dir, sum)
}

// tinyOnline shrinks an online proposer example to test size: rounds
// rounds, GRPO steps a round, more generate settings (YAML flow keys).
func tinyOnline(rounds, steps int, generate string) string {
	if generate != "" {
		generate = ", " + generate
	}
	return fmt.Sprintf(`
rounds: %d
generate: {with: {labels: {count: 400, from: 1, to: 2}, count: 120, temperature: 1.5%s}}
train: {with: {arch: {dim: 64, layers: 2, heads: 4, hidden: 128, max_seq: 32}, first: {steps: 2000, lr: 3e-3, warmup: 100, until: 0}, steps: %d, batch: 8, warmup: 1,
  grpo: {group: 4, replay: 8, reuse: 8}}}
evaluate: {with: {difficulties: [1, 2, 3], problems: 10}}
baseline: null
`, rounds, generate, steps)
}

// verdict is a line of a round's VerdictsFile.
type verdict struct {
	Prompt       string
	Drawn, Right int
}

// verdictSums reads the verdicts of the GRPO round in dir, summed by prompt.
func verdictSums(t *testing.T, dir string) map[string]verdict {
	t.Helper()
	sums := map[string]verdict{}
	for _, v := range readJSONL[verdict](t, filepath.Join(dir, loopplug.VerdictsFile)) {
		s := sums[v.Prompt]
		s.Drawn += v.Drawn
		s.Right += v.Right
		sums[v.Prompt] = s
	}
	return sums
}

// TestProposeOnline runs the GRPO proposer example with online: each
// round's proposals go to GRPO unanswered, once each (plus problems
// earlier rounds kept); GRPO's verdicts, recorded for every prompt, decide
// which were learnable; and the next round trains the proposer on exactly
// those, once per wrong answer scaled to 8 (learnable_weight balanced: 8 ×
// 4p(1 − p) times for solve rate p), shows them as references and reports
// their share; a run stopped while round 3 proposes resumes to the same
// rounds.
func TestProposeOnline(t *testing.T) {
	for _, weight := range []string{"wrong", "balanced", "expected"} {
		t.Run(weight, func(t *testing.T) {
			cfg := shrinkWith(t, "loop-lab-propose-grpo.yaml", tinyOnline(4, 6, "k: 4, chunk: 0, online: true, learnable_weight: "+weight))
			dir, sum := runConfig(t, cfg)
			type label struct {
				task.Problem
				From     string
				Answers  []lab.Answer
				Kept     bool
				Online   bool
				Balanced bool
				Expected bool
			}
			type line struct {
				Prompt   string `json:"prompt"`
				Messages []struct{ Role, Content string }
			}
			keptBefore := map[string]bool{}
			fractional := 0             // learnable proposals whose expected weight was rounded
			var prevKept map[string]int // the round before's learnable proposals with a copy: proposer prompt + problem → copies
			prevOnline, prevLearnable := 0, 0
			for i := 2; i <= 4; i++ {
				round := filepath.Join(dir, fmt.Sprintf("round-%03d", i))
				proposals := map[string]bool{}
				from := map[string]string{}
				for _, l := range readJSONL[label](t, filepath.Join(round, loopplug.LabelsFile)) {
					if !l.Online || l.Balanced != (weight == "balanced") || l.Expected != (weight == "expected") || l.Kept || len(l.Answers) > 0 || l.Answer != "" {
						t.Errorf("round %d: proposal %+v: want online, unanswered, its verdicts in the round's file", i, l)
					}
					proposals[l.Prompt] = true
					from[l.Prompt] = l.From
				}
				gotPrompts, gotProposer := map[string]int{}, map[string]int{}
				for _, l := range readJSONL[line](t, filepath.Join(round, loopplug.DataFile)) {
					if l.Messages != nil {
						gotProposer[l.Messages[0].Content+"\x00"+l.Messages[1].Content]++
					} else {
						gotPrompts[l.Prompt]++
					}
				}
				for p := range proposals {
					if gotPrompts[p] < 1 {
						t.Errorf("round %d: proposal %q is no GRPO prompt", i, p)
					}
				}
				for p, n := range gotPrompts {
					if proposals[p] {
						n-- // its own line
					}
					if more := n; more > 0 && !keptBefore[p] {
						t.Errorf("round %d: %q is a prompt %d times more than proposed, and no earlier round kept it", i, p, more)
					}
				}
				if i > 2 && !reflect.DeepEqual(gotProposer, prevKept) {
					t.Errorf("round %d: proposer examples %v, want the round before's learnable proposals by their weight (%s): %v", i, gotProposer, weight, prevKept)
				}
				m := sum.Rounds[i-1].Metrics
				if i > 2 && m["gen_prev_learnable"] != float64(prevLearnable)/float64(prevOnline) {
					t.Errorf("round %d: prev_learnable %g, want %d of %d", i, m["gen_prev_learnable"], prevLearnable, prevOnline)
				}
				checkVerdicts(t, dir, i, 8, 4)
				// This round's learnable proposals, for the next round.
				sums := verdictSums(t, round)
				prevKept, prevOnline, prevLearnable = map[string]int{}, len(proposals), 0
				for p := range proposals {
					if v := sums[p]; v.Right > 0 && v.Right < v.Drawn {
						prevLearnable++
						copies := float64(8*(v.Drawn-v.Right)) / float64(v.Drawn)
						n := 0
						switch weight {
						case "balanced":
							n = max(1, int(math.Round(copies*4*float64(v.Right)/float64(v.Drawn))))
						case "expected":
							// Rounded up with the probability of its
							// fraction, the draw a hash of the prompt.
							h := fnv.New64a()
							h.Write([]byte(p))
							n = int(copies)
							if frac := copies - float64(n); float64(h.Sum64()>>11)/(1<<53) < frac {
								n++
							}
							if copies != float64(int(copies)) {
								fractional++
							}
						default:
							n = max(1, int(math.Round(copies)))
						}
						if n > 0 {
							prevKept[from[p]+"\x00"+p] = n
							keptBefore[p] = true
						}
					}
				}

				if i < 4 && len(prevKept) == 0 {
					t.Fatalf("round %d: GRPO found no proposal learnable: the test needs some", i)
				}
			}
			if weight == "expected" && fractional == 0 {
				t.Error("no learnable proposal had a fractional weight: the test did not reach the rounding")
			}
			// Round 3, stopped and resumed, reads round 2's verdicts as the
			// uninterrupted run did.
			proposeResume(t, cfg, dir, sum)
		})
	}
}

// TestProposeReward runs the Absolute Zero proposer example
// (proposer_reward: learnability) at test size: round 3's prompts file
// holds, for every proposal of round 2 that GRPO drew and none other, the
// proposer prompt it was sampled from and the proposal, rewarded 1 − solve
// rate by round 2's verdicts when learnable and 0 otherwise (round 2's
// file, after the labelled round, holds none); round 3's GRPO trains each
// once over its steps with those rewards (train.log); and a run stopped
// while round 3 proposes and again in the middle of its GRPO resumes to
// the same weights, log and verdicts.
func TestProposeReward(t *testing.T) {
	cfg := shrinkWith(t, "loop-lab-propose-azr.yaml", tinyOnline(3, 8, ""))
	dir, sum := runConfig(t, cfg)
	type label struct {
		task.Problem
		From   string
		Online bool
	}
	type line struct {
		Prompt   string `json:"prompt"`
		Messages []struct{ Role, Content string }
		Reward   *float64
	}
	scoredOf := func(round int) map[string]float64 {
		out := map[string]float64{}
		for _, l := range readJSONL[line](t, filepath.Join(dir, fmt.Sprintf("round-%03d", round), loopplug.DataFile)) {
			if l.Reward != nil {
				out[l.Messages[0].Content+"\x00"+l.Messages[1].Content] = *l.Reward
			}
		}
		return out
	}
	if got := scoredOf(2); len(got) != 0 {
		t.Errorf("round 2 has %d scored rollouts; the labelled round proposed nothing", len(got))
	}
	sums := verdictSums(t, filepath.Join(dir, "round-002"))
	want := map[string]float64{}
	learnable, total := 0, 0.0
	for _, l := range readJSONL[label](t, filepath.Join(dir, "round-002", loopplug.LabelsFile)) {
		v := sums[l.Prompt]
		if !l.Online || v.Drawn == 0 {
			continue // never drawn: no solve rate
		}
		r := 0.0
		if v.Right > 0 && v.Right < v.Drawn {
			r = 1 - float64(v.Right)/float64(v.Drawn)
			learnable++
		}
		want[l.From+"\x00"+l.Prompt] = r
		total += r
	}
	if learnable == 0 || learnable == len(want) {
		t.Fatalf("%d of round 2's %d drawn proposals learnable: the test needs both kinds", learnable, len(want))
	}
	got := scoredOf(3)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("round 3's scored rollouts %v, want round 2's drawn proposals rewarded by its verdicts: %v", got, want)
	}
	m := sum.Rounds[2].Metrics
	if m["gen_proposer_rollouts"] != float64(len(want)) || math.Abs(m["gen_proposer_reward_mean"]-total/float64(len(want))) > 1e-12 {
		t.Errorf("round 3: proposer_rollouts %g, proposer_reward_mean %g; want %d, %g", m["gen_proposer_rollouts"], m["gen_proposer_reward_mean"], len(want), total/float64(len(want)))
	}
	// Each once over the 8 steps, with its reward.
	rows, reward := 0, 0.0
	for _, st := range trainLog[struct {
		Scored       int
		ScoredReward float64 `json:"scored_reward"`
	}](t, dir, 3) {
		rows += st.Scored
		reward += st.ScoredReward
		if n := len(want); st.Scored < n/8 || st.Scored > (n+7)/8 {
			t.Errorf("round 3: a step trained %d scored rollouts, want %d of %d spread over 8 steps", st.Scored, n/8, n)
		}
	}
	if rows != len(want) || math.Abs(reward-total) > 1e-9 || m["train_scored"] != float64(len(want)) || m["train_scored_rows"] != float64(len(want)) {
		t.Errorf("round 3's GRPO trained %d scored rows of summed reward %g (metrics %g of %g); want each of the %d once, %g in all",
			rows, reward, m["train_scored_rows"], m["train_scored"], len(want), total)
	}
	if r2 := sum.Rounds[1].Metrics; r2["train_scored"] != 0 || r2["gen_proposer_rollouts"] != 0 {
		t.Errorf("round 2 trained scored rollouts: %v", r2)
	}
	proposeRewardResume(t, cfg, dir)
}

// proposeRewardResume stops a run of cfg while round 3 proposes, and
// again in the middle of round 3's GRPO (after step 5 of 8, its checkpoint
// at step 4), and checks that it resumes to round 3's data, weights, log
// and verdicts of the straight run in dir, byte for byte (but for CPU
// times).
func proposeRewardResume(t *testing.T, cfg *loop.Config, dir string) {
	t.Helper()
	killed := t.TempDir()
	for _, stop := range []func(e loop.Event) bool{
		func(e loop.Event) bool {
			return e.Round == 3 && e.Step == "generate" && e.Note == "proposing" && e.Done > 0
		},
		func(e loop.Event) bool { return e.Round == 3 && strings.HasPrefix(e.Note, "reward") && e.Done == 5 },
	} {
		ctx, cancel := context.WithCancel(context.Background())
		stopped := false
		_, err := loop.Run(ctx, cfg, loop.Options{RunDir: killed, Progress: func(e loop.Event) {
			if !stopped && stop(e) {
				stopped = true
				cancel()
			}
		}})
		cancel()
		if !stopped || err == nil {
			t.Fatalf("stopped %v with %v; want a stop in round 3", stopped, err)
		}
	}
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: killed}); err != nil {
		t.Fatal(err)
	}
	sameFiles(t, filepath.Join(dir, "round-003"), filepath.Join(killed, "round-003"), loopplug.DataFile, loopplug.LabelsFile, loopplug.VerdictsFile,
		filepath.Join("student", "model.safetensors"))
	cpu := regexp.MustCompile(`"(cpu_seconds|sample_cpu)":[0-9.e-]+`)
	log1, _ := os.ReadFile(filepath.Join(dir, "round-003", loopplug.TrainLog))
	log2, _ := os.ReadFile(filepath.Join(killed, "round-003", loopplug.TrainLog))
	if len(log1) == 0 || !bytes.Equal(cpu.ReplaceAll(log2, nil), cpu.ReplaceAll(log1, nil)) {
		t.Errorf("the resumed round 3's GRPO log differs:\n%s\nwant\n%s", log2, log1)
	}
}

// TestProposeEqualOperands runs the online example with equal_operands at
// test size: the round-1 proposer learned from labels of independent
// operand lengths and so writes unequal ones too, which are rejected and
// counted (off_shape > 0), and every proposal that reaches the round's
// labels and GRPO's prompts has two operands of one length; the counts
// add up to what was proposed.
func TestProposeEqualOperands(t *testing.T) {
	cfg := shrinkWith(t, "loop-lab-propose-grpo.yaml", tinyOnline(2, 4, "k: 4, chunk: 0, online: true, equal_operands: true"))
	dir, sum := runConfig(t, cfg)
	round := filepath.Join(dir, "round-002")
	type line struct {
		Prompt string `json:"prompt"`
	}
	labels := readJSONL[line](t, filepath.Join(round, loopplug.LabelsFile))
	for _, l := range labels {
		if !equal(l.Prompt) {
			t.Errorf("proposal %q: want two operands of one length", l.Prompt)
		}
	}
	for _, l := range readJSONL[line](t, filepath.Join(round, loopplug.DataFile)) {
		if l.Prompt != "" && !equal(l.Prompt) {
			t.Errorf("GRPO prompt %q: want two operands of one length", l.Prompt)
		}
	}
	m := sum.Rounds[1].Metrics
	raw := m["gen_proposed"]
	if m["gen_off_shape"] <= 0 || m["gen_proposed_equal"] != 1 {
		t.Errorf("off_shape %g, proposed_equal %g: want some proposals rejected for their shape, every one kept equal", m["gen_off_shape"], m["gen_proposed_equal"])
	}
	if got, want := float64(len(labels)), raw*(1-m["gen_malformed"]-m["gen_repeated"]-m["gen_off_shape"]); math.Abs(got-want) > 0.5 {
		t.Errorf("%d proposals in the labels file, want %g of %g after the malformed, repeated and off-shape ones", len(labels), want, raw)
	}
}

// TestProposeEqualReferences runs the online example with
// equal_references at test size: round 2's proposals reach GRPO whatever
// their shape (unequal ones among them), and round 3's references,
// proposer examples and earlier prompts are only problems with operands
// of one length.
func TestProposeEqualReferences(t *testing.T) {
	cfg := shrinkWith(t, "loop-lab-propose-grpo.yaml", tinyOnline(3, 4, "k: 4, chunk: 0, online: true, equal_references: true"))
	dir, _ := runConfig(t, cfg)
	unequal := 0
	round2 := filepath.Join(dir, "round-002")
	prompts2 := map[string]bool{}
	for _, l := range readJSONL[dataLine](t, filepath.Join(round2, loopplug.DataFile)) {
		prompts2[l.Prompt] = true
	}
	for _, l := range readJSONL[proposalLine](t, filepath.Join(round2, loopplug.LabelsFile)) {
		if !l.EqualOnly {
			t.Errorf("round 2 proposal %q: want equal_only set", l.Prompt)
		}
		if !equal(l.Prompt) {
			unequal++
			if !prompts2[l.Prompt] {
				t.Errorf("round 2 proposal %q, of unequal operands, is no GRPO prompt", l.Prompt)
			}
		}
	}
	round3 := filepath.Join(dir, "round-003")
	proposed3 := map[string]bool{}
	for _, l := range readJSONL[proposalLine](t, filepath.Join(round3, loopplug.LabelsFile)) {
		proposed3[l.Prompt] = true
		for _, ref := range strings.SplitAfter(strings.TrimSuffix(l.From, "="), "=") {
			if ref != "" && !equal(ref) {
				t.Errorf("round 3 proposer prompt %q shows %q, of unequal operands", l.From, ref)
			}
		}
	}
	examples, earlier := 0, 0
	for _, l := range readJSONL[dataLine](t, filepath.Join(round3, loopplug.DataFile)) {
		switch {
		case l.Messages != nil:
			examples++
			if p := l.Messages[1].Content; !equal(p) {
				t.Errorf("round 3 proposer example → %q, of unequal operands", p)
			}
		case !proposed3[l.Prompt]:
			earlier++
			if !equal(l.Prompt) {
				t.Errorf("round 3 earlier prompt %q, of unequal operands", l.Prompt)
			}
		}
	}
	if unequal == 0 || examples == 0 {
		t.Errorf("round 2: %d unequal proposals, round 3: %d proposer examples, %d earlier prompts: the test needs unequal proposals and examples", unequal, examples, earlier)
	}
}

// TestProposeEqualTwins runs the online example with equal_twins at test
// size: each round's GRPO prompts are its proposals, then one twin for each
// unequal proposal of the round (with learnable_twins: each learnable
// unequal proposal of the round before), both operands of its longer
// length, at that length as often as those proposals have it; then
// proposer examples and earlier prompts, none of them a twin. GRPO draws
// twins, and a run stopped while round 3 proposes resumes to the same
// rounds and files.
func TestProposeEqualTwins(t *testing.T) {
	for _, learnable := range []bool{false, true} {
		t.Run(fmt.Sprintf("learnable_twins=%v", learnable), func(t *testing.T) {
			cfg := shrinkWith(t, "loop-lab-propose-grpo.yaml", tinyOnline(3, 4, fmt.Sprintf("k: 4, chunk: 0, online: true, equal_twins: true, learnable_twins: %v", learnable)))
			dir, sum := runConfig(t, cfg)
			var prevLabels []proposalLine
			var prevVerdicts map[string]verdict
			var prevProposed, prevTwins map[string]bool
			rounds := 0
			for r := 2; r <= 3; r++ {
				round := filepath.Join(dir, fmt.Sprintf("round-%03d", r))
				labels := readJSONL[proposalLine](t, filepath.Join(round, loopplug.LabelsFile))
				data := readJSONL[dataLine](t, filepath.Join(round, loopplug.DataFile))
				verdicts := verdictSums(t, round)
				n, tw := len(labels), int(sum.Rounds[r-1].Metrics["gen_twins"])
				if n+tw > len(data) {
					t.Fatalf("round %d: %d proposals, %d twins, %d lines", r, n, tw, len(data))
				}
				sources := labels
				if learnable {
					sources = nil
					for _, l := range prevLabels {
						if v := prevVerdicts[l.Prompt]; v.Right > 0 && v.Right < v.Drawn {
							sources = append(sources, l)
						}
					}
				}
				want := map[int]int{} // longer operand's length → twin sources
				for _, l := range sources {
					if a, b, _ := strings.Cut(strings.TrimSuffix(l.Prompt, "="), "+"); len(a) != len(b) {
						want[max(len(a), len(b))]++
					}
				}
				proposed := map[string]bool{}
				for i, l := range labels {
					proposed[l.Prompt] = true
					if data[i].Prompt != l.Prompt {
						t.Errorf("round %d: GRPO prompt %d is %q, want proposal %q", r, i, data[i].Prompt, l.Prompt)
					}
					for _, ref := range strings.SplitAfter(strings.TrimSuffix(l.From, "="), "=") {
						if prevTwins[ref] {
							t.Errorf("round %d proposer prompt %q shows the round before's twin %q", r, l.From, ref)
						}
					}
				}
				twins := map[string]bool{}
				got := map[int]int{}
				for _, l := range data[n : n+tw] {
					if !equal(l.Prompt) || proposed[l.Prompt] || twins[l.Prompt] {
						t.Errorf("round %d: twin %q: want operands of one length, no proposal, no repeat", r, l.Prompt)
					}
					twins[l.Prompt] = true
					a, _, _ := strings.Cut(l.Prompt, "+")
					got[len(a)]++
				}
				if tw > 0 || len(want) > 0 {
					rounds++
					if !reflect.DeepEqual(got, want) {
						t.Errorf("round %d: twins by length %v, want %v (their sources' longer operands)", r, got, want)
					}
				}
				for _, l := range data[n+tw:] {
					switch {
					case l.Messages != nil:
						if p := l.Messages[1].Content; prevTwins[p] || !prevProposed[p] {
							t.Errorf("round %d proposer example → %q: want a proposal of the round before", r, p)
						}
					case prevTwins[l.Prompt] || !prevProposed[l.Prompt]:
						t.Errorf("round %d earlier prompt %q: want a proposal of the round before", r, l.Prompt)
					}
				}
				drawn := 0
				for p := range verdicts {
					if twins[p] {
						drawn++
					}
				}
				if tw > 0 && drawn == 0 {
					t.Errorf("round %d: GRPO drew none of %d twins", r, tw)
				}
				prevLabels, prevVerdicts, prevProposed, prevTwins = labels, verdicts, proposed, twins
			}
			if rounds == 0 {
				t.Fatal("no round had twins: the test needs some")
			}
			proposeResume(t, cfg, dir, sum)
		})
	}
}

// proposalLine is what the equal-shape tests read of a labels file line.
type proposalLine struct {
	Prompt    string `json:"prompt"`
	From      string `json:"from"`
	EqualOnly bool   `json:"equal_only"`
}

// dataLine is a line of a GRPO round's data file: a problem prompt or a
// worked example's messages.
type dataLine struct {
	Prompt   string `json:"prompt"`
	Messages []struct{ Role, Content string }
}

// runConfig runs cfg in a fresh directory and logs its rounds.
func runConfig(t *testing.T, cfg *loop.Config) (string, *loop.Summary) {
	t.Helper()
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	logRounds(t, sum)
	return dir, sum
}

// equal reports whether a reverse-addition prompt "A+B=" has two operands
// of one length.
func equal(p string) bool {
	a, b, ok := strings.Cut(strings.TrimSuffix(p, "="), "+")
	return ok && len(a) == len(b)
}
