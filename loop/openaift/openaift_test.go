package openaift_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/loop"
	_ "github.com/synthloop/synthloop/loop/evaluate"
	"github.com/synthloop/synthloop/loop/openaift/openaifttest"
	"github.com/synthloop/synthloop/model/modeltest"
	_ "github.com/synthloop/synthloop/model/openai"
)

// static is a generator that writes three examples (or preference pairs).
type staticConfig struct {
	Format string `yaml:"format"`
}

type static struct{ c *staticConfig }

func (g static) Generate(ctx context.Context, r *loop.Round) (loop.Data, error) {
	var b strings.Builder
	for i := range 3 {
		if g.c.Format == "dpo" {
			fmt.Fprintf(&b, `{"prompt":"q%d","chosen":"good %d","rejected":"bad %d"}`+"\n", i, r.Index, i)
		} else {
			fmt.Fprintf(&b, `{"messages":[{"role":"user","content":"%d+%d="},{"role":"assistant","content":"%d"}]}`+"\n", i, i, 2*i)
		}
	}
	p := filepath.Join(r.Dir, "data.jsonl")
	if err := os.WriteFile(p, []byte(b.String()), 0o644); err != nil {
		return loop.Data{}, err
	}
	return loop.Data{Path: p, Format: g.c.Format, Generated: 3, Kept: 3}, nil
}

func init() {
	loop.RegisterGenerator(loop.Type[loop.Generator]{Name: "static", Config: func() any { return &staticConfig{Format: "sft"} },
		New: func(c any) (loop.Generator, error) { return static{c.(*staticConfig)}, nil }})
}

const key = "sk-standin-test"

// newServer answers "4" from fine-tuned models and "5" from any other, so a
// fine-tuned student beats the base teacher on "2+2=".
func newServer(t *testing.T, opts openaifttest.Options) *openaifttest.Server {
	opts.APIKey = key
	opts.Responder = func(req *modeltest.Request) modeltest.Reply {
		if strings.HasPrefix(req.Model, "ft:") {
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: "4"}}}
		}
		return modeltest.Reply{Choices: []modeltest.Choice{{Text: "5"}}}
	}
	s := openaifttest.NewServer(opts)
	t.Cleanup(s.Close)
	return s
}

func config(t *testing.T, url string, rounds int, format string) *loop.Config {
	t.Helper()
	text := fmt.Sprintf(`name: ft
rounds: %d
models:
  teacher: {ref: openai/gpt-4o-mini, base_url: %q}
teacher: teacher
generate: {type: static, with: {format: %s}}
train:
  type: openai
  with: {base_model: gpt-4o-mini-2024-07-18, suffix: loop, poll_interval: 1ms, price_per_mtok: 2, n_epochs: 2}
evaluate:
  type: verifier
  with: {items: [{prompt: "2+2=", answer: "4"}]}
`, rounds, url, format)
	cfg, err := loop.ParseConfig("ft.yaml", []byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

func getenv(k string) string {
	if k == "OPENAI_API_KEY" {
		return key
	}
	return ""
}

func TestFineTuneRounds(t *testing.T) {
	srv := newServer(t, openaifttest.Options{})
	dir := t.TempDir()
	var notes []string
	sum, err := loop.Run(context.Background(), config(t, srv.URL, 2, "sft"), loop.Options{RunDir: dir, Getenv: getenv,
		Progress: func(e loop.Event) { notes = append(notes, e.Note) }})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Creates() != 2 || srv.Uploads() != 2 {
		t.Errorf("%d jobs created and %d files uploaded, want 2 and 2", srv.Creates(), srv.Uploads())
	}
	jobs := srv.Jobs()
	r1, r2 := sum.Rounds[0], sum.Rounds[1]
	wantStudent := "openai/" + jobs[0]["fine_tuned_model"].(string)
	if !r1.Promoted || r1.Student != wantStudent || r1.Teacher != "openai/gpt-4o-mini" {
		t.Errorf("round 1: %+v; want the fine-tuned model %s promoted", r1, wantStudent)
	}
	// Round 2 fine-tunes the promoted teacher, a fine-tune on the same connection.
	if jobs[0]["model"] != "gpt-4o-mini-2024-07-18" || jobs[1]["model"] != strings.TrimPrefix(wantStudent, "openai/") {
		t.Errorf("jobs fine-tuned %v then %v", jobs[0]["model"], jobs[1]["model"])
	}
	if r2.Teacher != wantStudent || r2.Promoted {
		t.Errorf("round 2: %+v; want the round-1 student as teacher, not beaten", r2)
	}
	if r1.TrainSteps != 4 || r1.FirstLoss != 1 || r1.TrainLoss != 0.4 || r1.Metrics["train_cost_usd"] != 4000*2/1e6 || r1.Metrics["train_trained_tokens"] != 4000 {
		t.Errorf("round 1 training: steps %d loss %v→%v cost %v metrics %v", r1.TrainSteps, r1.FirstLoss, r1.TrainLoss, r1.CostUSD, r1.Metrics)
	}
	m := jobs[0]["method"].(map[string]any)
	if m["type"] != "supervised" || fmt.Sprint(m["supervised"]) != "map[hyperparameters:map[n_epochs:2]]" {
		t.Errorf("job method %v", m)
	}
	if md := jobs[0]["metadata"].(map[string]any); md["synthloop_round"] != "1" || md["synthloop_key"] == "" {
		t.Errorf("job metadata %v", md)
	}
	log, _ := os.ReadFile(filepath.Join(dir, r1.TrainLog))
	for _, w := range []string{"Fine-tuning job started", `"train_loss":0.4`, "The job has successfully completed"} {
		if !bytes.Contains(log, []byte(w)) {
			t.Errorf("train.log lacks %q:\n%s", w, log)
		}
	}
	if !strings.Contains(strings.Join(notes, "\n"), "running loss 0.4000") {
		t.Errorf("progress never showed the running job's loss: %q", notes)
	}
}

func TestFailedAndCancelledJobs(t *testing.T) {
	srv := newServer(t, openaifttest.Options{Plans: []openaifttest.Plan{
		{Outcome: "failed", Error: "Training file has 3 examples; at least 10 are required."},
		{Outcome: "cancelled"},
		{},
	}})
	sum, err := loop.Run(context.Background(), config(t, srv.URL, 3, "sft"), loop.Options{RunDir: t.TempDir(), Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	want := []struct {
		promoted bool
		reason   string
	}{
		{false, "failed: invalid_training_file: Training file has 3 examples; at least 10 are required."},
		{false, "was cancelled"},
		{true, "accuracy 1.0000 > teacher 0.0000"},
	}
	for i, w := range want {
		r := sum.Rounds[i]
		if r.Promoted != w.promoted || !strings.Contains(r.Reason, w.reason) || r.Status != "done" {
			t.Errorf("round %d: promoted %v, %q; want %v, %q", r.Index, r.Promoted, r.Reason, w.promoted, w.reason)
		}
	}
	if sum.Rounds[0].Student != "" {
		t.Errorf("a failed job left a student: %q", sum.Rounds[0].Student)
	}
}

// TestResumePollAfterInterrupt stops the loop while the job runs; the rerun
// polls the same job to the end and creates no other.
func TestResumePollAfterInterrupt(t *testing.T) {
	srv := newServer(t, openaifttest.Options{Plans: []openaifttest.Plan{{Steps: 20}}})
	dir := t.TempDir()
	cfg := config(t, srv.URL, 1, "sft")
	ctx, cancel := context.WithCancel(context.Background())
	_, err := loop.Run(ctx, cfg, loop.Options{RunDir: dir, Getenv: getenv, Progress: func(e loop.Event) {
		if e.Step == "train" && e.Done >= 3 {
			cancel()
		}
	}})
	if !errors.Is(err, loop.ErrStopped) {
		t.Fatalf("interrupted loop: %v, want ErrStopped", err)
	}
	if !srv.Running() {
		t.Fatal("the job is not running any more after the interrupt; the test exercised nothing")
	}
	polls := srv.Polls()
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir, Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Creates() != 1 || srv.Uploads() != 1 {
		t.Errorf("%d jobs and %d uploads after the resume, want 1 and 1", srv.Creates(), srv.Uploads())
	}
	r := sum.Rounds[0]
	if !r.Promoted || r.TrainSteps != 20 || r.FirstLoss != 1 {
		t.Errorf("resumed round: %+v (polls before the resume: %d)", r, polls)
	}
	// The log holds every event once.
	log, _ := os.ReadFile(filepath.Join(dir, r.TrainLog))
	if n := bytes.Count(log, []byte("Fine-tuning job started")); n != 1 {
		t.Errorf("train.log has the start event %d times, want once:\n%s", n, log)
	}
	if n := bytes.Count(log, []byte(`"type":"metrics"`)); n != 20 {
		t.Errorf("train.log has %d metrics events, want 20", n)
	}
}

// TestLostCreateResponse loses the answer to the job creation: the loop
// fails, and the rerun finds the job by its metadata instead of creating a
// second one.
func TestLostCreateResponse(t *testing.T) {
	srv := newServer(t, openaifttest.Options{LoseCreate: 1})
	dir := t.TempDir()
	cfg := config(t, srv.URL, 1, "sft")
	if _, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir, Getenv: getenv}); err == nil || !strings.Contains(err.Error(), "create job") {
		t.Fatalf("first run: %v, want the failed creation", err)
	}
	sum, err := loop.Run(context.Background(), cfg, loop.Options{RunDir: dir, Getenv: getenv})
	if err != nil {
		t.Fatal(err)
	}
	if srv.Creates() != 1 {
		t.Errorf("%d jobs created, want 1", srv.Creates())
	}
	if !sum.Rounds[0].Promoted || !strings.Contains(sum.Rounds[0].Student, srv.Jobs()[0]["fine_tuned_model"].(string)) {
		t.Errorf("round 1: %+v", sum.Rounds[0])
	}
}

func TestDPOUpload(t *testing.T) {
	srv := newServer(t, openaifttest.Options{})
	if _, err := loop.Run(context.Background(), config(t, srv.URL, 1, "dpo"), loop.Options{RunDir: t.TempDir(), Getenv: getenv}); err != nil {
		t.Fatal(err)
	}
	j := srv.Jobs()[0]
	if m := j["method"].(map[string]any); m["type"] != "dpo" {
		t.Errorf("job method %v, want dpo", m)
	}
	data := srv.File(j["training_file"].(string))
	if !bytes.Contains(data, []byte(`"preferred_output":[{"role":"assistant","content":"good 1"}]`)) {
		t.Errorf("uploaded file is not in the preference format:\n%s", data)
	}
}

func TestNoAPIKey(t *testing.T) {
	srv := newServer(t, openaifttest.Options{})
	_, err := loop.Run(context.Background(), config(t, srv.URL, 1, "sft"), loop.Options{RunDir: t.TempDir(), Getenv: func(string) string { return "" }})
	if err == nil || !strings.Contains(err.Error(), "OPENAI_API_KEY") {
		t.Errorf("run without a key: %v, want it to name OPENAI_API_KEY", err)
	}
}
