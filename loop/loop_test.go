package loop_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/store"
)

// The fakes below script a loop's plugins per round, and count their calls
// so tests can check that a resumed loop repeats no finished step.

type calls struct {
	mu sync.Mutex
	m  map[string]int // "gen/2" -> calls
}

func (c *calls) add(step string, round int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = map[string]int{}
	}
	k := fmt.Sprintf("%s/%d", step, round)
	c.m[k]++
	return c.m[k]
}

func (c *calls) get(step string, round int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[fmt.Sprintf("%s/%d", step, round)]
}

// counters per test, keyed by the test's run directory.
var (
	countersMu sync.Mutex
	counters   = map[string]*calls{}
	inputs     = map[string][]loop.TrainInput{}
	earlier    = map[string][][]loop.Data{} // what each generate call saw of the rounds before
)

func counter(runDir string) *calls {
	countersMu.Lock()
	defer countersMu.Unlock()
	if counters[runDir] == nil {
		counters[runDir] = &calls{}
	}
	return counters[runDir]
}

type fakeGenConfig struct {
	N          int     `yaml:"n"`
	EmptyRound int     `yaml:"empty_round"`
	Cost       float64 `yaml:"cost"`
	Spin       float64 `yaml:"spin"` // CPU seconds to burn, from round 2 on
	// Metrics are reported beside yield (a phase's own metric).
	Metrics map[string]float64 `yaml:"metrics"`
}

type fakeGen struct{ c *fakeGenConfig }

func (g fakeGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	counter(r.RunDir).add("gen", r.Index)
	countersMu.Lock()
	earlier[r.RunDir] = append(earlier[r.RunDir], r.Earlier())
	countersMu.Unlock()
	if r.Index > 1 {
		if err := spin(ctx, g.c.Spin); err != nil {
			return loop.Data{}, err
		}
	}
	r.Budget.Charge(g.c.Cost)
	if r.Index == g.c.EmptyRound {
		return loop.Data{Generated: 5, CostUSD: g.c.Cost}, nil
	}
	var b strings.Builder
	for i := range g.c.N {
		fmt.Fprintf(&b, `{"messages":[{"role":"user","content":"q%d"},{"role":"assistant","content":"round %d answer %d"}]}`+"\n", i, r.Index, i)
	}
	p := filepath.Join(r.Dir, "data.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		return loop.Data{}, err
	}
	metrics := map[string]float64{"yield": float64(g.c.N) / float64(g.c.N+1)}
	maps.Copy(metrics, g.c.Metrics)
	return loop.Data{Path: p, Format: "sft", Generated: g.c.N + 1, Kept: g.c.N, CostUSD: g.c.Cost, Metrics: metrics}, nil
}

type fakeTrainConfig struct {
	FailRounds []int `yaml:"fail_rounds"` // ErrTrainingFailed
	CrashRound int   `yaml:"crash_round"` // a plain error, on the first call only
}

type fakeTrain struct{ c *fakeTrainConfig }

func (t fakeTrain) Train(ctx context.Context, r *loop.Round, in loop.TrainInput) (loop.Trained, error) {
	n := counter(r.RunDir).add("train", r.Index)
	countersMu.Lock()
	inputs[r.RunDir] = append(inputs[r.RunDir], in)
	countersMu.Unlock()
	for _, f := range t.c.FailRounds {
		if f == r.Index {
			return loop.Trained{}, fmt.Errorf("%w: job 7 failed: bad data", loop.ErrTrainingFailed)
		}
	}
	var job string
	if ok, err := r.Restore("job", &job); err != nil {
		return loop.Trained{}, err
	} else if !ok {
		job = fmt.Sprintf("job-%d-%d", r.Index, n)
		if err := r.Save(ctx, "job", job); err != nil {
			return loop.Trained{}, err
		}
	}
	if r.Index == t.c.CrashRound && n == 1 {
		return loop.Trained{}, errors.New("the trainer crashed")
	}
	r.Progress(10, 10, "loss 0.5")
	return loop.Trained{
		Student: loop.Model{Config: model.Config{Ref: "fake/" + job}},
		Steps:   10, FirstLoss: 2, LastLoss: 1 / float64(r.Index),
		Metrics: map[string]float64{"examples": float64(in.Data[len(in.Data)-1].Kept)},
	}, nil
}

type fakeEvalConfig struct {
	Scores []float64 `yaml:"scores"` // the student's score in round r is Scores[r-1]
}

type fakeEval struct{ c *fakeEvalConfig }

// Evaluate scores the student by its round and the teacher by the round
// whose student it was (0.5 for the first teacher).
func (e fakeEval) Evaluate(ctx context.Context, r *loop.Round, student, teacher loop.Model) (loop.Eval, error) {
	counter(r.RunDir).add("eval", r.Index)
	score := func(m loop.Model) float64 {
		var round, call int
		if _, err := fmt.Sscanf(m.Ref(), "fake/job-%d-%d", &round, &call); err == nil {
			return e.c.Scores[round-1]
		}
		return 0.5
	}
	s, t := score(student), score(teacher)
	return loop.Eval{Metric: "accuracy", Student: s, Teacher: t, Metrics: map[string]float64{"accuracy": s, "teacher_accuracy": t},
		ByDifficulty: map[int]float64{1: 1, 2: s}}, nil
}

func init() {
	loop.RegisterGenerator(loop.Type[loop.Generator]{Name: "fake-gen", Config: func() any { return &fakeGenConfig{N: 3} },
		New: func(c any) (loop.Generator, error) { return fakeGen{c.(*fakeGenConfig)}, nil }})
	loop.RegisterTrainer(loop.Type[loop.Trainer]{Name: "fake-train", Config: func() any { return &fakeTrainConfig{} },
		New: func(c any) (loop.Trainer, error) { return fakeTrain{c.(*fakeTrainConfig)}, nil }})
	loop.RegisterEvaluator(loop.Type[loop.Evaluator]{Name: "fake-eval", Config: func() any { return &fakeEvalConfig{} },
		New: func(c any) (loop.Evaluator, error) { return fakeEval{c.(*fakeEvalConfig)}, nil }})
}

func parse(t *testing.T, text string) *loop.Config {
	t.Helper()
	cfg, err := loop.ParseConfig("loop.yaml", []byte(text))
	if err != nil {
		t.Fatalf("ParseConfig: %v", err)
	}
	return cfg
}

const fakeLoop = `name: fake
rounds: %d
patience: %d
margin: %g
max_cost_usd: %g
models:
  teacher: {ref: openai-compatible/t, base_url: "http://127.0.0.1:1/v1"}
teacher: teacher
generate: {type: fake-gen, with: {n: 3, empty_round: %d, cost: %g}}
train: {type: fake-train, with: {fail_rounds: [%d]}}
evaluate: {type: fake-eval, with: {scores: [%s]}}
`

func TestStopRulesAndPromotion(t *testing.T) {
	tests := []struct {
		name                  string
		rounds, patience      int
		margin, maxCost, cost float64
		emptyRound, failRound int
		scores                string
		wantRounds            int
		wantStopped           string
		wantPromoted          []bool
		wantTeacher           string
		wantReason            map[int]string // round -> substring
	}{
		{name: "all better", rounds: 3, scores: "0.6, 0.7, 0.8", wantRounds: 3, wantStopped: loop.StopRounds,
			wantPromoted: []bool{true, true, true}, wantTeacher: "fake/job-3-1",
			wantReason: map[int]string{1: "accuracy 0.6000 > teacher 0.5000 + margin 0"}},
		{name: "equal is not better", rounds: 2, scores: "0.5, 0.6", wantRounds: 2, wantStopped: loop.StopRounds,
			wantPromoted: []bool{false, true}, wantTeacher: "fake/job-2-1"},
		{name: "margin", rounds: 2, margin: 0.1, scores: "0.55, 0.65", wantRounds: 2, wantStopped: loop.StopRounds,
			wantPromoted: []bool{false, true}, wantReason: map[int]string{1: "<= teacher 0.5000 + margin 0.1"}},
		{name: "patience", rounds: 6, patience: 2, scores: "0.6, 0.4, 0.3, 0.9, 0.9, 0.9", wantRounds: 3, wantStopped: loop.StopPatience,
			wantPromoted: []bool{true, false, false}, wantTeacher: "fake/job-1-1"},
		{name: "budget", rounds: 9, maxCost: 2.5, cost: 1, scores: "0.6, 0.7, 0.8, 0.9", wantRounds: 3, wantStopped: loop.StopBudget,
			wantPromoted: []bool{true, true, true}},
		{name: "training failed", rounds: 3, failRound: 2, scores: "0.6, 0.9, 0.7", wantRounds: 3, wantStopped: loop.StopRounds,
			wantPromoted: []bool{true, false, true}, wantReason: map[int]string{2: "training failed: loop: training failed: job 7 failed: bad data"}},
		{name: "no data", rounds: 2, emptyRound: 1, scores: "0.9, 0.6", wantRounds: 2, wantStopped: loop.StopRounds,
			wantPromoted: []bool{false, true}, wantReason: map[int]string{1: "kept no records"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := parse(t, fmt.Sprintf(fakeLoop, tt.rounds, tt.patience, tt.margin, tt.maxCost, tt.emptyRound, tt.cost, tt.failRound, tt.scores))
			dir := t.TempDir()
			var rows []loop.RoundSummary
			sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir, OnRound: func(r loop.RoundSummary) { rows = append(rows, r) }})
			if err != nil {
				t.Fatalf("Run: %v", err)
			}
			if len(sum.Rounds) != tt.wantRounds || sum.Stopped != tt.wantStopped {
				t.Fatalf("Run: %d rounds stopped by %q, want %d by %q", len(sum.Rounds), sum.Stopped, tt.wantRounds, tt.wantStopped)
			}
			if len(rows) != tt.wantRounds {
				t.Errorf("OnRound called %d times, want %d", len(rows), tt.wantRounds)
			}
			for i, want := range tt.wantPromoted {
				r := sum.Rounds[i]
				if r.Promoted != want || r.Status != "done" {
					t.Errorf("round %d: promoted %v status %s (%s), want promoted %v", r.Index, r.Promoted, r.Status, r.Reason, want)
				}
			}
			if tt.wantTeacher != "" && sum.Teacher != tt.wantTeacher {
				t.Errorf("teacher at the end %q, want %q", sum.Teacher, tt.wantTeacher)
			}
			for round, want := range tt.wantReason {
				if got := sum.Rounds[round-1].Reason; !strings.Contains(got, want) {
					t.Errorf("round %d reason %q, want it to contain %q", round, got, want)
				}
			}
			// What Load reads is what Run returned.
			loaded, err := loop.Load(context.Background(), dir)
			if err != nil {
				t.Fatal(err)
			}
			if len(loaded.Rounds) != len(sum.Rounds) || loaded.Teacher != sum.Teacher || loaded.Metric != "accuracy" && !strings.Contains(tt.name, "no data") {
				t.Errorf("Load = %+v, want the summary Run returned", loaded)
			}
		})
	}
}

func TestSummaryFields(t *testing.T) {
	cfg := parse(t, fmt.Sprintf(fakeLoop, 2, 0, 0.0, 10.0, 0, 0.25, 0, "0.6, 0.4"))
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	r := sum.Rounds[0]
	if r.Teacher != "openai-compatible/t" || r.Student != "fake/job-1-1" || r.Generated != 4 || r.Kept != 3 ||
		r.TrainSteps != 10 || r.TrainLoss != 1 || r.FirstLoss != 2 || r.CostUSD != 0.25 || r.Score != 0.6 || r.TeacherScore != 0.5 {
		t.Errorf("round 1 summary = %+v", r)
	}
	if r.Data != filepath.Join("round-001", "data.jsonl") {
		t.Errorf("data path %q, want it relative to the run directory", r.Data)
	}
	for k, want := range map[string]float64{"accuracy": 0.6, "teacher_accuracy": 0.5, "gen_yield": 0.75, "train_examples": 3} {
		if r.Metrics[k] != want {
			t.Errorf("metric %s = %v, want %v (metrics %v)", k, r.Metrics[k], want, r.Metrics)
		}
	}
	if r.AccuracyByDifficulty[2] != 0.6 {
		t.Errorf("accuracy by difficulty %v", r.AccuracyByDifficulty)
	}
	if sum.CostUSD != 0.5 || sum.Name != "fake" || sum.Metric != "accuracy" {
		t.Errorf("summary = %+v", sum)
	}
	if _, err := os.Stat(filepath.Join(dir, "summary.json")); err != nil {
		t.Errorf("no summary.json: %v", err)
	}
}

// TestResumeRepeatsNoFinishedStep crashes the trainer in round 2 and checks
// that the rerun neither regenerates nor retrains what was finished, and
// that the trainer finds what it saved before the crash.
func TestResumeRepeatsNoFinishedStep(t *testing.T) {
	text := strings.Replace(fmt.Sprintf(fakeLoop, 3, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7, 0.8"), "fail_rounds: [0]", "crash_round: 2", 1)
	cfg := parse(t, text)
	dir := t.TempDir()
	_, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err == nil || !strings.Contains(err.Error(), "round 2: train: the trainer crashed") {
		t.Fatalf("first run: %v, want the trainer's crash", err)
	}
	if errors.Is(err, loop.ErrStopped) {
		t.Errorf("a crash is not a clean stop: %v", err)
	}
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	c := counter(dir)
	for _, tc := range []struct {
		step  string
		round int
		want  int
	}{{"gen", 1, 1}, {"train", 1, 1}, {"eval", 1, 1}, {"gen", 2, 1}, {"train", 2, 2}, {"eval", 2, 1}, {"gen", 3, 1}} {
		if got := c.get(tc.step, tc.round); got != tc.want {
			t.Errorf("%s of round %d ran %d times, want %d", tc.step, tc.round, got, tc.want)
		}
	}
	// The second call restored the job id the first saved.
	if got := sum.Rounds[1].Student; got != "fake/job-2-1" {
		t.Errorf("round 2 student %q, want the job saved before the crash (fake/job-2-1)", got)
	}
	// A finished loop run again does nothing.
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir}); err != nil {
		t.Fatal(err)
	}
	if got := c.get("gen", 3); got != 1 {
		t.Errorf("rerunning a finished loop generated again")
	}
}

func TestInterruptIsACleanStop(t *testing.T) {
	cfg := parse(t, fmt.Sprintf(fakeLoop, 3, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7, 0.8"))
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	_, err := loop.Run(ctx, cfg, loop.Options{RunDir: dir, OnRound: func(r loop.RoundSummary) {
		if r.Index == 1 {
			cancel()
		}
	}})
	// The cancel lands between rounds or inside round 2's first step,
	// which the fakes ignore; either way the rerun finishes.
	if err != nil && !errors.Is(err, loop.ErrStopped) {
		t.Fatalf("interrupted run: %v, want nil or ErrStopped", err)
	}
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil || len(sum.Rounds) != 3 {
		t.Fatalf("resumed run: %v, %d rounds", err, len(sum.Rounds))
	}
}

func TestMixture(t *testing.T) {
	tests := []struct {
		mix  string
		want [][]float64 // weights per round's training input, oldest first
	}{
		{"", [][]float64{{1}, {0.5, 0.5}, {0.25, 0.25, 0.5}}},
		{"mix: {newest: 1}", [][]float64{{1}, {1}, {1}}},
		{"mix: {newest: 0.6, window: 1}", [][]float64{{1}, {0.4, 0.6}, {0.4, 0.6}}},
	}
	for _, tt := range tests {
		t.Run(tt.mix, func(t *testing.T) {
			cfg := parse(t, fmt.Sprintf(fakeLoop, 3, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7, 0.8")+tt.mix+"\n")
			dir := t.TempDir()
			if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir}); err != nil {
				t.Fatal(err)
			}
			countersMu.Lock()
			got := inputs[dir]
			countersMu.Unlock()
			if len(got) != len(tt.want) {
				t.Fatalf("%d trainings, want %d", len(got), len(tt.want))
			}
			for i, in := range got {
				var ws []float64
				for _, d := range in.Data {
					ws = append(ws, d.Weight)
					if !filepath.IsAbs(d.Path) && !strings.HasPrefix(d.Path, dir) {
						t.Errorf("round %d: data path %q is not usable from the working directory", i+1, d.Path)
					}
				}
				if fmt.Sprint(ws) != fmt.Sprint(tt.want[i]) {
					t.Errorf("round %d weights %v, want %v", i+1, ws, tt.want[i])
				}
				if i > 0 && in.Previous.Ref() != fmt.Sprintf("fake/job-%d-1", i) {
					t.Errorf("round %d previous %q", i+1, in.Previous.Ref())
				}
			}
		})
	}
}

func TestConfigChangeRefused(t *testing.T) {
	dir := t.TempDir()
	cfg := parse(t, fmt.Sprintf(fakeLoop, 1, 0, 0.0, 0.0, 0, 0.0, 0, "0.6"))
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir}); err != nil {
		t.Fatal(err)
	}
	changed := parse(t, fmt.Sprintf(fakeLoop, 2, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7"))
	if _, err := loop.Run(context.Background(), changed, loop.Options{RunDir: dir}); err == nil || !strings.Contains(err.Error(), "different config") {
		t.Fatalf("resume with a changed config: %v, want a refusal", err)
	}
	sum, err := loop.Run(context.Background(), changed, loop.Options{RunDir: dir, AllowConfigChange: true})
	if err != nil || len(sum.Rounds) != 2 {
		t.Fatalf("resume with --allow-config-change: %v, %d rounds; want 2 (one more round)", err, len(sum.Rounds))
	}
}

func TestLoadNoLoop(t *testing.T) {
	if _, err := loop.Load(context.Background(), t.TempDir()); !errors.Is(err, loop.ErrNoLoop) {
		t.Errorf("Load of an empty directory: %v, want ErrNoLoop", err)
	}
}

type brokeGen struct{}

func (brokeGen) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	return loop.Data{}, fmt.Errorf("pipeline: stage x: %w: spent $1 of $1", model.ErrBudgetExceeded)
}

func init() {
	loop.RegisterGenerator(loop.Type[loop.Generator]{Name: "broke-gen", Config: func() any { return &struct{}{} },
		New: func(any) (loop.Generator, error) { return brokeGen{}, nil }})
}

// TestBudgetMidRound: money running out inside a step is a clean stop
// (ErrStopped, exit code 130), not a failure, and not a finished loop.
func TestBudgetMidRound(t *testing.T) {
	cfg := parse(t, strings.Replace(fmt.Sprintf(fakeLoop, 3, 0, 0.0, 1.0, 0, 0.0, 0, "0.6, 0.7, 0.8"), "type: fake-gen, with: {n: 3, empty_round: 0, cost: 0}", "type: broke-gen", 1))
	dir := t.TempDir()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if !errors.Is(err, loop.ErrStopped) || !errors.Is(err, model.ErrBudgetExceeded) {
		t.Fatalf("Run: %v, want ErrStopped wrapping the budget", err)
	}
	if sum.Stopped != "" || len(sum.Rounds) != 1 || sum.Rounds[0].Status != "generate" {
		t.Errorf("summary after the stop: stopped %q, rounds %+v; want round 1 still generating", sum.Stopped, sum.Rounds)
	}
}

// TestEarlier checks that a generator sees the earlier rounds' results in
// order, with their metrics and absolute paths, also after a resume, and an
// empty round as what it returned.
func TestEarlier(t *testing.T) {
	cfg := parse(t, fmt.Sprintf(fakeLoop, 3, 0, 0.0, 0.0, 2, 0.0, 0, "0.6, 0.7, 0.8"))
	dir := t.TempDir()
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir}); err != nil {
		t.Fatal(err)
	}
	countersMu.Lock()
	seen := earlier[dir]
	countersMu.Unlock()
	if len(seen) != 3 {
		t.Fatalf("%d generate calls, want 3", len(seen))
	}
	for i, e := range seen {
		if len(e) != i {
			t.Fatalf("round %d saw %d earlier rounds, want %d", i+1, len(e), i)
		}
	}
	r1, r2 := seen[2][0], seen[2][1]
	if want := filepath.Join(dir, "round-001", "data.jsonl"); r1.Path != want || r1.Kept != 3 || r1.Metrics["yield"] != 0.75 {
		t.Errorf("round 1 as round 3 saw it: %+v, want path %s, 3 kept, yield 0.75", r1, want)
	}
	if r2.Kept != 0 || r2.Generated != 5 || r2.Path != "" {
		t.Errorf("empty round 2 as round 3 saw it: %+v", r2)
	}
	// A plugin that changes what it got changes nothing the loop keeps.
	r1.Metrics["yield"] = 9
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got := sum.Rounds[0].Metrics["gen_yield"]; got != 0.75 {
		t.Errorf("gen_yield of round 1 after a plugin changed its copy: %g", got)
	}
}

// TestBaselineTypes: a baseline may run another plugin type in a step (to
// compare methods); its with-block is still the main run's merged with the
// baseline's, and a key that is not a step is refused.
func TestBaselineTypes(t *testing.T) {
	base := strings.Replace(fmt.Sprintf(fakeLoop, 3, 0, 0.0, 1.0, 0, 0.0, 0, "0.6, 0.7, 0.8"), "type: fake-gen, with: {n: 3, empty_round: 0, cost: 0}", "type: fake-gen, with: {}", 1)
	cfg := parse(t, base+"baseline: {types: {generate: broke-gen}}\n")
	bc, err := cfg.BaselineConfig()
	if err != nil {
		t.Fatal(err)
	}
	if bc.Generate.Type != "broke-gen" || cfg.Generate.Type != "fake-gen" {
		t.Errorf("baseline generator %q (main %q), want broke-gen (main fake-gen)", bc.Generate.Type, cfg.Generate.Type)
	}
	if _, err := loop.ParseConfig("loop.yaml", []byte(base+"baseline: {types: {judge: x}}\n")); err == nil || !strings.Contains(err.Error(), `"judge" is not a step`) {
		t.Errorf("a types key that is not a step: %v", err)
	}
}

// saverTrain saves scratch values from several goroutines at once, as
// lab-train's voters do, then trains like fake-train.
type saverTrain struct{ fakeTrain }

func (t saverTrain) Train(ctx context.Context, r *loop.Round, in loop.TrainInput) (loop.Trained, error) {
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for k := range 8 {
		wg.Go(func() {
			for i := range 40 {
				if err := r.Save(ctx, fmt.Sprintf("voter-%d", k), i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return loop.Trained{}, err
	}
	return t.fakeTrain.Train(ctx, r, in)
}

func init() {
	loop.RegisterTrainer(loop.Type[loop.Trainer]{Name: "saver-train", Config: func() any { return &fakeTrainConfig{} },
		New: func(c any) (loop.Trainer, error) { return saverTrain{fakeTrain{c.(*fakeTrainConfig)}}, nil }})
}

// TestScratchSavesSideBySide: plugins saving scratch values side by side
// must not race with the state's encoding (a save encoded the state while
// another goroutine wrote its scratch map, and encoding/json panicked), and
// every value must be in the state afterwards.
func TestScratchSavesSideBySide(t *testing.T) {
	text := strings.Replace(fmt.Sprintf(fakeLoop, 1, 0, 0.0, 1.0, 0, 0.0, 0, "0.6"), "type: fake-train", "type: saver-train", 1)
	if !strings.Contains(text, "saver-train") {
		t.Fatal("the test loop has no fake-train to replace")
	}
	cfg := parse(t, text)
	dir := t.TempDir()
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir}); err != nil {
		t.Fatal(err)
	}
}

// TestPhases: a phase's steps run from its round on and the loop's own
// before it, a crash inside a phase resumes into the same phase, and the
// phases are checked when the file is read.
func TestPhases(t *testing.T) {
	text := fmt.Sprintf(fakeLoop, 4, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7, 0.8, 0.9") +
		"phases:\n  - {from: 3, title: more data, generate: {n: 5}, train: {crash_round: 3}}\n"
	cfg := parse(t, text)
	dir := t.TempDir()
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir, Log: log}); err == nil || !strings.Contains(err.Error(), "round 3: train: the trainer crashed") {
		t.Fatalf("first run: %v, want the phase's trainer to crash in round 3", err)
	}
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	// The phase's title is logged as each run enters it: the first in round
	// 3, the resumed one in the round it resumes.
	if n := strings.Count(logs.String(), `msg="loop: phase" round=3 phase=1 title="more data"`); n != 2 {
		t.Errorf("the phase was logged %d times, want 2:\n%s", n, logs.String())
	}
	if len(sum.Rounds) != 4 {
		t.Fatalf("%d rounds, want 4", len(sum.Rounds))
	}
	// summary.json records the phase each round ran.
	for _, r := range sum.Rounds {
		want, title := 0, ""
		if r.Index >= 3 {
			want, title = 1, "more data"
		}
		if r.Phase != want || r.PhaseTitle != title {
			t.Errorf("round %d: phase %d %q, want %d %q", r.Index, r.Phase, r.PhaseTitle, want, title)
		}
	}
	countersMu.Lock()
	var kept []int
	for _, in := range inputs[dir] {
		kept = append(kept, in.Data[len(in.Data)-1].Kept)
	}
	countersMu.Unlock()
	// Rounds 1 and 2 keep the loop's 3 records, rounds 3 (trained twice:
	// the crash, then the resume) and 4 the phase's 5.
	if want := []int{3, 3, 5, 5, 5}; fmt.Sprint(kept) != fmt.Sprint(want) {
		t.Errorf("records trained on per call %v, want %v", kept, want)
	}
	if c := counter(dir); c.get("gen", 3) != 1 || c.get("train", 3) != 2 || c.get("train", 4) != 1 {
		t.Errorf("round 3 generated %d times and trained %d, round 4 trained %d; want 1, 2, 1", c.get("gen", 3), c.get("train", 3), c.get("train", 4))
	}

	base := fmt.Sprintf(fakeLoop, 4, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7, 0.8, 0.9")
	for _, tc := range []struct{ phases, want string }{
		{"  - {from: 1, generate: {n: 5}}\n", "round 2 or later"},
		{"  - {from: 3, generate: {n: 5}}\n  - {from: 3, generate: {n: 6}}\n", "increasing rounds"},
		{"  - {from: 2, types: {generate: no-such-gen}}\n", "no-such-gen"},
		{"  - {from: 2, generate: {m: 5}}\n", "phases[0]: from round 2"},
		{"  - {from: 2, types: {judge: x}}\n", `"judge" is not a step`},
		{"  - {form: 2}\n", "form"},
		{"  - {from: 5, generate: {n: 5}}\n", "after the last round (rounds: 4)"},
		{"  - {when: {above: 0.5}}\n", "needs a metric"},
		{"  - {when: {metric: accuracy}}\n", "exactly one of above and below"},
		{"  - {when: {metric: accuracy, above: 0.5, below: 0.9}}\n", "exactly one of above and below"},
		{"  - {when: {metric: accuracy, above: .nan}}\n", "not a number"},
		{"  - {from: 4, generate: {n: 5}}\n  - {when: {metric: accuracy, above: 0.5}}\n", "phases[1]: starts at round 5 at the earliest, after the last round (rounds: 4)"},
		{"  - {when: {metric: accuracy, above: 0.5}, generate: {m: 5}}\n", "phases[0]: from round 2 at the earliest: "},
	} {
		if _, err := loop.ParseConfig("loop.yaml", []byte(base+"phases:\n"+tc.phases)); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("phases %q: error %v, want one mentioning %q", tc.phases, err, tc.want)
		}
	}

	// A baseline keeps the loop's phases unless it drops them.
	phased := base + "phases:\n  - {from: 3, generate: {n: 5}}\n"
	for _, tc := range []struct {
		baseline string
		phases   int
	}{{"baseline: {title: same}\n", 1}, {"baseline: {phases: keep}\n", 1}, {"baseline: {phases: drop}\n", 0}} {
		bc, err := parse(t, phased+tc.baseline).BaselineConfig()
		if err != nil {
			t.Fatal(err)
		}
		if len(bc.Phases) != tc.phases {
			t.Errorf("%s: the baseline has %d phases, want %d", strings.TrimSpace(tc.baseline), len(bc.Phases), tc.phases)
		}
	}
	if _, err := loop.ParseConfig("loop.yaml", []byte(phased+"baseline: {phases: off}\n")); err == nil || !strings.Contains(err.Error(), "keep") {
		t.Errorf("baseline.phases off: %v, want an error naming keep and drop", err)
	}
}

// TestPhaseErrorPlaces: an error in a phase shows at that phase's line,
// also in a loop with a baseline (which keeps the phases, and so failed on
// them first); errors found in the merged text of a phase or a baseline
// carry no line of it, since no file holds it; and a baseline that drops
// the phases cannot share a round that ran one.
func TestPhaseErrorPlaces(t *testing.T) {
	base := fmt.Sprintf(fakeLoop, 4, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7, 0.8, 0.9") // 11 lines
	for _, tc := range []struct {
		name, extra string
		line        int // of every error
		want        string
	}{
		{"unknown key, with a baseline", "phases:\n  - {from: 2, generate: {m: 5}}\nbaseline: {title: x}\n", 13,
			`phases[0]: from round 2: the changed config is not valid: loop.yaml: generate.with.m: unknown field "m"`},
		{"second phase, with a baseline", "phases:\n  - {from: 2, generate: {n: 4}}\n  - {from: 2}\nbaseline: {title: x}\n", 14,
			"phases[1]: from 2: phases must start in increasing rounds"},
		{"round 1, with a baseline", "baseline: {title: x}\nphases:\n  - {from: 1}\n", 14, "phases[0]: from 1"},
		{"unknown type", "phases:\n  - from: 3\n    types: {generate: no-such-gen}\n", 13,
			`phases[0]: from round 3: the changed config is not valid: loop.yaml: generate.type: unknown generator type "no-such-gen"`},
		{"baseline's unknown key", "baseline: {generate: {m: 5}}\n", 12,
			`baseline: loop: baseline: the changed config is not valid: loop.yaml: generate.with.m: unknown field "m"`},
		{"drop shares a phase's round", "phases:\n  - {from: 3, generate: {n: 5}}\nbaseline: {shared_rounds: 3, phases: drop}\n", 14,
			"main run's round 3 may run phases[0]'s steps, which the baseline does not run; share at most 2 rounds"},
	} {
		_, err := loop.ParseConfig("loop.yaml", []byte(base+tc.extra))
		var es pipeline.ConfigErrors
		if !errors.As(err, &es) || len(es) == 0 {
			t.Errorf("%s: error %v, want config errors", tc.name, err)
			continue
		}
		for _, e := range es {
			if e.Line != tc.line || !strings.Contains(e.Error(), tc.want) {
				t.Errorf("%s: error %q at line %d, want one at line %d mentioning %q", tc.name, e.Error(), e.Line, tc.line, tc.want)
			}
		}
	}
	// Sharing the rounds before the first phase is fine.
	parse(t, base+"phases:\n  - {from: 3, generate: {n: 5}}\nbaseline: {shared_rounds: 2, phases: drop}\n")
}

// TestPhaseWhen: a phase with a when-bound starts in the round after the
// first whose metric passes it, a later phase follows from its own from,
// the phase a round recorded is kept on resume even when the bound has
// changed, and a metric no round reports stops the loop with the names it
// has (after round 2: round 1, often a labelled round, may lack it).
func TestPhaseWhen(t *testing.T) {
	base := fmt.Sprintf(fakeLoop, 5, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7, 0.8, 0.9, 0.95")
	phases := func(sum *loop.Summary) string {
		var out []string
		for _, r := range sum.Rounds {
			out = append(out, fmt.Sprintf("%d:%d", r.Index, r.Phase))
		}
		return strings.Join(out, " ")
	}
	for _, tc := range []struct{ name, phases, want string }{
		{"above", "  - {when: {metric: accuracy, above: 0.65}, title: late, generate: {n: 5}}\n", "1:0 2:0 3:1 4:1 5:1"},
		{"below never holds", "  - {when: {metric: accuracy, below: 0.5}, generate: {n: 5}}\n", "1:0 2:0 3:0 4:0 5:0"},
		{"from and when", "  - {from: 4, when: {metric: score, above: 0.65}, generate: {n: 5}}\n", "1:0 2:0 3:0 4:1 5:1"},
		{"then a fixed round", "  - {when: {metric: accuracy, above: 0.75}, generate: {n: 5}}\n  - {from: 5, generate: {n: 6}}\n", "1:0 2:0 3:0 4:1 5:2"},
		{"a later when waits for the one before", "  - {from: 4, generate: {n: 5}}\n  - {when: {metric: accuracy, above: 0.5}, generate: {n: 6}}\n", "1:0 2:0 3:0 4:1 5:2"},
		// A when-bound is judged on a round of the phase before it, even
		// when that phase starts on the same round's signal: here on the
		// metric only the phase before's generator reports.
		{"a when after a when", "  - {when: {metric: accuracy, above: 0.65}, generate: {n: 5, metrics: {first: 1}}}\n  - {when: {metric: gen_first, above: 0.5}, generate: {n: 6}}\n", "1:0 2:0 3:1 4:2 5:2"},
		{"both bounds pass at once", "  - {when: {metric: accuracy, above: 0.65}, generate: {n: 5}}\n  - {when: {metric: accuracy, above: 0.65}, generate: {n: 6}}\n", "1:0 2:0 3:1 4:2 5:2"},
		// A from without when is the round the phase starts, whether or
		// not a when-phase before it started.
		{"a fixed round after a when that never holds", "  - {when: {metric: accuracy, below: 0.5}, generate: {n: 5}}\n  - {from: 4, generate: {n: 6}}\n", "1:0 2:0 3:0 4:2 5:2"},
	} {
		sum, err := loop.Run(context.Background(), parse(t, base+"phases:\n"+tc.phases), loop.Options{RunDir: t.TempDir()})
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		if got := phases(sum); got != tc.want {
			t.Errorf("%s: phases by round %s, want %s", tc.name, got, tc.want)
		}
	}

	// Round 3 enters the phase (round 2 scored 0.7) and its trainer
	// crashes; the rerun's bound would not start it after round 2 any more,
	// but round 3 recorded its phase and keeps it, and so do later rounds.
	dir := t.TempDir()
	first := base + "phases:\n  - {when: {metric: accuracy, above: 0.65}, generate: {n: 5}, train: {crash_round: 3}}\n"
	if _, err := loop.Run(context.Background(), parse(t, first), loop.Options{RunDir: dir}); err == nil || !strings.Contains(err.Error(), "round 3: train: the trainer crashed") {
		t.Fatalf("first run: %v, want round 3's trainer to crash", err)
	}
	changed := base + "phases:\n  - {when: {metric: accuracy, above: 0.75}, generate: {n: 5}}\n"
	sum, err := loop.Run(context.Background(), parse(t, changed), loop.Options{RunDir: dir, AllowConfigChange: true})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := phases(sum), "1:0 2:0 3:1 4:1 5:1"; got != want {
		t.Errorf("resumed with a changed bound: phases by round %s, want %s", got, want)
	}

	_, err = loop.Run(context.Background(), parse(t, base+"phases:\n  - {when: {metric: acuracy, above: 0.5}}\n"), loop.Options{RunDir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `phases[0].when: round 2 has no metric "acuracy"; it has score, accuracy,`) {
		t.Errorf("misspelt metric: %v, want an error listing the round's metrics", err)
	}

	// A baseline that keeps the phases starts a when-phase on its own
	// metrics: its students score 0.6 until round 4.
	withBaseline := base + "phases:\n  - {when: {metric: accuracy, above: 0.65}, title: late, generate: {n: 5}}\n" +
		"baseline: {title: slower, evaluate: {scores: [0.6, 0.6, 0.6, 0.9, 0.95]}}\n"
	sum, err = loop.Run(context.Background(), parse(t, withBaseline), loop.Options{RunDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := phases(sum)+" / "+phases(sum.Baseline), "1:0 2:0 3:1 4:1 5:1 / 1:0 2:0 3:0 4:0 5:1"; got != want {
		t.Errorf("with a baseline: phases by round %s, want %s", got, want)
	}
}

// TestPhaseOldRunDir: a run directory of a synthloop from before rounds
// recorded their phase, resumed with the config it ran, names the phase
// each of its rounds ran, the finished ones too.
func TestPhaseOldRunDir(t *testing.T) {
	ctx := context.Background()
	base := fmt.Sprintf(fakeLoop, 4, 0, 0.0, 0.0, 0, 0.0, 0, "0.6, 0.7, 0.8, 0.9")
	cfg := parse(t, base+"phases:\n  - {from: 2, title: more, generate: {n: 5}, train: {crash_round: 3}}\n")
	dir := t.TempDir()
	if _, err := loop.Run(ctx, cfg, loop.Options{RunDir: dir}); err == nil || !strings.Contains(err.Error(), "round 3: train: the trainer crashed") {
		t.Fatalf("first run: %v, want round 3's trainer to crash", err)
	}
	// The state as an older synthloop wrote it: no round's phase.
	st, err := store.Open(ctx, dir)
	if err != nil {
		t.Fatal(err)
	}
	raw, _, err := st.MetaValue(ctx, "loop.state")
	if err != nil {
		t.Fatal(err)
	}
	var s map[string]any
	if err := json.Unmarshal([]byte(raw), &s); err != nil {
		t.Fatal(err)
	}
	for _, r := range s["rounds"].([]any) {
		delete(r.(map[string]any), "phase")
		delete(r.(map[string]any), "phase_title")
	}
	b, _ := json.Marshal(s)
	if err := errors.Join(st.SetMetaValue(ctx, "loop.state", string(b)), st.Close()); err != nil {
		t.Fatal(err)
	}
	sum, err := loop.Run(ctx, cfg, loop.Options{RunDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range sum.Rounds {
		got = append(got, fmt.Sprintf("%d:%d %s", r.Index, r.Phase, r.PhaseTitle))
	}
	if want := "1:0 ,2:1 more,3:1 more,4:1 more"; strings.Join(got, ",") != want {
		t.Errorf("phases by round %q, want %q", strings.Join(got, ","), want)
	}
}
