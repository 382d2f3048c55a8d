package selfinstruct

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/text"
)

func mustNew(t *testing.T, c *Config) *Stage {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func cfg(mut func(*Config)) *Config {
	c := DefaultConfig()
	c.Model = "teacher"
	c.Target = 40
	if mut != nil {
		mut(c)
	}
	return c
}

func TestBootstrapEndToEnd(t *testing.T) {
	st := newMemStore()
	env, prog := newEnv(st, scriptedTeacher(), "instructions", "")
	if err := mustNew(t, cfg(nil)).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	all := st.all("instructions", "")
	kept := st.all("instructions", record.Kept)
	if len(kept) < 40 {
		t.Fatalf("kept %d, want at least the target 40", len(kept))
	}
	filters := map[string]int{}
	for _, r := range all {
		if r.Prov.Generator != "selfinstruct" || r.Prov.Model != "scripted" || r.Prov.Backend != "scripted" ||
			len(r.Prov.TemplateHash) != 64 || len(r.Prov.RequestKeys) != 1 || r.Prov.Params["temperature"] != 0.7 ||
			!r.Prov.CreatedAt.Equal(testClock()) || len(r.Prov.SeedIDs) == 0 {
			t.Fatalf("incomplete provenance: %+v", r.Prov)
		}
		switch r.Status {
		case record.Rejected:
			if len(r.Reasons()) == 0 {
				t.Errorf("rejected record %s has no reason", r.ID)
			}
			for _, d := range r.Decisions {
				if !d.Passed {
					filters[d.Filter]++
				}
			}
		case record.Kept:
			if r.Meta["most_similar"] == nil || r.Meta["avg_similarity"] == nil {
				t.Errorf("kept record %s lacks similarity meta: %v", r.ID, r.Meta)
			}
		}
	}
	// The scripted teacher's faults are random; in a run this size the
	// novelty filter and several static filters must each have caught some.
	if filters["novelty"] == 0 || len(filters) < 4 {
		t.Errorf("rejections by filter: %v, want novelty and at least three others", filters)
	}
	if prog.total != 40 || prog.units != 40 || prog.kept != len(kept) || prog.kept+prog.rej+prog.fails != len(all) {
		t.Errorf("progress = %+v, want total 40 and counts matching %d records", prog, len(all))
	}
	// Later batches show machine instructions: 2 of 8 when the pool has them.
	last := all[len(all)-1]
	if len(last.Prov.ParentIDs) != 2 || len(last.Prov.SeedIDs) != 6 {
		t.Errorf("last batch showed %d machine and %d seed tasks, want 2 and 6", len(last.Prov.ParentIDs), len(last.Prov.SeedIDs))
	}
	if first := all[0]; len(first.Prov.ParentIDs) != 0 || len(first.Prov.SeedIDs) != 8 {
		t.Errorf("first batch showed %d machine and %d seed tasks, want 0 and 8", len(first.Prov.ParentIDs), len(first.Prov.SeedIDs))
	}
}

// TestResumeIdentical kills the run at every possible commit and checks that
// resuming gives the uninterrupted run's records, record for record.
func TestResumeIdentical(t *testing.T) {
	ref := newMemStore()
	env, _ := newEnv(ref, scriptedTeacher(), "instructions", "")
	if err := mustNew(t, cfg(nil)).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	want := dump(t, ref.all("instructions", ""))
	for crash := 1; crash < ref.commits; crash++ {
		st := newMemStore()
		st.failAfter = crash
		env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
		if err := mustNew(t, cfg(nil)).Run(context.Background(), env); !errors.Is(err, errCrash) {
			t.Fatalf("crash at %d: Run = %v, want the crash", crash, err)
		}
		st.failAfter = 0
		env, prog := newEnv(st, scriptedTeacher(), "instructions", "")
		if err := mustNew(t, cfg(nil)).Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		if prog.units != 40 {
			t.Errorf("crash after %d: resumed progress reached %d of 40", crash, prog.units)
		}
		if got := dump(t, st.all("instructions", "")); got != want {
			t.Fatalf("crash after %d commits: resumed run differs from the uninterrupted one", crash)
		}
	}
	// A rerun of a finished stage sends nothing.
	cb := &countingBackend{Backend: scriptedTeacher()}
	env, _ = newEnv(ref, cb, "instructions", "")
	if err := mustNew(t, cfg(nil)).Run(context.Background(), env); err != nil || cb.calls != 0 {
		t.Errorf("rerun: err %v, %d calls, want none", err, cb.calls)
	}
}

func dump(t *testing.T, recs []*record.Record) string {
	t.Helper()
	b, err := json.MarshalIndent(recs, "", " ")
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestTargetCommitsCrossingBatchWhole(t *testing.T) {
	st := newMemStore()
	env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
	env.Concurrency = 4
	if err := mustNew(t, cfg(func(c *Config) { c.Target = 5 })).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	kept := st.all("instructions", record.Kept)
	last := kept[len(kept)-1].Seq / 1000
	var before int
	for _, r := range kept {
		if r.Seq/1000 < last {
			before++
		}
	}
	if before >= 5 || len(kept) < 5 {
		t.Errorf("kept %d (%d before the last batch): the stage should stop right after the batch that reaches 5", len(kept), before)
	}
	if st.commits != int(last)+1 {
		t.Errorf("%d batches committed, want %d: later batches of the wave are not committed", st.commits, last+1)
	}
}

func TestMaxBatches(t *testing.T) {
	st := newMemStore()
	env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
	if err := mustNew(t, cfg(func(c *Config) { c.Target = 1000; c.MaxBatches = 4 })).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	if st.commits != 4 {
		t.Errorf("committed %d batches, want max_batches 4", st.commits)
	}
}

func TestLengthReplyDroppedWhole(t *testing.T) {
	b := funcBackend(func(req model.Request) (*model.Response, error) {
		return &model.Response{Choices: []model.Choice{{Text: " Explain tides to a child in simple words.\n10. Describe how", FinishReason: model.FinishLength}}}, nil
	})
	st := newMemStore()
	env, _ := newEnv(st, b, "instructions", "")
	if err := mustNew(t, cfg(func(c *Config) { c.MaxBatches = 2 })).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	all := st.all("instructions", "")
	if len(all) != 2 {
		t.Fatalf("got %d records, want one rejected record per batch", len(all))
	}
	for _, r := range all {
		if r.Status != record.Rejected || r.Decisions[0].Filter != "finish_length" || r.Meta["response"] == "" {
			t.Errorf("record %+v, want a rejected batch with finish_length", r)
		}
	}
}

func TestModelErrorRecorded(t *testing.T) {
	b := funcBackend(func(req model.Request) (*model.Response, error) { return nil, errors.New("boom 500") })
	st := newMemStore()
	env, prog := newEnv(st, b, "instructions", "")
	if err := mustNew(t, cfg(func(c *Config) { c.MaxBatches = 3 })).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	all := st.all("instructions", record.Failed)
	if len(all) != 3 || !strings.Contains(all[0].Error, "boom 500") || prog.fails != 3 {
		t.Errorf("failed records = %d (%v), want 3 with the error", len(all), all)
	}
	// A budget stop is a clean stop of the run, not a record failure.
	b = funcBackend(func(req model.Request) (*model.Response, error) { return nil, model.ErrBudgetExceeded })
	st = newMemStore()
	env, _ = newEnv(st, b, "instructions", "")
	if err := mustNew(t, cfg(nil)).Run(context.Background(), env); !errors.Is(err, model.ErrBudgetExceeded) || st.commits != 0 {
		t.Errorf("budget: Run = %v with %d commits, want ErrBudgetExceeded and none", err, st.commits)
	}
}

func TestAlpacaMode(t *testing.T) {
	st := newMemStore()
	env, _ := newEnv(st, scriptedTeacher(), "alpaca", "")
	if err := mustNew(t, cfg(func(c *Config) { c.Mode = ModeAlpaca; c.Target = 30 })).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	kept := st.all("alpaca", record.Kept)
	if len(kept) < 30 {
		t.Fatalf("kept %d, want 30", len(kept))
	}
	withInput := 0
	for _, r := range kept {
		if r.Output == "" || strings.Contains(r.Input, "<noinput>") {
			t.Errorf("kept alpaca record %+v lacks output or kept <noinput>", r)
		}
		if r.Input != "" {
			withInput++
		}
		if len(r.Prov.SeedIDs) != 3 || len(r.Prov.ParentIDs) != 0 || r.Prov.Params["temperature"] != 1.0 {
			t.Errorf("alpaca provenance %+v, want 3 seeds, no machine tasks, T=1", r.Prov)
		}
	}
	if withInput == 0 || withInput == len(kept) {
		t.Errorf("%d of %d kept have input, want a mix", withInput, len(kept))
	}
}

func TestJapaneseRun(t *testing.T) {
	st := newMemStore()
	env, _ := newEnv(st, scriptedTeacher(), "ja", "")
	s := mustNew(t, cfg(func(c *Config) { c.Seeds = "ja"; c.Target = 20 }))
	if s.cfg.nonASCII || s.cfg.lang != "ja" || len(s.cfg.RejectPrefixes) != 2 {
		t.Fatalf("ja run: nonASCII %v lang %q, want the ASCII rule off", s.cfg.nonASCII, s.cfg.lang)
	}
	if err := s.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	kept := st.all("ja", record.Kept)
	if len(kept) < 20 {
		t.Fatalf("kept %d, want 20", len(kept))
	}
	for _, r := range kept {
		if !strings.ContainsAny(r.Instruction, "てをにはのが") {
			t.Errorf("kept %q does not look Japanese", r.Instruction)
		}
	}
	var novelty int
	for _, r := range st.all("ja", record.Rejected) {
		for _, d := range r.Decisions {
			if d.Filter == "novelty" && !d.Passed {
				novelty++
			}
		}
	}
	if novelty == 0 {
		t.Error("no Japanese near-duplicate caught: the tokenizer must keep Japanese text")
	}
}

func TestInstancesStage(t *testing.T) {
	st := newMemStore()
	env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
	if err := mustNew(t, cfg(func(c *Config) { c.Target = 25 })).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	s, err := NewInstances(&InstancesConfig{Model: "teacher", MaxInstances: 5, ClassifyExamples: 16, InstanceExamples: 8,
		TopP: f64(0), PresencePenalty: f64(1.5), MaxTokensClassify: 300, MaxTokensGenerate: 350, ClassifyMaxTokens: 3})
	if err != nil {
		t.Fatal(err)
	}
	ienv, _ := newEnv(st, scriptedTeacher(), "instances", "instructions")
	if err := s.Run(context.Background(), ienv); err != nil {
		t.Fatal(err)
	}
	parents := map[string]bool{}
	var clf, gen int
	for _, r := range st.all("instances", "") {
		parents[r.Prov.ParentIDs[0]] = true
		if r.IsClassification == nil || r.Instruction == "" || len(r.Prov.RequestKeys) != 2 || len(r.Prov.TemplateHash) != 64 {
			t.Fatalf("instance record %+v incomplete", r)
		}
		if r.Status == record.Rejected && len(r.Reasons()) == 0 {
			t.Errorf("rejected %s without reason", r.ID)
		}
		if r.Status == record.Kept {
			if r.Output == "" {
				t.Errorf("kept instance without output: %+v", r)
			}
			if *r.IsClassification {
				clf++
			} else {
				gen++
			}
		}
	}
	if n := len(st.all("instructions", record.Kept)); len(parents) != n {
		t.Errorf("instances for %d instructions, want all %d", len(parents), n)
	}
	if clf == 0 || gen == 0 {
		t.Errorf("kept %d classification and %d other instances, want both", clf, gen)
	}
	// Resume: a second run does nothing.
	cb := &countingBackend{Backend: scriptedTeacher()}
	ienv, _ = newEnv(st, cb, "instances", "instructions")
	if err := s.Run(context.Background(), ienv); err != nil || cb.calls != 0 {
		t.Errorf("rerun: %v, %d calls", err, cb.calls)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		mut  func(*Config)
		want string
	}{
		{"no model", func(c *Config) { c.Model = "" }, "model: required"},
		{"mode", func(c *Config) { c.Mode = "evol" }, "mode: unknown"},
		{"language", func(c *Config) { c.Language = "fr" }, "language: unknown"},
		{"target", func(c *Config) { c.Target = 0 }, "target"},
		{"stop", func(c *Config) { c.StopAtItem = 5 }, "stop_at_item"},
		{"words", func(c *Config) { c.MinWords = 200 }, "min_words"},
		{"blacklist", func(c *Config) { c.Blacklist = Blacklist{Preset: "nope"} }, "blacklist"},
		{"seeds", func(c *Config) { c.Seeds = "/no/such/file.jsonl" }, "seeds"},
		{"tokenizer", func(c *Config) { c.Tokenizer = "nope" }, "tokenizer"},
		{"mean", func(c *Config) { c.MeanSimilarity = "median" }, "mean_similarity"},
		{"rejected similar", func(c *Config) { c.RejectedSimilar = "all" }, "rejected_similar"},
		{"clf alpaca", func(c *Config) { c.ClassificationOnly = true; c.Mode = ModeAlpaca }, "classification_only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(cfg(tc.mut))
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "selfinstruct: ") {
				t.Errorf("New = %v, want an error about %s", err, tc.want)
			}
		})
	}
}

func TestModeDefaults(t *testing.T) {
	s := mustNew(t, cfg(nil))
	if got := []any{s.cfg.SeedTasks, s.cfg.machineTasks, s.cfg.StopAtItem, s.cfg.temperature, *s.cfg.topP, *s.cfg.presence, s.cfg.MaxTokens, len(s.cfg.blacklist), s.cfg.nonASCII}; !reflect.DeepEqual(got, []any{6, 2, 16, 0.7, 0.5, 2.0, 1024, 13, true}) {
		t.Errorf("selfinstruct defaults = %v", got)
	}
	a := mustNew(t, cfg(func(c *Config) { c.Mode = ModeAlpaca }))
	if got := []any{a.cfg.SeedTasks, a.cfg.machineTasks, a.cfg.StopAtItem, a.cfg.temperature, *a.cfg.topP, a.cfg.presence == nil, a.cfg.MaxTokens, len(a.cfg.blacklist)}; !reflect.DeepEqual(got, []any{3, 0, 20, 1.0, 1.0, true, 3072, 18}) {
		t.Errorf("alpaca defaults = %v", got)
	}
	zero := 0
	o := mustNew(t, cfg(func(c *Config) { c.MachineTasks = &zero; c.Blacklist = Blacklist{Words: []string{"foo"}} }))
	if o.cfg.machineTasks != 0 || !reflect.DeepEqual(o.cfg.blacklist, []string{"foo"}) {
		t.Errorf("overrides not applied: %d %v", o.cfg.machineTasks, o.cfg.blacklist)
	}
}

// TestCancelKeepsFinishedBatches cancels the run while a wave is in flight:
// replies that arrived are committed, the rest are not, and the run stops.
func TestCancelKeepsFinishedBatches(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	teacher := scriptedTeacher()
	var mu sync.Mutex
	calls := 0
	b := funcBackend(func(req model.Request) (*model.Response, error) {
		mu.Lock()
		calls++
		n := calls
		mu.Unlock()
		if n >= 7 { // the second wave: two replies arrive, then the user presses Ctrl-C
			cancel()
			return nil, context.Canceled
		}
		return teacher.Generate(context.Background(), req)
	})
	st := newMemStore()
	env, _ := newEnv(st, b, "instructions", "")
	err := mustNew(t, cfg(func(c *Config) { c.Concurrency = 4 })).Run(ctx, env)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run = %v, want context.Canceled", err)
	}
	// The first wave, plus the replies of the second that precede, in batch
	// order, the first cancelled one.
	if st.commits < 4 || st.commits > 6 {
		t.Errorf("%d batches committed, want the first wave of 4 and at most 2 more", st.commits)
	}
}

// TestInstancesFollowInstructionLanguage runs the instances stage with no
// language set on Japanese instructions: it must use the Japanese prompts.
func TestInstancesFollowInstructionLanguage(t *testing.T) {
	st := newMemStore()
	env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
	if err := mustNew(t, cfg(func(c *Config) { c.Seeds = "ja"; c.Target = 5 })).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	icfg := DefaultInstancesConfig()
	icfg.Model = "teacher"
	s, err := NewInstances(icfg)
	if err != nil {
		t.Fatal(err)
	}
	ienv, _ := newEnv(st, scriptedTeacher(), "instances", "instructions")
	if err := s.Run(context.Background(), ienv); err != nil {
		t.Fatal(err)
	}
	ja := s.langs["ja"]
	for _, r := range st.all("instances", record.Kept) {
		if r.Prov.TemplateHash != ja.gen.Hash && r.Prov.TemplateHash != ja.clf.Hash {
			t.Errorf("instance of %q made with a non-Japanese prompt", r.Instruction)
		}
		if !strings.HasPrefix(r.Prov.SeedIDs[0], "ja_") {
			t.Errorf("few-shot seeds %v are not the Japanese set", r.Prov.SeedIDs)
		}
	}
}

// TestExactMeanMatchesBruteForce checks the stored similarity meta against a
// brute-force computation over the seeds and the kept instructions before it.
func TestExactMeanMatchesBruteForce(t *testing.T) {
	st := newMemStore()
	env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
	s := mustNew(t, cfg(func(c *Config) { c.Target = 15; c.MeanSimilarity = "exact" }))
	if err := s.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	var pool []string
	for _, task := range s.seeds {
		pool = append(pool, task.Instruction)
	}
	for _, r := range st.all("instructions", record.Kept) {
		var sum, best float64
		for _, p := range pool {
			f := text.RougeLText(s.tok, p, r.Instruction).F
			sum += f
			best = max(best, f)
		}
		if got := r.Meta["avg_similarity"].(float64); math.Abs(got-sum/float64(len(pool))) > 1e-9 || r.Meta["avg_similarity_exact"] != true {
			t.Errorf("%s: avg_similarity %v, brute force %v", r.ID, got, sum/float64(len(pool)))
		}
		if got := r.Meta["max_similarity"].(float64); got != best || best > 0.7 {
			t.Errorf("%s: max_similarity %v, brute force %v", r.ID, got, best)
		}
		if n := len(r.Meta["most_similar"].([]any)); n != 10 {
			t.Errorf("%s: %d most similar, want 10", r.ID, n)
		}
		pool = append(pool, r.Instruction)
	}
	// Every novelty decision, kept or not, agrees with brute force over the
	// seeds and everything kept before it, earlier in the same batch included.
	pool = pool[:len(s.seeds)]
	checked := 0
	for _, r := range st.all("instructions", "") {
		for _, d := range r.Decisions {
			if d.Filter != "novelty" {
				continue
			}
			var best float64
			for _, p := range pool {
				best = max(best, text.RougeLText(s.tok, p, r.Instruction).F)
			}
			if d.Passed != (best <= 0.7) || d.Value != best {
				t.Errorf("%s %q: novelty passed=%v value=%v, brute force max %v", r.ID, r.Instruction, d.Passed, d.Value, best)
			}
			checked++
		}
		if r.Status == record.Kept {
			pool = append(pool, r.Instruction)
		}
	}
	if checked == 0 {
		t.Fatal("no novelty decisions checked")
	}
}

func TestNoveltyWithinBatch(t *testing.T) {
	b := funcBackend(func(req model.Request) (*model.Response, error) {
		return &model.Response{Choices: []model.Choice{{FinishReason: model.FinishStop, Text: " Describe how glaciers shape mountain valleys over time.\n" +
			"10. Describe how glaciers shape mountain valleys over long periods of time.\n" +
			"11. Plan a weekend bird-watching trip for two beginners."}}}, nil
	})
	st := newMemStore()
	env, _ := newEnv(st, b, "instructions", "")
	if err := mustNew(t, cfg(func(c *Config) { c.MaxBatches = 1 })).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	var got []record.Status
	for _, r := range st.all("instructions", "") {
		got = append(got, r.Status)
	}
	if !reflect.DeepEqual(got, []record.Status{record.Kept, record.Rejected, record.Kept}) {
		t.Fatalf("statuses %v, want the near-duplicate second item rejected", got)
	}
	r := st.all("instructions", record.Rejected)[0]
	if reasons := r.Reasons(); len(reasons) != 1 || !strings.Contains(reasons[0], "Describe how glaciers shape mountain valleys over time.") {
		t.Errorf("reasons %v, want novelty against the first item of the batch", reasons)
	}
}

func TestInstancesFailuresRecorded(t *testing.T) {
	st := newMemStore()
	env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
	if err := mustNew(t, cfg(func(c *Config) { c.Target = 5 })).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	icfg := DefaultInstancesConfig()
	icfg.Model = "teacher"
	s, err := NewInstances(icfg)
	if err != nil {
		t.Fatal(err)
	}
	calls := 0
	var mu sync.Mutex
	b := funcBackend(func(req model.Request) (*model.Response, error) {
		mu.Lock()
		defer mu.Unlock()
		if req.MaxTokens == 3 { // the classification question
			calls++
			if calls%2 == 0 {
				return nil, errors.New("503 overloaded")
			}
			return &model.Response{Choices: []model.Choice{{Text: "Maybe"}}}, nil
		}
		return &model.Response{Choices: []model.Choice{{Text: "I cannot help with that."}}}, nil
	})
	ienv, _ := newEnv(st, b, "instances", "instructions")
	ienv.Concurrency = 1
	if err := s.Run(context.Background(), ienv); err != nil {
		t.Fatal(err)
	}
	n := len(st.all("instructions", record.Kept))
	all := st.all("instances", "")
	if len(all) != n {
		t.Fatalf("%d records for %d instructions, want one each", len(all), n)
	}
	var failed, unparsed int
	for _, r := range all {
		switch {
		case r.Status == record.Failed && strings.Contains(r.Error, "503 overloaded"):
			failed++
		case r.Status == record.Rejected && r.Decisions[0].Filter == "parse" && r.Meta["classify_note"] != nil && !*r.IsClassification:
			unparsed++
		default:
			t.Errorf("unexpected record %+v", r)
		}
	}
	if failed == 0 || unparsed == 0 {
		t.Errorf("failed %d, unparsed %d: want both", failed, unparsed)
	}
}

func TestClassificationOnly(t *testing.T) {
	st := newMemStore()
	env, _ := newEnv(st, scriptedTeacher(), "clf", "")
	s := mustNew(t, cfg(func(c *Config) { c.ClassificationOnly = true; c.Target = 5 }))
	for _, task := range s.seeds {
		if !task.IsClassification {
			t.Fatalf("seed %s is not a classification task", task.ID)
		}
	}
	if err := s.Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	kept := st.all("clf", record.Kept)
	clf := 0
	for _, r := range kept {
		if scripted.IsClassificationTask(r.Instruction) {
			clf++
		}
	}
	if len(kept) < 5 || clf*2 < len(kept) {
		t.Errorf("kept %d, %d of them classification tasks: want 5, mostly classification", len(kept), clf)
	}
}

// TestInstancesUseKnownClassification skips the classification question when
// the input record already says whether its task is one.
func TestInstancesUseKnownClassification(t *testing.T) {
	st := newMemStore()
	yes := true
	in := &record.Record{ID: "imported:1", Stage: "imported", Seq: 1, Status: record.Kept, Instruction: "Write a poem about rain.", IsClassification: &yes}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "imported", Key: "u1", Records: []*record.Record{in}}); err != nil {
		t.Fatal(err)
	}
	icfg := DefaultInstancesConfig()
	icfg.Model = "teacher"
	s, err := NewInstances(icfg)
	if err != nil {
		t.Fatal(err)
	}
	var asked []int
	b := funcBackend(func(req model.Request) (*model.Response, error) {
		asked = append(asked, req.MaxTokens)
		return &model.Response{Choices: []model.Choice{{Text: "Class label: Poem\nInput: rain"}}}, nil
	})
	ienv, _ := newEnv(st, b, "instances", "imported")
	if err := s.Run(context.Background(), ienv); err != nil {
		t.Fatal(err)
	}
	out := st.all("instances", record.Kept)
	if !reflect.DeepEqual(asked, []int{300}) || len(out) != 1 || !*out[0].IsClassification || len(out[0].Prov.RequestKeys) != 1 {
		t.Errorf("asked %v, got %+v: want only the output-first instance request", asked, out)
	}
}

// TestRejectedSimilarMax checks rejected_similar: max against the default
// run: the same records, decisions and scores, except that a rejected
// record's most_similar holds only the first of the default's list.
func TestRejectedSimilarMax(t *testing.T) {
	var runs [2][]*record.Record
	for i, mode := range []string{"", "max"} {
		st := newMemStore()
		env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
		if err := mustNew(t, cfg(func(c *Config) { c.RejectedSimilar = mode })).Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		runs[i] = st.all("instructions", "")
	}
	full, short := runs[0], runs[1]
	if len(full) != len(short) {
		t.Fatalf("%d records with rejected_similar: max, %d without", len(short), len(full))
	}
	narrowed := 0
	for i, r := range full {
		if list, ok := r.Meta["most_similar"].([]any); ok && r.Status == record.Rejected && len(list) > 1 {
			r.Meta["most_similar"] = list[:1]
			narrowed++
		}
		if a, b := dump(t, []*record.Record{r}), dump(t, []*record.Record{short[i]}); a != b {
			t.Fatalf("record %d differs:\n%s\nwant\n%s", i, b, a)
		}
	}
	if narrowed == 0 {
		t.Error("no rejected record had a list to narrow: the test shows nothing")
	}
}

// TestRejectedSimilarFirst checks rejected_similar: first against the
// default run: the same records with the same statuses and decisions
// (filter and verdict), kept records byte for byte; a record rejected for
// novelty lists one instruction, whose score is its decision's value and
// max_similarity: above the threshold, at most the default's maximum. The
// run is long (300 kept) so that well over a hundred records are rejected
// for novelty.
func TestRejectedSimilarFirst(t *testing.T) {
	var runs [2][]*record.Record
	for i, mode := range []string{"", "first"} {
		st := newMemStore()
		env, _ := newEnv(st, scriptedTeacher(), "instructions", "")
		if err := mustNew(t, cfg(func(c *Config) { c.RejectedSimilar, c.Target = mode, 300 })).Run(context.Background(), env); err != nil {
			t.Fatal(err)
		}
		runs[i] = st.all("instructions", "")
	}
	full, first := runs[0], runs[1]
	if len(full) != len(first) {
		t.Fatalf("%d records with rejected_similar: first, %d without", len(first), len(full))
	}
	threshold := DefaultConfig().NoveltyThreshold
	novelty, lower := 0, 0
	for i, r := range full {
		f := first[i]
		if r.Status == record.Kept || !slices.ContainsFunc(r.Decisions, func(d record.Decision) bool { return d.Filter == "novelty" && !d.Passed }) {
			if a, b := dump(t, []*record.Record{r}), dump(t, []*record.Record{f}); a != b {
				t.Fatalf("record %d differs:\n%s\nwant\n%s", i, b, a)
			}
			continue
		}
		novelty++
		if f.Status != r.Status || len(f.Decisions) != len(r.Decisions) {
			t.Fatalf("record %d: %s with %d decisions, want %s with %d", i, f.Status, len(f.Decisions), r.Status, len(r.Decisions))
		}
		for j, d := range r.Decisions {
			g := f.Decisions[j]
			if g.Filter != d.Filter || g.Passed != d.Passed {
				t.Fatalf("record %d: decision %+v, want %+v", i, g, d)
			}
			if d.Filter != "novelty" {
				continue
			}
			list, _ := f.Meta["most_similar"].([]any)
			if g.Value <= threshold || g.Value > d.Value || len(list) != 1 || f.Meta["max_similarity"] != g.Value ||
				list[0].(map[string]any)["score"] != g.Value || !strings.HasPrefix(g.Reason, "ROUGE-L ") {
				t.Fatalf("record %d: novelty %+v, most_similar %v, max_similarity %v; the default's value %v", i, g, list, f.Meta["max_similarity"], d.Value)
			}
			if g.Value < d.Value {
				lower++
			}
		}
	}
	if novelty == 0 {
		t.Fatal("no record was rejected for novelty: the test shows nothing")
	}
	t.Logf("%d records rejected for novelty, %d with a first score below the maximum", novelty, lower)
}
