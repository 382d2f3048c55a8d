package evol

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/golden"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/genkit"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

func newStage(t *testing.T, mut func(*Config)) *Stage {
	t.Helper()
	c := DefaultConfig()
	c.Model = "teacher"
	if mut != nil {
		mut(c)
	}
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func server(t *testing.T) *modeltest.Server {
	srv := modeltest.NewServer(respond)
	t.Cleanup(srv.Close)
	return srv
}

// run runs a stage named "evolved" over the instructions, committed as the
// kept records of a stage named "prompts".
func run(t *testing.T, s *Stage, instructions ...string) (*pipelinetest.MemStore, *modeltest.Server) {
	t.Helper()
	st := pipelinetest.NewMemStore()
	srv := server(t)
	stagetest.Seed(t, st, "prompts", instructions...)
	if err := s.Run(context.Background(), stagetest.Env(t, srv, st, "evolved", "prompts")); err != nil {
		t.Fatal(err)
	}
	return st, srv
}

// byRoot groups a stage's records by the input instruction they descend from.
func byRoot(recs []*record.Record) map[string][]*record.Record {
	out := map[string][]*record.Record{}
	for _, r := range recs {
		root := r.Meta[MetaRootID].(string)
		out[root] = append(out[root], r)
	}
	return out
}

func failedFilter(r *record.Record) string {
	for _, d := range r.Decisions {
		if !d.Passed {
			return d.Filter
		}
	}
	return ""
}

func TestEvolChains(t *testing.T) {
	s := newStage(t, func(c *Config) { c.AnswerModel = "student"; c.JudgeModel = "critic" })
	st, srv := run(t, s,
		"Explain why the sky is blue.",
		"Summarise the plot of Hamlet. [leak]",
		"List three uses of copper. [same]",
		"Describe a sunset. [para]",
		"Name a prime number. [refuse]",
		"Say something. [dots]",
		"Write a long essay. [cut]",
		"Compare two sorting algorithms. [noverdict]",
		"Plan a picnic. [fixable]",
		"Translate a proverb. [long]",
	)
	chains := byRoot(st.All("evolved"))
	if len(chains) != 10 {
		t.Fatalf("%d chains, want 10", len(chains))
	}
	type want struct {
		status record.Status
		filter string // the failed filter of every evolution of the chain
	}
	wants := map[string]want{
		"prompts-000": {record.Kept, ""},
		"prompts-001": {record.Rejected, FilterLeak},
		"prompts-002": {record.Rejected, FilterNoNewInfo},
		"prompts-003": {record.Rejected, FilterEqual},
		"prompts-004": {record.Rejected, FilterRefusal},
		"prompts-005": {record.Rejected, FilterDegenerate},
		"prompts-006": {record.Rejected, FilterTruncated},
		"prompts-007": {record.Failed, ""},
		"prompts-008": {record.Kept, ""},
		"prompts-009": {record.Rejected, FilterEvolution},
	}
	for root, w := range wants {
		recs := chains[root]
		if len(recs) != 5 {
			t.Errorf("%s: %d records, want the original and 4 generations", root, len(recs))
			continue
		}
		orig := recs[0]
		if orig.ID != "evolved:"+root+":g0" || metaInt(orig.Meta[MetaGeneration]) != 0 || orig.Output == "" || orig.Prov.ParentIDs[0] != root {
			t.Errorf("%s: original %+v", root, orig)
		}
		// Originals are answered and checked too: the refusing and the
		// degenerate roots fail already at generation 0.
		if wantOrig := w.status == record.Kept || (w.filter != FilterRefusal && w.filter != FilterDegenerate && w.filter != FilterTruncated); wantOrig != (orig.Status == record.Kept) {
			t.Errorf("%s: original is %s (%v)", root, orig.Status, orig.Reasons())
		}
		parent := root
		for g, r := range recs[1:] {
			if metaInt(r.Meta[MetaGeneration]) != g+1 || r.Meta[MetaParentID] != parent || r.Prov.ParentIDs[0] != parent {
				t.Errorf("%s g%d: generation %v parent %v (provenance %v), want parent %s", root, g+1, r.Meta[MetaGeneration], r.Meta[MetaParentID], r.Prov.ParentIDs, parent)
			}
			op, _ := r.Meta[MetaOperation].(string)
			if r.Meta[MetaDirection] != Direction(op) || r.Prov.Params["operation"] != op || len(r.Prov.TemplateHash) != 64 {
				t.Errorf("%s g%d: operation %q direction %v params %v", root, g+1, op, r.Meta[MetaDirection], r.Prov.Params)
			}
			if r.Status != w.status || failedFilter(r) != w.filter {
				t.Errorf("%s g%d: %s by %q (%v %q), want %s by %q", root, g+1, r.Status, failedFilter(r), r.Reasons(), r.Error, w.status, w.filter)
			}
			if r.Status == record.Kept {
				if r.Output == "" || len(r.Decisions) != 7 || !strings.HasPrefix(r.Instruction, r.Meta[MetaParent].(string)) {
					t.Errorf("%s g%d: kept with output %q, decisions %v, instruction %q", root, g+1, r.Output, r.Decisions, r.Instruction)
				}
				parent = r.ID
			} else if r.Status == record.Rejected && r.Output != "" && w.filter != FilterRefusal && w.filter != FilterDegenerate && w.filter != FilterTruncated {
				t.Errorf("%s g%d: eliminated before the answer, yet answered %q", root, g+1, r.Output)
			}
		}
	}
	// Put back: a chain whose every evolution failed evolves its root each time.
	for _, r := range chains["prompts-001"][1:] {
		if r.Meta[MetaParent] != "Summarise the plot of Hamlet. [leak]" {
			t.Errorf("failed evolutions were not put back: parent %q", r.Meta[MetaParent])
		}
	}
	if e := chains["prompts-007"][1].Error; !strings.Contains(e, "no verdict") {
		t.Errorf("judge without a verdict: error %q", e)
	}
	// Each model got only its own requests.
	for _, req := range srv.Log() {
		first := req.Messages[0].Content
		var want string
		switch {
		case strings.HasPrefix(first, "Two tasks"):
			want = "critic"
		case opOf(first) != "":
			want = "teacher"
		default:
			want = "student"
		}
		if req.Model != want {
			t.Fatalf("a request for %s went to %s: %.60q", want, req.Model, first)
		}
	}
}

func TestOperationWeights(t *testing.T) {
	s := newStage(t, func(c *Config) { c.Operations = map[string]float64{OpBreadth: 1, OpConstraints: 3} })
	count := map[string]int{}
	r := genkit.UnitRand("evol", 1, &pipeline.Env{Name: "x"}, "y")
	const n = 40000
	for range n {
		count[s.s.draw(r)]++
	}
	if len(count) != 2 || math.Abs(float64(count[OpConstraints])/n-0.75) > 0.01 {
		t.Errorf("draws %v, want constraints 75%% and breadth 25%% only", count)
	}
	// Only constraints: every evolution adds a constraint.
	s = newStage(t, func(c *Config) { c.Operations = map[string]float64{OpConstraints: 1}; c.Generations = 2 })
	st, _ := run(t, s, "Describe the water cycle.")
	recs := st.All("evolved")
	if len(recs) != 3 || recs[2].Instruction != "Describe the water cycle.. Answer in exactly three bullet points (c1). Answer in exactly three bullet points (c2)" {
		t.Errorf("records %d, last instruction %q", len(recs), recs[len(recs)-1].Instruction)
	}
}

func TestSeedsAndLimit(t *testing.T) {
	dir := t.TempDir()
	txt := filepath.Join(dir, "seeds.txt")
	os.WriteFile(txt, []byte("Explain gravity.\n\nName a color.\nDescribe rain.\n"), 0o644)
	jsonl := filepath.Join(dir, "seeds.jsonl")
	os.WriteFile(jsonl, []byte(`{"id":"a","instruction":"Sort the list.","input":"3, 1, 2","output":"1, 2, 3"}`+"\n"+
		`{"prompt":"Explain tides."}`+"\n"), 0o644)
	for _, tc := range []struct {
		seeds string
		limit int
		roots []string
	}{
		{txt, 0, []string{"line-1", "line-3", "line-4"}},
		{txt, 2, []string{"line-1", "line-3"}},
		{jsonl, 0, []string{"a", "line-2"}},
		{"en", 3, nil},
	} {
		s := newStage(t, func(c *Config) { c.Seeds = tc.seeds; c.Limit = tc.limit; c.Generations = 1 })
		st := pipelinetest.NewMemStore()
		// No input stage: the seeds are the input.
		if err := s.Run(context.Background(), stagetest.Env(t, server(t), st, "evolved", "")); err != nil {
			t.Fatal(err)
		}
		chains := byRoot(st.All("evolved"))
		n := len(tc.roots)
		if n == 0 {
			n = tc.limit
		}
		if len(chains) != n {
			t.Errorf("%s limit %d: %d chains, want %d", tc.seeds, tc.limit, len(chains), n)
		}
		for _, root := range tc.roots {
			if len(chains[root]) != 2 {
				t.Errorf("%s: chain %s has %d records", tc.seeds, root, len(chains[root]))
			}
		}
		if tc.seeds == jsonl {
			orig := chains["a"][0]
			if orig.Input != "3, 1, 2" || orig.Output != "1, 2, 3" || !strings.HasPrefix(chains["a"][1].Meta[MetaParent].(string), "Sort the list.\n\n3, 1, 2") {
				t.Errorf("seed with input and output: original %+v, evolved from %q", orig, chains["a"][1].Meta[MetaParent])
			}
		}
	}
	// A limit on an input stage evolves its first records only.
	s := newStage(t, func(c *Config) { c.Limit = 1; c.Generations = 1 })
	st, _ := run(t, s, "One.", "Two.")
	if len(byRoot(st.All("evolved"))) != 1 {
		t.Errorf("limit 1 over an input stage: %d chains", len(byRoot(st.All("evolved"))))
	}
	if err := newStage(t, nil).Run(context.Background(), stagetest.Env(t, server(t), pipelinetest.NewMemStore(), "evolved", "")); err == nil || !strings.Contains(err.Error(), "no instructions") {
		t.Errorf("no input and no seeds: %v", err)
	}
}

func TestJapanese(t *testing.T) {
	s := newStage(t, func(c *Config) {
		c.Language = "ja"
		c.Generations = 2
		c.Operations = map[string]float64{OpConcretize: 1}
	})
	st, srv := run(t, s, "日本の四季について説明してください。", "俳句を一つ作ってください。[ja-refuse]")
	chains := byRoot(st.All("evolved"))
	if r := chains["prompts-000"][2]; r.Status != record.Kept {
		t.Errorf("Japanese chain: %s %v", r.Status, r.Reasons())
	}
	if r := chains["prompts-001"][1]; r.Status != record.Rejected || failedFilter(r) != FilterRefusal {
		t.Errorf("Japanese refusal: %s %v", r.Status, r.Reasons())
	}
	for _, req := range srv.Log() {
		if first := req.Messages[0].Content; strings.HasPrefix(first, "Rewrite") || strings.HasPrefix(first, "Two tasks") {
			t.Fatalf("an English prompt in a Japanese run: %.40q", first)
		}
	}
}

func TestResumeIdentical(t *testing.T) {
	prompts := []string{"Explain why the sky is blue.", "Describe a sunset. [para]", "Plan a picnic. [fixable]", "Name a prime number. [refuse]"}
	dump := func(st *pipelinetest.MemStore) string {
		b, _ := json.Marshal(st.All("evolved"))
		return string(b)
	}
	srv := server(t)
	ref := pipelinetest.NewMemStore()
	stagetest.Seed(t, ref, "prompts", prompts...)
	if err := newStage(t, nil).Run(context.Background(), stagetest.Env(t, srv, ref, "evolved", "prompts")); err != nil {
		t.Fatal(err)
	}
	for _, crash := range []int{0, 1, 3} {
		st := pipelinetest.NewMemStore()
		stagetest.Seed(t, st, "prompts", prompts...)
		env := stagetest.Env(t, srv, st, "evolved", "prompts")
		env.Store = &pipelinetest.CrashStore{MemStore: st, N: crash}
		if err := newStage(t, nil).Run(context.Background(), env); !errors.Is(err, pipelinetest.ErrCrash) {
			t.Fatalf("crash after %d: %v", crash, err)
		}
		if err := newStage(t, nil).Run(context.Background(), stagetest.Env(t, srv, st, "evolved", "prompts")); err != nil {
			t.Fatal(err)
		}
		if dump(st) != dump(ref) {
			t.Fatalf("crash after %d commits: the resumed run differs", crash)
		}
	}
}

func TestSummarize(t *testing.T) {
	s := newStage(t, nil)
	st, _ := run(t, s, "Explain why the sky is blue.", "Summarise Hamlet. [leak]", "Describe a sunset. [para]", "Compare two sorting algorithms. [noverdict]")
	rep, err := Summarize(context.Background(), st, "evolved")
	if err != nil {
		t.Fatal(err)
	}
	if rep.All.Tried != 16 || rep.All.Kept != 4 || rep.All.Failed != 4 || rep.All.Eliminated[FilterLeak] != 4 || rep.All.Eliminated[FilterEqual] != 4 || rep.All.Rate != 0.25 {
		t.Errorf("all: %+v", rep.All)
	}
	tried := 0
	for _, o := range rep.Operations {
		tried += o.Tried
		if o.Rate != float64(o.Kept)/float64(o.Tried) {
			t.Errorf("%s: rate %v", o.Name, o.Rate)
		}
	}
	if tried != 16 || len(rep.Generations) != 4 || rep.Generations[0].Tried != 4 {
		t.Errorf("operations tried %d, generations %+v", tried, rep.Generations)
	}
	golden.Text(t, "report", rep.String())
}

func TestConfigErrors(t *testing.T) {
	for _, c := range []Config{
		{Generations: 4},
		{Model: "m"},
		{Model: "m", Generations: 4, Language: "fr"},
		{Model: "m", Generations: 4, Operations: map[string]float64{"shorten": 1}},
		{Model: "m", Generations: 4, Operations: map[string]float64{OpBreadth: 0}},
		{Model: "m", Generations: 4, Operations: map[string]float64{OpBreadth: -1}},
		{Model: "m", Generations: 4, Limit: -1},
		{Model: "m", Generations: 4, Seeds: "no/such/file.jsonl"},
	} {
		if err := c.Validate(); err == nil || !strings.HasPrefix(err.Error(), "evol: ") {
			t.Errorf("Validate(%+v) = %v", c, err)
		}
	}
	c := DefaultConfig()
	c.Model = "m"
	if err := c.Validate(); err != nil {
		t.Errorf("defaults: %v", err)
	}
}

// TestStageDocExample parses the snippet `synthloop stages` shows.
func TestStageDocExample(t *testing.T) {
	st, ok := pipeline.Lookup("evol")
	if !ok || st.Doc == "" {
		t.Fatal("evol is not registered with a doc")
	}
	var b strings.Builder
	b.WriteString("name: t\nmodels:\n  teacher: {ref: ollama/x}\nstages:\n  - name: first\n    type: evol\n    with: {model: teacher, seeds: en}\n")
	for _, l := range strings.Split(strings.TrimRight(st.Example, "\n"), "\n") {
		b.WriteString("  " + l + "\n")
	}
	if _, err := pipeline.ParseConfig("evol.yaml", []byte(b.String())); err != nil {
		t.Errorf("the documented example does not parse: %v\n%s", err, b.String())
	}
	bad := strings.Replace(b.String(), "generations: 4", "generations: 4\n      judge_model: nobody", 1)
	if _, err := pipeline.ParseConfig("evol.yaml", []byte(bad)); err == nil || !strings.Contains(err.Error(), "judge_model") {
		t.Errorf("an unknown judge_model: %v", err)
	}
}
