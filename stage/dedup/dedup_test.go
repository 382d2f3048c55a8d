package dedup

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	_ "github.com/synthloop/synthloop/stage/selfinstruct" // the example's first stage
)

// inputs are the previous stage's records; IDs name what each tests.
var inputs = []struct{ id, instruction, input string }{
	{"poem", "Write a poem about the sea at night.", ""},
	{"poem-exact", "write a POEM about the sea, at night", ""},
	{"story", "Write a short story about a robot who learns to paint landscapes in the mountains during winter", ""},
	{"story-near", "Write a short story about a robot who learns to paint landscapes in the mountains during winter nights", ""},
	{"short", "Hi", ""},
	{"ja", "海について短い詩を書いてください。", ""},
	{"email", "Reply to the customer who wrote from jane@example.com about a refund.", ""},
	{"mmlu", "Which of the following is the capital city of France and has the Eiffel Tower in it? Explain.", ""},
	{"input-differs", "Write a poem about the sea at night.", "In the style of Basho."},
}

func seed(t *testing.T, st *pipelinetest.MemStore, stage string, order []int) {
	t.Helper()
	var recs []*record.Record
	for _, i := range order {
		in := inputs[i]
		recs = append(recs, &record.Record{ID: in.id, Stage: stage, Seq: int64(i + 1), Status: record.Kept, Instruction: in.instruction, Input: in.input})
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: stage, Key: "seed", Records: recs}); err != nil {
		t.Fatal(err)
	}
}

func outcomes(t *testing.T, st *pipelinetest.MemStore, stage string) map[string]string {
	t.Helper()
	got := map[string]string{}
	for r, err := range st.Records(context.Background(), stage, "") {
		if err != nil {
			t.Fatal(err)
		}
		id := strings.TrimPrefix(r.ID, stage+":")
		if len(r.Decisions) == 0 {
			t.Errorf("%s: no decisions", r.ID)
		}
		got[id] = string(r.Status)
		if rs := r.Reasons(); len(rs) > 0 {
			got[id] += " " + strings.Join(rs, "; ")
		}
		if r.Status == record.Kept && r.Instruction != inputsByID(id) {
			got[id] += " text=" + r.Instruction
		}
	}
	return got
}

func inputsByID(id string) string {
	for _, in := range inputs {
		if in.id == id {
			return in.instruction
		}
	}
	return ""
}

func runStage(t *testing.T, cfg *Config, st *pipelinetest.MemStore) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), &pipeline.Env{Name: "clean", Input: "gen", Store: st, Clock: func() time.Time { return time.Unix(0, 0) }}); err != nil {
		t.Fatal(err)
	}
}

func evalFile(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "mmlu.jsonl")
	data := `{"text": "What is two plus two?"}
{"text": "Which of the following is the capital city of France and has the Eiffel Tower in it?"}
`
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestStage(t *testing.T) {
	all := []int{0, 1, 2, 3, 4, 5, 6, 7, 8}
	for _, tc := range []struct {
		name  string
		cfg   func(c *Config)
		order []int
		want  map[string]string
	}{
		{
			name: "minhash with every filter",
			cfg: func(c *Config) {
				c.MinChars, c.Language, c.PII = 5, []string{"en"}, PIIScrub
			},
			order: all,
			want: map[string]string{
				"poem":          "kept",
				"poem-exact":    "rejected dedup: exact duplicate of clean:poem",
				"story":         "kept",
				"story-near":    "rejected dedup: near-duplicate of clean:story (est. Jaccard 0.95)",
				"short":         "rejected length: 2 characters, fewer than min_chars 5",
				"ja":            "rejected language: language ja, not one of en",
				"email":         "kept text=Reply to the customer who wrote from [EMAIL] about a refund.",
				"mmlu":          "rejected decontaminate: 13-gram overlap with eval item 2 of mmlu.jsonl",
				"input-differs": "kept",
			},
		},
		{
			name:  "exact only, first in Seq order wins whatever the commit order",
			cfg:   func(c *Config) { c.Method, c.Decontaminate = MethodExact, nil },
			order: []int{8, 7, 6, 5, 4, 3, 2, 1, 0},
			want: map[string]string{
				"poem": "kept", "poem-exact": "rejected dedup: exact duplicate of clean:poem",
				"story": "kept", "story-near": "kept", "short": "kept", "ja": "kept", "email": "kept",
				"mmlu": "kept", "input-differs": "kept",
			},
		},
		{
			name:  "rouge-l alone",
			cfg:   func(c *Config) { c.Method, c.Decontaminate, c.RougeL = MethodOff, nil, 0.7 },
			order: all,
			want: map[string]string{
				"poem": "kept", "poem-exact": "rejected rouge-l: ROUGE-L 1.00 with clean:poem, above 0.7",
				"story": "kept", "story-near": "rejected rouge-l: ROUGE-L 0.97 with clean:story, above 0.7",
				"short": "kept", "ja": "kept", "email": "kept", "mmlu": "kept",
				"input-differs": "rejected rouge-l: ROUGE-L 0.76 with clean:poem, above 0.7",
			},
		},
		{
			name:  "empty compared text is not a duplicate",
			cfg:   func(c *Config) { c.Field, c.Decontaminate, c.RougeL = FieldOutput, nil, 0.7 },
			order: all,
			want: map[string]string{
				"poem": "kept", "poem-exact": "kept", "story": "kept", "story-near": "kept", "short": "kept",
				"ja": "kept", "email": "kept", "mmlu": "kept", "input-differs": "kept",
			},
		},
		{
			name: "pii reject, compare output only",
			cfg: func(c *Config) {
				c.Method, c.Decontaminate, c.PII, c.Field = MethodOff, nil, PIIReject, FieldOutput
			},
			order: all,
			want: map[string]string{
				"poem": "kept", "poem-exact": "kept", "story": "kept", "story-near": "kept", "short": "kept",
				"ja": "kept", "email": "rejected pii: found 1 email(s), 0 phone number(s), 0 card number(s)",
				"mmlu": "kept", "input-differs": "kept",
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := pipelinetest.NewMemStore()
			seed(t, st, "gen", tc.order)
			cfg := DefaultConfig()
			cfg.Decontaminate = []string{evalFile(t)}
			tc.cfg(cfg)
			runStage(t, cfg, st)
			got := outcomes(t, st, "clean")
			for id, w := range tc.want {
				if got[id] != w {
					t.Errorf("%s: got %q, want %q", id, got[id], w)
				}
			}
			if len(got) != len(tc.want) {
				t.Errorf("%d records, want %d", len(got), len(tc.want))
			}
		})
	}
}

func TestStageResume(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seed(t, st, "gen", []int{0, 1, 2, 3})
	cfg := DefaultConfig()
	runStage(t, cfg, st)
	commits := st.Commits
	first := fmt.Sprint(outcomes(t, st, "clean"))
	runStage(t, cfg, st)
	if st.Commits != commits {
		t.Errorf("a finished stage committed again: %d commits, want %d", st.Commits, commits)
	}
	// A fresh store with the same input gives the same records.
	st2 := pipelinetest.NewMemStore()
	seed(t, st2, "gen", []int{3, 2, 1, 0})
	runStage(t, cfg, st2)
	if second := fmt.Sprint(outcomes(t, st2, "clean")); second != first {
		t.Errorf("rerun gave %s, want %s", second, first)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		mod  func(c *Config)
		want string
	}{
		{func(c *Config) { c.Field = "title" }, `dedup: field "title"`},
		{func(c *Config) { c.Method = "simhash" }, `dedup: method "simhash"`},
		{func(c *Config) { c.PII = "mask" }, `dedup: pii "mask"`},
		{func(c *Config) { c.MinChars, c.MaxChars = 10, 5 }, "dedup: min_chars 10, max_chars 5"},
		{func(c *Config) { c.Language = []string{"english"} }, `dedup: language "english"`},
		{func(c *Config) { c.Threshold = 2 }, "dedup: threshold 2"},
		{func(c *Config) { c.RougeL = 1.5 }, "dedup: rouge_l 1.5"},
		{func(c *Config) { c.Shingle = "line" }, `dedup: shingle unit "line"`},
	} {
		c := DefaultConfig()
		tc.mod(c)
		if _, err := New(c); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New error = %v, want prefix %q", err, tc.want)
		}
	}
}

func TestExampleRuns(t *testing.T) {
	data, err := os.ReadFile("../../examples/dedup.yaml")
	if err != nil {
		t.Fatal(err)
	}
	eval := evalFile(t)
	doc := strings.Replace(string(data), "# decontaminate: [evals/mmlu.jsonl, evals/gsm8k.txt]", "decontaminate: ["+eval+"]", 1)
	if doc == string(data) {
		t.Fatal("example has no decontaminate line to fill in")
	}
	for _, text := range []string{string(data), doc} {
		cfg, err := pipeline.ParseConfig("dedup.yaml", []byte(text))
		if err != nil {
			t.Fatal(err)
		}
		if got := cfg.Stages[1].Settings.(*Config); got.PII != PIIScrub || got.MaxChars != 2000 {
			t.Errorf("clean stage decoded as %+v", got)
		}
	}
	cfg, _ := pipeline.ParseConfig("dedup.yaml", []byte(doc))
	st := pipelinetest.NewMemStore()
	seed(t, st, "instructions", []int{0, 1, 2, 3, 4, 5, 6, 7, 8})
	// Only the dedup stage runs: the generating stage's records are already
	// in the store, so no model is opened.
	if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Stages: []string{"clean"}}); err != nil {
		t.Fatal(err)
	}
	got := outcomes(t, st, "clean")
	want := map[string]string{
		"poem":          "kept",
		"poem-exact":    "rejected dedup: exact duplicate of clean:poem",
		"story":         "kept",
		"story-near":    "rejected dedup: near-duplicate of clean:story (est. Jaccard 0.95)",
		"short":         "rejected length: 2 characters, fewer than min_chars 10",
		"ja":            "rejected language: language ja, not one of en",
		"email":         "kept text=Reply to the customer who wrote from [EMAIL] about a refund.",
		"mmlu":          "rejected decontaminate: 13-gram overlap with eval item 2 of mmlu.jsonl",
		"input-differs": "kept",
	}
	for id, w := range want {
		if got[id] != w {
			t.Errorf("%s: got %q, want %q", id, got[id], w)
		}
	}
}

func TestMissingEvalSet(t *testing.T) {
	cfg := DefaultConfig()
	cfg.Decontaminate = []string{filepath.Join(t.TempDir(), "nope.jsonl")}
	_, err := New(cfg)
	if err == nil || !strings.HasPrefix(err.Error(), "dedup: eval set") || !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("New with a missing eval set = %v, want a dedup: error wrapping fs.ErrNotExist", err)
	}
}

// TestMissingEvalSetAtLoad: the config check reads the eval sets, so a typo in
// a path fails `synthloop run` before any stage has spent money.
func TestMissingEvalSetAtLoad(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.jsonl")
	doc := `name: x
models:
  m: {ref: openai/gpt-4o-mini}
stages:
  - name: clean
    type: dedup
    with:
      decontaminate: [` + missing + `]
`
	_, err := pipeline.ParseConfig("x.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "nope.jsonl") {
		t.Fatalf("ParseConfig = %v, want an error naming the missing eval set", err)
	}
	good := evalFile(t)
	if _, err := pipeline.ParseConfig("x.yaml", []byte(strings.Replace(doc, missing, good, 1))); err != nil {
		t.Fatalf("ParseConfig with a readable eval set: %v", err)
	}
}

// TestStageRougeLLong: exact duplicates of long records (255 tokens and
// more) sharing only frequent words with what is kept are rejected by
// rouge_l. The ROUGE-L index once skipped texts of 255+ tokens for queries
// of 256+, so a 300-token duplicate passed; see text.TestIndexLongCommonWords.
func TestStageRougeLLong(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	vocab := strings.Fields("the a of to and in for on with by is are be this that it as at from or " +
		"write list give explain short simple each every one two three four")
	line := func(n int) string {
		w := make([]string, n)
		for i := range w {
			w[i] = vocab[rng.IntN(len(vocab))]
		}
		return strings.Join(w, " ")
	}
	// Enough records for every vocabulary word to become common in the
	// index (posting lists of 128 and more).
	var recs []*record.Record
	add := func(id, instruction string) {
		recs = append(recs, &record.Record{ID: id, Stage: "gen", Seq: int64(len(recs) + 1),
			Status: record.Kept, Instruction: instruction})
	}
	for i := range 300 {
		add(fmt.Sprintf("filler%d", i), line(20+rng.IntN(20)))
	}
	lens := []int{254, 255, 256, 257, 300, 600}
	long := map[int]string{}
	for _, n := range lens {
		long[n] = line(n)
		add(fmt.Sprintf("long%d", n), long[n])
	}
	// Upper case: an exact duplicate once tokenized.
	for _, n := range lens {
		add(fmt.Sprintf("long%d-exact", n), strings.ToUpper(long[n]))
	}
	st := pipelinetest.NewMemStore()
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "gen", Key: "seed", Records: recs}); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	cfg.Method, cfg.Decontaminate, cfg.RougeL = MethodOff, nil, 0.7
	runStage(t, cfg, st)
	got := map[string]string{}
	for r, err := range st.Records(context.Background(), "clean", "") {
		if err != nil {
			t.Fatal(err)
		}
		got[strings.TrimPrefix(r.ID, "clean:")] = strings.Join(append([]string{string(r.Status)}, r.Reasons()...), " ")
	}
	for _, n := range lens {
		for id, want := range map[string]string{
			fmt.Sprintf("long%d", n):       "kept",
			fmt.Sprintf("long%d-exact", n): fmt.Sprintf("rejected rouge-l: ROUGE-L 1.00 with clean:long%d, above 0.7", n),
		} {
			if got[id] != want {
				t.Errorf("%s: got %q, want %q", id, got[id], want)
			}
		}
	}
}
