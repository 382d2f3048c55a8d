package main

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/loop/openaift/openaifttest"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
)

var answerA = regexp.MustCompile(`(?s)<answer_a>\n(.*?)\n</answer_a>`)

// distillResponder is the scripted teacher, and as a judge it prefers the
// teacher's scripted answer wherever it is shown: the tiny student never wins.
func distillResponder() modeltest.Responder {
	teacher := scripted.New(3).Responder()
	return func(req *modeltest.Request) modeltest.Reply {
		p := req.LastUser()
		if m := answerA.FindStringSubmatch(p); m != nil {
			w := "B"
			if strings.Contains(m[1], "scripted answer") {
				w = "A"
			}
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: "The scripted one reads better.\nWinner: " + w}}}
		}
		return teacher(req)
	}
}

// writeDistill writes examples/loop-distill.yaml pointed at url and cut to
// test size.
func writeDistill(t *testing.T, dir, name, url string) string {
	t.Helper()
	b, err := os.ReadFile("../../examples/loop-distill.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s := strings.NewReplacer(
		"http://localhost:8000/v1", url,
		"target: 100", "target: 12",
		"steps: 300", "steps: 24",
		"batch: 16", "batch: 4\n    seq: 64",
		"max_tokens: 128", "max_tokens: 24",
	).Replace(string(b))
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestLoopDistillExample runs the distillation example end to end against
// the scripted teacher (Self-Instruct data, the built-in student, the judge),
// then runs it again killed with SIGKILL at random moments and resumed each
// time: the result must be what the uninterrupted loop produced, round for
// round, and the only requests sent twice are those in flight at a kill.
func TestLoopDistillExample(t *testing.T) {
	dir := t.TempDir()
	newServer := func() *modeltest.Server {
		s := modeltest.NewServer(distillResponder(), modeltest.WithLatency(25*time.Millisecond))
		t.Cleanup(s.Close)
		return s
	}
	refSrv := newServer()
	refCfg := writeDistill(t, dir, "ref.yaml", refSrv.URL)
	start, began := cpuNow(), time.Now()
	out, err := cli(dir, nil, "loop", refCfg, "--run-dir", "ref", "--json").CombinedOutput()
	wall := time.Since(began)
	if err != nil {
		t.Fatalf("loop: %v\n%s", err, out)
	}
	t.Logf("uninterrupted loop: %.1f CPU-seconds (user+sys of the child)", cpuNow()-start)
	for _, w := range []string{"round  teacher", "stopped by patience", "summary: ref/summary.json", `"step":"train"`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	ref, err := loop.Load(context.Background(), filepath.Join(dir, "ref"))
	if err != nil {
		t.Fatal(err)
	}
	if len(ref.Rounds) != 2 || ref.Stopped != loop.StopPatience || ref.Metric != "win_rate" {
		t.Fatalf("summary: %d rounds, stopped %q, metric %q; want 2, patience, win_rate", len(ref.Rounds), ref.Stopped, ref.Metric)
	}
	for _, r := range ref.Rounds {
		t.Logf("round %d: %.1f CPU-seconds, %d kept, loss %.3f", r.Index, r.CPUSeconds, r.Kept, r.TrainLoss)
		if r.Promoted || r.Kept == 0 || r.Generated < r.Kept || r.TrainSteps != 24 || r.TrainLoss <= 0 || r.Score != 0 || r.TeacherScore != 0.5 {
			t.Errorf("round %d = %+v", r.Index, r)
		}
		if !strings.HasPrefix(r.Student, "local/") || r.Teacher != "vllm/meta-llama/Llama-3.1-8B-Instruct" {
			t.Errorf("round %d: teacher %q student %q", r.Index, r.Teacher, r.Student)
		}
		if r.Metrics["losses"] != 6 {
			t.Errorf("round %d: metrics %v, want 6 losses", r.Index, r.Metrics)
		}
		for _, f := range []string{r.Data, r.TrainLog, filepath.Join(filepath.Dir(r.Data), "eval.jsonl")} {
			if _, err := os.Stat(filepath.Join(dir, "ref", f)); err != nil {
				t.Errorf("round %d: %v", r.Index, err)
			}
		}
	}

	srv := newServer()
	cfg := writeDistill(t, dir, "killed.yaml", srv.URL)
	rng := rand.New(rand.NewPCG(4, 2))
	kills, finished := 0, false
	var at []string
	for attempt := 0; attempt < 5 && !finished; attempt++ {
		// Kills spread over the loop's length, whatever the machine's load;
		// the first early, in round 1's generation.
		delay := time.Duration(float64(wall) * (0.05 + min(0.5, 0.05+0.2*float64(attempt))*rng.Float64()))
		if finished = runOrKill(t, dir, delay, "loop", cfg, "--run-dir", "killed", "--json"); finished {
			break
		}
		kills++
		if s, err := loop.Load(context.Background(), filepath.Join(dir, "killed")); err == nil && len(s.Rounds) > 0 {
			last := s.Rounds[len(s.Rounds)-1]
			at = append(at, fmt.Sprintf("round %d %s", last.Index, last.Status))
		}
	}
	if !finished {
		if out, err := cli(dir, nil, "loop", cfg, "--run-dir", "killed", "--json").CombinedOutput(); err != nil {
			t.Fatalf("final resumed loop: %v\n%s", err, out)
		}
	}
	if kills == 0 {
		t.Fatal("the loop finished before any kill; the test exercised nothing")
	}
	t.Logf("killed %d times, at %v; requests: reference %d, killed loop %d", kills, at, refSrv.Requests(), srv.Requests())
	got, err := loop.Load(context.Background(), filepath.Join(dir, "killed"))
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Rounds) != len(ref.Rounds) || got.Stopped != ref.Stopped {
		t.Fatalf("killed loop: %d rounds stopped by %q; reference %d by %q", len(got.Rounds), got.Stopped, len(ref.Rounds), ref.Stopped)
	}
	for i := range ref.Rounds {
		a, b := ref.Rounds[i], got.Rounds[i]
		if a.Generated != b.Generated || a.Kept != b.Kept || a.TrainSteps != b.TrainSteps || a.Score != b.Score || a.Promoted != b.Promoted {
			t.Errorf("round %d differs:\n got %+v\nwant %+v", i+1, b, a)
		}
		da, _ := os.ReadFile(filepath.Join(dir, "ref", a.Data))
		db, _ := os.ReadFile(filepath.Join(dir, "killed", b.Data))
		if len(da) == 0 || !bytes.Equal(da, db) {
			t.Errorf("round %d: the training data differs from the uninterrupted loop's", i+1)
		}
		ea, _ := os.ReadFile(filepath.Join(dir, "ref", filepath.Dir(a.Data), "eval.jsonl"))
		eb, _ := os.ReadFile(filepath.Join(dir, "killed", filepath.Dir(b.Data), "eval.jsonl"))
		if !bytes.Equal(ea, eb) {
			t.Errorf("round %d: the evaluation differs from the uninterrupted loop's (the student trained differently?)", i+1)
		}
	}
	if extra := srv.Requests() - refSrv.Requests(); extra > kills*8 {
		t.Errorf("killed loop sent %d more requests than the reference; at most %d (8 in flight × %d kills) may repeat", extra, kills*8, kills)
	}
}

func cpuNow() float64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru)
	return float64(ru.Utime.Sec+ru.Stime.Sec) + float64(ru.Utime.Usec+ru.Stime.Usec)/1e6
}

func TestLoopConfigErrorExitCode(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "bad.yaml")
	os.WriteFile(p, []byte("name: x\nrounds: 2\ngenerate: {type: pipelin}\ntrain: {type: builtin, with: {step: 3}}\nevaluate: {type: verifier, with: {items: [{prompt: a, answer: b}]}}\n"), 0o644)
	out, err := cli(dir, nil, "loop", p).CombinedOutput()
	if exitCode(err) != 2 {
		t.Fatalf("loop with a bad config: exit %d, want 2\n%s", exitCode(err), out)
	}
	for _, w := range []string{`bad.yaml:3:18: generate.type: unknown generator type "pipelin" (did you mean "pipeline"?)`, `bad.yaml:4:31: train.with.step: unknown field "step" (did you mean "steps"?)`} {
		if !strings.Contains(string(out), w) {
			t.Errorf("output %q lacks %q", out, w)
		}
	}
}

func TestLoopHelp(t *testing.T) {
	out, err := cli(t.TempDir(), nil, "loop", "--help").CombinedOutput()
	if err != nil {
		t.Fatalf("loop --help: %v\n%s", err, out)
	}
	for _, w := range []string{"Trainers: builtin, command, lab-train, openai", "Evaluators: judge, lab-accuracy, verifier", "Examples:", "synthloop loop examples/loop-distill.yaml"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("help lacks %q:\n%s", w, out)
		}
	}
	out, err = cli(t.TempDir(), nil, "loop", "--list").CombinedOutput()
	if err != nil {
		t.Fatalf("loop --list: %v\n%s", err, out)
	}
	for _, w := range []string{"generator pipeline", "trainer openai", "      type: builtin", "evaluator verifier"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("--list lacks %q:\n%s", w, out)
		}
	}
	if out, err := cli(t.TempDir(), nil, "loop").CombinedOutput(); exitCode(err) != 2 {
		t.Errorf("loop without a file: exit %d, want 2\n%s", exitCode(err), out)
	}
}

// TestLoopOpenAIExampleKill runs the OpenAI fine-tuning example against the
// stand-in of the fine-tuning API, killing the loop with SIGKILL while a job
// runs: the resumed loop polls the same job, and every round has one job.
func TestLoopOpenAIExampleKill(t *testing.T) {
	teacher := scripted.New(5).Responder()
	srv := openaifttest.NewServer(openaifttest.Options{
		APIKey: "sk-standin-test",
		Plans:  []openaifttest.Plan{{Steps: 12}},
		Responder: func(req *modeltest.Request) modeltest.Reply {
			p := req.LastUser()
			if m := answerA.FindStringSubmatch(p); m != nil { // the judge prefers fine-tuned answers
				w := "B"
				if strings.Contains(m[1], "fine-tuned") {
					w = "A"
				}
				return modeltest.Reply{Choices: []modeltest.Choice{{Text: "Winner: " + w}}}
			}
			if strings.HasPrefix(req.Model, "ft:") && scripted.Kind(req.Messages) == scripted.KindOther {
				return modeltest.Reply{Choices: []modeltest.Choice{{Text: "A fine-tuned answer."}}}
			}
			return teacher(req)
		},
	})
	defer srv.Close()
	dir := t.TempDir()
	b, err := os.ReadFile("../../examples/loop-openai-ft.yaml")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.NewReplacer(
		"ref: openai/gpt-4o-mini-2024-07-18\n", "ref: openai/gpt-4o-mini-2024-07-18\n    base_url: "+srv.URL+"\n",
		"ref: openai/gpt-4o\n", "ref: openai/gpt-4o\n    base_url: "+srv.URL+"\n",
		"target: 200", "target: 12",
		"poll_interval: 30s", "poll_interval: 40ms",
	).Replace(string(b))
	cfg := filepath.Join(dir, "ft.yaml")
	os.WriteFile(cfg, []byte(text), 0o644)
	env := []string{"OPENAI_API_KEY=sk-standin-test"}

	kills := 0
	for attempt := 0; attempt < 3; attempt++ {
		cmd := cli(dir, env, "loop", cfg, "--run-dir", "r", "--json")
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		// Kill once a job is running, at most once per job.
		killed := false
		for !killed {
			select {
			case err := <-exited:
				if err != nil {
					t.Fatalf("loop: %v\n%s", err, out.String())
				}
				killed = true
				attempt = 3
			case <-time.After(20 * time.Millisecond):
				if srv.Running() && srv.Creates() > kills {
					cmd.Process.Signal(syscall.SIGKILL)
					<-exited
					kills++
					killed = true
				}
			}
		}
	}
	if kills == 0 {
		t.Fatal("no kill while a job ran; the test exercised nothing")
	}
	out, err := cli(dir, env, "loop", cfg, "--run-dir", "r", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("final loop: %v\n%s", err, out)
	}
	sum, err := loop.Load(context.Background(), filepath.Join(dir, "r"))
	if err != nil {
		t.Fatal(err)
	}
	jobs := srv.Jobs()
	t.Logf("killed %d times; %d jobs, %d polls", kills, len(jobs), srv.Polls())
	if len(sum.Rounds) != 2 || srv.Creates() != 2 {
		t.Fatalf("%d rounds and %d jobs; want 2 rounds, one job each\n%s", len(sum.Rounds), srv.Creates(), out)
	}
	ft1 := "openai/" + jobs[0]["fine_tuned_model"].(string)
	if r := sum.Rounds[0]; !r.Promoted || r.Student != ft1 || r.TrainSteps != 12 || r.Score != 1 {
		t.Errorf("round 1: %+v; want %s promoted with win rate 1", r, ft1)
	}
	if r := sum.Rounds[1]; r.Teacher != ft1 || jobs[1]["model"] != strings.TrimPrefix(ft1, "openai/") || r.Promoted {
		t.Errorf("round 2: %+v fine-tuned %v; want the round-1 fine-tune as teacher and base", r, jobs[1]["model"])
	}
}

// TestLoopInterruptExit130 sends SIGINT while a fine-tuning job is polled:
// the loop exits 130 promptly, and the same command finishes the loop.
func TestLoopInterruptExit130(t *testing.T) {
	// The scripted teacher writes new tasks, so the generator keeps some and
	// the loop reaches the training job it is interrupted in.
	srv := openaifttest.NewServer(openaifttest.Options{Plans: []openaifttest.Plan{{Steps: 60}}, Responder: scripted.New(3).Responder()})
	defer srv.Close()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "ft.yaml")
	os.WriteFile(cfg, []byte(fmt.Sprintf(`name: int
rounds: 1
models:
  teacher: {ref: openai-compatible/base, base_url: %q}
teacher: teacher
generate:
  type: pipeline
  with:
    pipeline:
      stages:
        - {type: selfinstruct, with: {model: teacher, target: 3}}
        - {type: selfinstruct-instances, with: {model: teacher}}
train: {type: openai, with: {base_model: base, poll_interval: 10ms}}
evaluate: {type: verifier, with: {items: [{prompt: "2+2=", answer: "4"}]}}
`, srv.URL)), 0o644)
	cmd := cli(dir, nil, "loop", cfg, "--run-dir", "r", "--json")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !srv.Running() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	cmd.Process.Signal(os.Interrupt)
	start := time.Now()
	err := cmd.Wait()
	if exitCode(err) != 130 {
		t.Fatalf("interrupted loop: exit %d, want 130\n%s", exitCode(err), out.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the loop took %v to stop after SIGINT", d)
	}
	if !strings.Contains(out.String(), "run the same command again to resume") {
		t.Errorf("no resume hint:\n%s", out.String())
	}
	if out, err := cli(dir, nil, "loop", cfg, "--run-dir", "r", "--json").CombinedOutput(); err != nil {
		t.Fatalf("resumed loop: %v\n%s", err, out)
	}
	if srv.Creates() != 1 {
		t.Errorf("%d jobs created, want 1", srv.Creates())
	}
}
