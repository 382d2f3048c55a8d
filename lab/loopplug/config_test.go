package loopplug_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/lab/loopplug"
	"github.com/synthloop/synthloop/loop"
)

func TestProblemsRange(t *testing.T) {
	for _, c := range []struct {
		p        loopplug.Problems
		round    int
		labelled bool
		lo, hi   int
	}{
		{loopplug.Problems{From: 9, Step: 1}, 2, true, 9, 9},   // the first self-labelled round
		{loopplug.Problems{From: 9, Step: 1}, 5, true, 12, 12}, // from + r - 2
		{loopplug.Problems{From: 9, Step: 1}, 1, false, 9, 9},  // no labelled round: round 1 is the first
		{loopplug.Problems{From: 9, Step: 1}, 3, false, 11, 11},
		{loopplug.Problems{From: 3, To: 6}, 7, true, 3, 6}, // step 0: the same range every round
		{loopplug.Problems{From: 5, To: 6, Step: 2, FirstRound: 4}, 5, true, 7, 8},
		{loopplug.Problems{From: 1, Step: 3}, 1, true, 1, 1}, // before the first round: clamped to 1
	} {
		lo, hi := c.p.Range(c.round, c.labelled)
		if lo != c.lo || hi != c.hi {
			t.Errorf("%+v.Range(%d, %v) = %d, %d, want %d, %d", c.p, c.round, c.labelled, lo, hi, c.lo, c.hi)
		}
	}
}

// loopYAML is a loop of the lab plugins with one step replaced.
func loopYAML(generate, train, evaluate string) string {
	if generate == "" {
		generate = "generate: {type: lab-labels, with: {task: copy, count: 10, from: 1, to: 3}}"
	}
	if train == "" {
		train = "train: {type: lab-train, with: {arch: {dim: 16, layers: 1, heads: 2, hidden: 32, max_seq: 16}, steps: 5, warmup: 1}}"
	}
	if evaluate == "" {
		evaluate = "evaluate: {type: lab-accuracy, with: {difficulties: [1, 2], problems: 4}}"
	}
	return "name: t\nrounds: 2\n" + generate + "\n" + train + "\n" + evaluate + "\n"
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []struct {
		name, generate, train, evaluate, want string
	}{
		{"valid", "", "", "", ""},
		{"unknown task", "generate: {type: lab-labels, with: {task: copyy, count: 5, from: 1}}", "", "", `unknown task "copyy"`},
		{"no task", "generate: {type: lab-labels, with: {count: 5, from: 1}}", "", "", "task is required"},
		{"misspelt key", "generate: {type: lab-selflabel, with: {task: copy, from: 2, filtr: {length: true}}}", "", "", `unknown field "filtr" (did you mean "filter"?)`},
		{"filter key", "generate: {type: lab-selflabel, with: {task: copy, from: 2, filter: {lenght: true}}}", "", "", `unknown field "lenght" (did you mean "length"?)`},
		{"samples without temperature", "generate: {type: lab-selflabel, with: {task: copy, from: 2, filter: {samples: 5}}}", "", "", "need a temperature"},
		{"agree above 1", "generate: {type: lab-selflabel, with: {task: copy, from: 2, filter: {agree: 2}}}", "", "", "agree in [0, 1]"},
		{"bad range", "generate: {type: lab-rft, with: {task: copy, from: 4, to: 2}}", "", "", "want 1 ≤ from ≤ to"},
		{"bad labels", "generate: {type: lab-rft, with: {task: copy, from: 1, labels: {count: 0, from: 1}}}", "", "", "labels: 0 problems"},
		{"one sample is no vote", "generate: {type: lab-scpairs, with: {task: copy, from: 1, k: 1}}", "", "", "k ≥ 2"},
		{"bad init", "", "train: {type: lab-train, with: {init: base}}", "", `init "base": want previous, teacher or scratch`},
		{"bad warmup", "", "train: {type: lab-train, with: {steps: 5, warmup: 5}}", "", "warmup 5 in [0, steps)"},
		{"bad first arch", "", "train: {type: lab-train, with: {first: {arch: {dim: 10, layers: 1, heads: 3, hidden: 8, max_seq: 8}}}}", "", "first.arch"},
		{"arch key", "", "train: {type: lab-train, with: {arch: {dims: 16}}}", "", `unknown field "dims" (did you mean "dim"?)`},
		{"target outside", "", "", "evaluate: {type: lab-accuracy, with: {difficulties: [1, 2], target: [3]}}", "target difficulty 3 is not among"},
		{"duplicate difficulty", "", "", "evaluate: {type: lab-accuracy, with: {difficulties: [1, 1]}}", "distinct difficulties"},
		{"pass@k", "", "", "evaluate: {type: lab-accuracy, with: {difficulties: [1], samples: 4, k: 8, temperature: 1}}", "1 ≤ k ≤ samples"},
		{"mixed operands of one", "generate: {type: lab-labels, with: {task: copy, count: 5, from: 1, mixed_operands: true}}", "", "", "mixed_operands: task copy has no two operands"},
		{"advance above 1", "generate: {type: lab-selflabel, with: {task: copy, from: 2, advance: 2}}", "", "", "advance 2: want a yield in [0, 1]"},
		{"until without labels", "generate: {type: lab-selflabel, with: {task: copy, from: 2}}", "train: {type: lab-train, with: {first: {until: 0.9}}}", "", "first.until needs a lab generator whose first round is labelled"},
		{"until above 1", "", "train: {type: lab-train, with: {first: {until: 2}}}", "", "until 2 in [0, 1]"},
		{"min_kept", "", "train: {type: lab-train, with: {min_kept: -1}}", "", "min_kept must not be negative"},
		{"by_length", "", "train: {type: lab-train, with: {by_length: -2}}", "", "by_length -2 must not be negative"},
		{"grpo sft_distinct without sft", "", "train: {type: lab-train, with: {grpo: {sft_distinct: true}}}", "", "sft_distinct weighs the cross-entropy term: it needs sft above 0"},
		{"grpo late max_draws without dynamic", "", "train: {type: lab-train, with: {grpo: {late: {from: 2, batch: 64, group: 4, max_draws: 1}}}}", "", "late max_draws 1: only dynamic draws more than one batch a step: it needs dynamic"},
		{"grpo late in round 1", "", "train: {type: lab-train, with: {grpo: {late: {from: 1, batch: 64, group: 4}}}}", "", "late from 1 ≥ 2"},
		{"grpo solved without dynamic", "", "train: {type: lab-train, with: {grpo: {sft: 1, solved: true}}}", "", "solved and solved_adv (0, not negative) use the groups dynamic sampling drops: they need dynamic"},
		{"grpo solved_adv without dynamic", "", "train: {type: lab-train, with: {grpo: {solved_adv: 0.1}}}", "", "they need dynamic"},
		{"grpo solved without sft", "", "train: {type: lab-train, with: {grpo: {dynamic: true, solved: true}}}", "", "solved trains the all-right groups by cross-entropy: it needs sft above 0"},
		{"grpo solved with batch baseline", "", "train: {type: lab-train, with: {grpo: {dynamic: true, sft: 1, solved: true, baseline: batch}}}", "", "neither solved_adv nor baseline batch"},
		{"grpo baseline unknown", "", "train: {type: lab-train, with: {grpo: {baseline: token}}}", "", `baseline "token": want group or batch`},
		{"grpo carry without reuse", "", "train: {type: lab-train, with: {grpo: {carry: true}}}", "", "carry keeps the reuse buffer from round to round: it needs reuse"},
		{"probe without selflabel", "", "train: {type: lab-train, with: {probe: {every: 5, problems: 4, signal: samples, samples: 2, temperature: 1}}}", "", "probe needs a lab-selflabel generator"},
		{"probe commute of copy", "generate: {type: lab-selflabel, with: {task: copy, from: 2}}", "train: {type: lab-train, with: {probe: {every: 5, problems: 4, signal: commute}}}", "", "task copy has no operands to swap"},
		{"probe signal", "generate: {type: lab-selflabel, with: {task: copy, from: 2}}", "train: {type: lab-train, with: {probe: {every: 5, problems: 4, signal: vibes}}}", "", `probe signal "vibes"`},
		{"probe every", "generate: {type: lab-selflabel, with: {task: copy, from: 2}}", "train: {type: lab-train, with: {probe: {problems: 4, signal: samples}}}", "", "every 0 and problems 4 must be positive"},
		{"advance_probe above 1", "generate: {type: lab-selflabel, with: {task: copy, from: 2, advance_probe: 2}}", "", "", "advance_probe 2"},
		{"equal_share without mixed", "generate: {type: lab-selflabel, with: {task: reverse-addition, from: 2, equal_share: 0.5}}", "", "", "equal_share 0.5"},
		{"propose equal_share without mixed", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, equal_share: 0.5}}", "", "", "lab-propose: equal_share 0.5"},
		{"propose equal_share above 1", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, mixed_operands: true, equal_share: 2}}", "", "", "lab-propose: equal_share 2"},
		{"hardest_references without references", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, hardest_references: 0.5}}", "", "", "hardest_references 0.5"},
		{"prompts with train_solved", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, train_solved: true}}", "", "", "train_solved needs SFT data"},
		{"earlier_prompts without prompts", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, earlier_prompts: 0.5}}", "", "", "earlier_prompts 0.5"},
		{"earlier_prompts of 1", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, earlier_prompts: 1}}", "", "", "earlier_prompts 1"},
		{"earlier_answers without train_proposer", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, train_proposer: false, earlier_answers: 0.5}}", "", "", "earlier_answers 0.5"},
		{"earlier_answers of 1", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, train_proposer: true, earlier_answers: 1}}", "", "", "earlier_answers 1"},
		{"online without prompts", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, online: true}}", "", "", "online needs prompts"},
		{"online with chunk", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, chunk: 2, online: true}}", "", "", "online needs prompts"},
		{"online with earlier_answers", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, train_proposer: true, earlier_answers: 0.5, online: true}}", "", "", "online needs prompts"},
		{"proposer examples without replay", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, train_proposer: true}}", "train: {type: lab-train, with: {grpo: {replay: 0}}}", "", "which only replay trains: set grpo.replay"},
		{"online", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, train_proposer: true, online: true}}", "train: {type: lab-train, with: {grpo: {sft: 1, replay: 4}}}", "", ""},
		{"online, balanced", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, train_proposer: true, online: true, learnable_weight: balanced}}", "train: {type: lab-train, with: {grpo: {sft: 1, replay: 4}}}", "", ""},
		{"online, expected", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, online: true, learnable_weight: expected}}", "train: {type: lab-train, with: {grpo: {sft: 1, replay: 4}}}", "", ""},
		{"equal_references without online", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, equal_references: true}}", "", "", "equal_references needs online"},
		{"equal_twins without online", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, equal_twins: true}}", "", "", "equal_twins needs online"},
		{"learnable_twins without equal_twins", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, learnable_twins: true, online: true, prompts: true}}", "", "", "learnable_twins needs equal_twins"},
		{"equal_twins on copy", "generate: {type: lab-propose, with: {task: copy, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, equal_twins: true, online: true, prompts: true}}", "", "", "equal_twins: task copy has no two operands"},
		{"learnable_weight unknown", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, online: true, learnable_weight: hard}}", "", "", "learnable_weight \"hard\""},
		{"learnable_weight without online", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, learnable_weight: wrong}}", "", "", "learnable_weight needs online"},
		{"proposer_reward", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, train_proposer: false, online: true, proposer_reward: learnability}}", "train: {type: lab-train, with: {grpo: {scored_step: 16}}}", "", ""},
		{"proposer_reward without online", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, proposer_reward: learnability}}", "", "", "proposer_reward needs online"},
		{"proposer_reward unknown", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, online: true, proposer_reward: solved}}", "", "", `proposer_reward "solved": want learnability`},
		{"proposer_reward with batch baseline", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, prompts: true, train_proposer: false, online: true, proposer_reward: learnability}}", "train: {type: lab-train, with: {grpo: {baseline: batch}}}", "", "baseline batch would mix the rewards"},
		{"negative scored_step", "", "train: {type: lab-train, with: {grpo: {scored_step: -1}}}", "", "scored_step -1 must not be negative"},
		{"negative chunk", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, chunk: -1}}", "", "", "chunk -1"},
		{"equal_operands, one operand", "generate: {type: lab-propose, with: {task: copy, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, equal_operands: true}}", "", "", "equal_operands: task copy has no two operands"},
		{"proposer_equal without mixed", "generate: {type: lab-propose, with: {task: reverse-addition, labels: {count: 5, from: 1}, count: 5, k: 2, temperature: 1, proposer_temperature: 1, proposer_equal: true}}", "", "", "proposer_equal needs mixed_operands"},
		{"task from a non-lab generator", "generate: {type: pipeline, with: {pipeline: {stages: [{type: load, with: {path: x.jsonl}}]}}}", "", "", "lab-train: task is required"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := loop.ParseConfig("t.yaml", []byte(loopYAML(c.generate, c.train, c.evaluate)))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("error %v, want one containing %q", err, c.want)
			}
		})
	}
}

// TestTypeExamples parses the snippet every lab plugin shows in
// `synthloop loop --list`, so the help never shows a config that fails.
func TestTypeExamples(t *testing.T) {
	n := 0
	for _, g := range loop.Generators() {
		if strings.HasPrefix(g.Name, "lab-") {
			n++
			if _, err := loop.ParseConfig(g.Name+".yaml", []byte(loopYAML(g.Example, "", ""))); err != nil {
				t.Errorf("%s: %v", g.Name, err)
			}
		}
	}
	for _, tr := range loop.Trainers() {
		if strings.HasPrefix(tr.Name, "lab-") {
			n++
			if _, err := loop.ParseConfig(tr.Name+".yaml", []byte(loopYAML("", tr.Example, ""))); err != nil {
				t.Errorf("%s: %v", tr.Name, err)
			}
		}
	}
	for _, e := range loop.Evaluators() {
		if strings.HasPrefix(e.Name, "lab-") {
			n++
			if _, err := loop.ParseConfig(e.Name+".yaml", []byte(loopYAML("", "", e.Example))); err != nil {
				t.Errorf("%s: %v", e.Name, err)
			}
		}
	}
	if n != 8 {
		t.Errorf("%d lab plugins registered, want 8", n)
	}
}

// TestNeedsTeacher runs generators that need a teacher in a loop that has
// none and no labels block: the round fails with an error that says what to
// set, and nothing is trained.
func TestNeedsTeacher(t *testing.T) {
	for _, g := range []string{
		"generate: {type: lab-selflabel, with: {task: copy, count: 4, from: 2}}",
		"generate: {type: lab-rft, with: {task: copy, count: 4, from: 2}}",
		"generate: {type: lab-scpairs, with: {task: copy, count: 4, from: 2}}",
	} {
		cfg, err := loop.ParseConfig("t.yaml", []byte(loopYAML(g, "", "")))
		if err != nil {
			t.Fatal(err)
		}
		_, err = loop.Run(context.Background(), cfg, loop.Options{RunDir: t.TempDir()})
		if err == nil || !strings.Contains(err.Error(), "no teacher") || !strings.Contains(err.Error(), "labels block") {
			t.Errorf("%s: error %v, want one about the missing teacher", g, err)
		}
	}
}

// TestTeacherNotBuiltIn gives the lab generator an API teacher, which it
// cannot run.
func TestTeacherNotBuiltIn(t *testing.T) {
	y := "models:\n  t: {ref: openai/gpt-4o-mini}\nteacher: t\n" + loopYAML("generate: {type: lab-selflabel, with: {task: copy, count: 4, from: 2}}", "", "")
	cfg, err := loop.ParseConfig("t.yaml", []byte(y))
	if err != nil {
		t.Fatal(err)
	}
	_, err = loop.Run(context.Background(), cfg, loop.Options{RunDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "not a built-in model directory") {
		t.Errorf("error %v, want one about the teacher not being a built-in model", err)
	}
}

// FuzzConfig feeds mutated loop files with the lab plugins to the loop's
// parser: the plugins' checks must reject or accept them, never panic.
func FuzzConfig(f *testing.F) {
	files, _ := filepath.Glob("../../examples/loop-lab-*.yaml")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(string(b))
	}
	f.Add(loopYAML("", "", ""))
	f.Fuzz(func(t *testing.T, s string) {
		cfg, err := loop.ParseConfig("f.yaml", []byte(s))
		if err != nil {
			return
		}
		if p, ok := cfg.Generate.Settings.(interface{ Range(int, bool) (int, int) }); ok {
			for r := 1; r <= 3; r++ {
				if lo, hi := p.Range(r, true); lo < 1 || hi < lo {
					t.Fatalf("round %d draws difficulties %d..%d", r, lo, hi)
				}
			}
		}
	})
}
