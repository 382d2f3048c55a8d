package problems

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	_ "github.com/synthloop/synthloop/stage/sample" // registered for the config check
)

var seedProblems = []string{
	"Mia has 12 apples. She buys 7 more apples. She gives away 5 apples. How many apples does Mia have now?",
	"A baker makes 8 trays of cookies with 6 cookies on each tray. He sells 15 cookies. How many cookies are left?",
	"Tom has 30 marbles. He shares them equally among 5 friends. How many marbles does each friend get?",
	"A library has 120 books. It lends out 45 books and gets 30 new ones. How many books does it have?",
}

func env(st *pipelinetest.MemStore, b model.Backend) *pipeline.Env {
	return &pipeline.Env{Name: "invented", Input: "seeds", Store: st, Seed: 1, Concurrency: 3,
		Clock: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) },
		Backend: func(name string) (model.Backend, pipeline.ModelInfo, error) {
			return b, pipeline.ModelInfo{Backend: "scripted", Model: name}, nil
		}}
}

func seeded(t *testing.T) *pipelinetest.MemStore {
	t.Helper()
	st := pipelinetest.NewMemStore()
	var recs []*record.Record
	for i, p := range seedProblems {
		recs = append(recs, &record.Record{ID: "s" + string(rune('a'+i)), Stage: "seeds", Seq: int64(i + 1), Status: record.Kept, Instruction: p})
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "seeds", Key: "seed", Records: recs}); err != nil {
		t.Fatal(err)
	}
	return st
}

func config() *Config {
	c := DefaultConfig()
	c.Model, c.Target = "teacher", 12
	return c
}

func run(t *testing.T, st *pipelinetest.MemStore, c *Config, b model.Backend) {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), env(st, b)); err != nil {
		t.Fatal(err)
	}
}

func TestInventsNovelProblems(t *testing.T) {
	st := seeded(t)
	run(t, st, config(), scripted.New(1))
	recs := st.All("invented")
	kept := 0
	filters := map[string]int{}
	for _, r := range recs {
		if r.Status == record.Kept {
			kept++
			if r.Meta["kind"] != KindProblem || len(r.Prov.SeedIDs) != 3 || r.Prov.TemplateHash == "" || strings.Contains(r.Instruction, "Answer:") {
				t.Errorf("kept %s: %+v", r.ID, r)
			}
			continue
		}
		for _, d := range r.Decisions {
			if !d.Passed {
				filters[d.Filter]++
			}
		}
	}
	// The batch that reaches the target is committed whole.
	if kept < 12 || kept >= 12+5 || filters["novelty"] == 0 {
		t.Fatalf("%d kept; rejections by filter %v; want >= 12 kept and near-copies rejected", kept, filters)
	}
}

// TestResumeIsIdentical stops the stage after its first batches and runs it
// again: the records are those of an uninterrupted run.
func TestResumeIsIdentical(t *testing.T) {
	whole := seeded(t)
	run(t, whole, config(), scripted.New(1))

	part := seeded(t)
	c := config()
	c.Target = 4
	run(t, part, c, scripted.New(1))
	if n := len(part.All("invented")); n == 0 || n >= len(whole.All("invented")) {
		t.Fatalf("the first run wrote %d records", n)
	}
	run(t, part, config(), scripted.New(1))
	if got, want := ids(part.All("invented")), ids(whole.All("invented")); !reflect.DeepEqual(got, want) {
		t.Fatalf("resumed run\n%v\nwant\n%v", got, want)
	}
}

func ids(recs []*record.Record) []string {
	var out []string
	for _, r := range recs {
		out = append(out, string(r.Status)+" "+r.ID+" "+r.Instruction)
	}
	return out
}

// failing is a backend whose calls fail for good.
type failing struct{}

func (failing) Generate(context.Context, model.Request) (*model.Response, error) {
	return nil, errors.New("bad request")
}

func TestFailedCallIsRecorded(t *testing.T) {
	st := seeded(t)
	c := config()
	c.MaxBatches = 2
	run(t, st, c, failing{})
	recs := st.All("invented")
	if len(recs) != 2 || recs[0].Status != record.Failed || !strings.Contains(recs[0].Error, "bad request") {
		t.Fatalf("records %+v", recs)
	}
}

func TestSeedsFileAndCodeDomain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "seeds.jsonl")
	lines := `{"id": "a", "problem": "Write a Python function ` + "`square_all(xs)`" + ` that returns the list of the squares of xs."}
{"id": "b", "question": "Write a Python function ` + "`count_words(s)`" + ` that returns how many words the string s has."}
`
	if err := os.WriteFile(path, []byte(lines), 0o600); err != nil {
		t.Fatal(err)
	}
	c := config()
	c.Domain, c.Seeds, c.Target, c.Shown = Code, path, 4, 2
	st := pipelinetest.NewMemStore()
	run(t, st, c, scripted.New(1))
	kept := 0
	for _, r := range st.All("invented") {
		if r.Status != record.Kept {
			continue
		}
		kept++
		if !functionRe.MatchString(r.Instruction) || !reflect.DeepEqual(r.Prov.SeedIDs, []string{"b", "a"}) && !reflect.DeepEqual(r.Prov.SeedIDs, []string{"a", "b"}) {
			t.Errorf("kept %s: %q, seeds %v", r.ID, r.Instruction, r.Prov.SeedIDs)
		}
	}
	if kept < 4 {
		t.Fatalf("%d kept", kept)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no model", func(c *Config) { c.Model = "" }, "model: required"},
		{"domain", func(c *Config) { c.Domain = "poetry" }, `domain "poetry"`},
		{"target", func(c *Config) { c.Target = 0 }, "must be positive"},
		{"novelty", func(c *Config) { c.Novelty = 1.5 }, "novelty_threshold"},
		{"language", func(c *Config) { c.Language = "fr" }, "language"},
		{"problem field", func(c *Config) { c.Problem = "title" }, "problem:"},
		{"prompt file", func(c *Config) { c.Prompt = "/nonexistent/p.tmpl" }, "prompt:"},
	} {
		c := config()
		tc.edit(c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error %v, want %q", tc.name, err, tc.want)
		}
	}
	c := config()
	c.Language = "ja"
	if _, err := New(c); err != nil {
		t.Errorf("ja: %v", err)
	}
}

// counting counts the requests that reach a backend.
type counting struct {
	model.Backend
	n atomic.Int32
}

func (c *counting) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	c.n.Add(1)
	return c.Backend.Generate(ctx, req)
}

func TestFinishedStageAsksNothing(t *testing.T) {
	st := seeded(t)
	run(t, st, config(), scripted.New(1))
	c := &counting{Backend: scripted.New(1)}
	run(t, st, config(), c)
	if n := c.n.Load(); n != 0 {
		t.Fatalf("a rerun of a finished stage sent %d requests", n)
	}
}

// sampleRecords are what a sample stage of topic × difficulty makes: the
// columns in meta, declared in the provenance.
func sampleRecords() []*record.Record {
	var out []*record.Record
	for i, topic := range []string{"shopping", "school", "garden"} {
		for j, d := range []string{"easy", "medium", "hard"} {
			k := 3*i + j
			out = append(out, &record.Record{ID: fmt.Sprintf("attrs:%d", k), Stage: "seeds", Seq: int64(k + 1), Status: record.Kept,
				Meta: map[string]any{"topic": topic, "difficulty": d},
				Prov: record.Provenance{Generator: "sample", Params: map[string]any{"columns": []string{"topic", "difficulty"},
					"kinds": map[string]string{"topic": "category", "difficulty": "category"}, "possible": map[string]int{"topic": 3, "difficulty": 3}}}})
		}
	}
	return out
}

// promptLog records the prompts a backend is sent.
type promptLog struct {
	model.Backend
	mu      sync.Mutex
	prompts []string
}

func (p *promptLog) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	p.mu.Lock()
	p.prompts = append(p.prompts, req.Messages[len(req.Messages)-1].Content)
	p.mu.Unlock()
	return p.Backend.Generate(ctx, req)
}

// TestConditionedOnSampleRecords: with a seeds file, the input stage's
// sample records condition the prompts, one record per prompt taken in
// turn (so each is asked for once or twice in 12 prompts of 9 records),
// each prompt lists its record's attributes, and every problem carries
// them with the id of the sample record they came from; coverage counts
// the kept problems per attribute value.
func TestConditionedOnSampleRecords(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seeds.txt")
	if err := os.WriteFile(path, []byte(strings.Join(seedProblems, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var firstRun []string
	for round := range 2 {
		st := pipelinetest.NewMemStore()
		if err := st.Commit(ctx, pipeline.Unit{Stage: "seeds", Key: "attrs", Records: sampleRecords()}); err != nil {
			t.Fatal(err)
		}
		c := config()
		c.Seeds, c.Target, c.MaxBatches, c.PerPrompt = path, 100, 12, 3
		b := &promptLog{Backend: scripted.New(1)}
		run(t, st, c, b)
		if len(b.prompts) != 12 {
			t.Fatalf("%d prompts, want 12", len(b.prompts))
		}
		asked := map[string]int{}
		for _, p := range b.prompts {
			m := regexp.MustCompile(`- topic: (\w+)\n- difficulty: (\w+)\n`).FindStringSubmatch(p)
			if m == nil {
				t.Fatalf("a prompt without the attributes block:\n%s", p)
			}
			asked[m[1]+"/"+m[2]]++
		}
		for k, n := range asked {
			if n < 1 || n > 2 {
				t.Errorf("%s asked for in %d prompts, want 1 or 2 (%v)", k, n, asked)
			}
		}
		byID := map[string]*record.Record{}
		for _, r := range sampleRecords() {
			byID[r.ID] = r
		}
		var got []string
		kept := 0
		for _, r := range st.All("invented") {
			from, _ := r.Meta[attrs.FromKey].(string)
			src := byID[from]
			if src == nil || r.Meta["topic"] != src.Meta["topic"] || r.Meta["difficulty"] != src.Meta["difficulty"] || !slices.Equal(r.Prov.ParentIDs, []string{from}) {
				t.Fatalf("%s: attributes %v/%v from %q (parents %v)", r.ID, r.Meta["topic"], r.Meta["difficulty"], from, r.Prov.ParentIDs)
			}
			if r.Status == record.Kept && r.Meta["kind"] == KindProblem {
				kept++
			}
			got = append(got, r.ID+"="+from)
		}
		if round == 0 {
			firstRun = got
		} else if !slices.Equal(got, firstRun) {
			t.Errorf("a second run allocated other records:\n%v\n%v", got, firstRun)
		}
		cov, err := Coverage(ctx, st, "invented")
		if err != nil {
			t.Fatal(err)
		}
		if cov.Records != kept || len(cov.Columns) != 2 || cov.Columns[0].Name != "topic" || cov.Columns[1].Possible != 3 {
			t.Fatalf("coverage %+v of %d kept problems", cov, kept)
		}
	}
}

// TestConditionedOnNamedMeta: records that are no sample's condition the
// prompts on the meta fields attributes: names; a column named like one of
// the stage's own meta fields is refused.
func TestConditionedOnNamedMeta(t *testing.T) {
	path := filepath.Join(t.TempDir(), "seeds.txt")
	if err := os.WriteFile(path, []byte(strings.Join(seedProblems, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	st := pipelinetest.NewMemStore()
	in := []*record.Record{{ID: "x", Stage: "seeds", Seq: 1, Status: record.Kept, Meta: map[string]any{"setting": "a bakery", "kind": "unused"}}}
	if err := st.Commit(ctx, pipeline.Unit{Stage: "seeds", Key: "x", Records: in}); err != nil {
		t.Fatal(err)
	}
	c := config()
	c.Seeds, c.Target, c.MaxBatches, c.Attributes = path, 3, 2, []string{"setting"}
	b := &promptLog{Backend: scripted.New(1)}
	run(t, st, c, b)
	if !strings.Contains(b.prompts[0], "- setting: a bakery\n") || strings.Contains(b.prompts[0], "unused") {
		t.Errorf("prompt:\n%s", b.prompts[0])
	}
	for _, r := range st.All("invented") {
		if r.Meta["setting"] != "a bakery" {
			t.Errorf("%s: meta %v", r.ID, r.Meta)
		}
	}
	// A user's prompt reads them by name.
	tmpl := filepath.Join(t.TempDir(), "mine.tmpl")
	os.WriteFile(tmpl, []byte("Set in {{.Attr.setting}}.{{range .Attributes}} ({{.Name}}){{end}}\n{{range $i, $p := .Shown}}\nProblem {{add $i 1}}: {{$p}}\n{{end}}\nWrite {{.Count}} new problems.\n\nProblem {{.Next}}:"), 0o600)
	c.Prompt = tmpl
	b = &promptLog{Backend: scripted.New(1)}
	fresh := pipelinetest.NewMemStore()
	if err := fresh.Commit(ctx, pipeline.Unit{Stage: "seeds", Key: "x", Records: in}); err != nil {
		t.Fatal(err)
	}
	run(t, fresh, c, b)
	if !strings.HasPrefix(b.prompts[0], "Set in a bakery. (setting)\n") {
		t.Errorf("the user's prompt:\n%s", b.prompts[0])
	}
	c.Prompt = ""
	c.Attributes = []string{"kind"}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(ctx, env(pipelinetest.NewMemStore(), b)); err == nil || !strings.Contains(err.Error(), "no kept records") {
		t.Errorf("attributes: over an empty input stage: %v", err)
	}
	if err := s.Run(ctx, env(st, b)); err == nil || !strings.Contains(err.Error(), `attribute "kind"`) {
		t.Errorf("a column named kind: %v", err)
	}
}

// TestMisspeltAttribute: an attribute the sample stage before does not
// draw is reported when the config loads, with the closest column.
func TestMisspeltAttribute(t *testing.T) {
	_, err := pipeline.ParseConfig("p.yaml", []byte(`name: p
models: {teacher: {ref: openai/gpt-4o-mini}}
stages:
  - name: attrs
    type: sample
    with:
      count: 4
      columns: [{name: level, kind: category, values: [easy, hard]}]
  - name: invented
    type: problems
    with: {model: teacher, seeds: seeds.txt, attributes: [levle]}
`))
	if err == nil || !strings.Contains(err.Error(), `"levle"`) || !strings.Contains(err.Error(), "level") {
		t.Errorf("ParseConfig: %v", err)
	}
}
