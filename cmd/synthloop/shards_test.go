package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
)

// shardTeacher is the scripted teacher, and as a judge it scores 1 to 5 by a hash
// of the prompt, so that reject and judge keep some records only.
var shardTeacher = scripted.New(4).HashJudgeResponder()

const shardConfig = `name: sharded
seed: 5
concurrency: 4
models:
  teacher:
    ref: openai-compatible/scripted-teacher
    base_url: %s
stages:
  - name: faq
    type: load
    with: {path: faq.jsonl}
  - name: replies
    type: generate
    with:
      model: teacher
      prompt: "A customer asks: {{.instruction}} Our policy: {{.output}} Write the reply."
      output: reply
      n: 2
  - name: best
    type: reject
    with: {model: teacher, n: 2, judge_model: teacher, samples: 1, threshold: 1}
  - name: judged
    type: judge
    with: {judge_model: teacher, samples: 1, filter: true, threshold: 2}
`

// TestShardsKilledMergedEqualOneProcess runs a pipeline of per-record
// stages as one process and as 4 shard processes started the ways the
// schedulers start them (--shard, a Kubernetes Indexed Job's index, a Slurm
// array's task IDs), one of them killed with SIGKILL and restarted until it
// finishes; then merges the shards and checks that every export of the
// merged run equals the one process's, byte for byte.
func TestShardsKilledMergedEqualOneProcess(t *testing.T) {
	dir := t.TempDir()
	srv := modeltest.NewServer(shardTeacher, modeltest.WithLatency(4*time.Millisecond))
	defer srv.Close()
	var input strings.Builder
	for i := range 48 {
		fmt.Fprintf(&input, `{"question": "Can I return order %d after %d days?", "answer": "Yes, within 30 days of delivery."}`+"\n", i, i%35)
	}
	for name, text := range map[string]string{"faq.jsonl": input.String(), "p.yaml": fmt.Sprintf(shardConfig, srv.URL)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	began := time.Now()
	if out, err := cli(dir, nil, "run", "p.yaml", "--run-dir", "one", "--json").CombinedOutput(); err != nil {
		t.Fatalf("one process: %v\n%s", err, out)
	}
	wall := time.Since(began)

	const killed = 1
	envs := [][]string{
		nil, // --shard 0/4
		{"JOB_COMPLETION_INDEX=1"},
		{"SLURM_ARRAY_TASK_ID=7", "SLURM_ARRAY_TASK_MIN=5", "SLURM_ARRAY_TASK_COUNT=4"},
		{"SLURM_ARRAY_TASK_ID=8", "SLURM_ARRAY_TASK_MIN=5", "SLURM_ARRAY_TASK_COUNT=4"},
	}
	args := func(i int) []string {
		if i == 0 {
			return []string{"run", "p.yaml", "--run-dir", "x", "--shard", "0/4", "--json"}
		}
		return []string{"run", "p.yaml", "--run-dir", "x", "--shards", "4", "--json"}
	}
	type result struct {
		i   int
		out []byte
		err error
	}
	done := make(chan result, len(envs))
	for i, env := range envs {
		if i == killed {
			continue
		}
		go func() {
			out, err := cli(dir, env, args(i)...).CombinedOutput()
			done <- result{i, out, err}
		}()
	}
	// The killed shard: SIGKILL at random moments, then the same command
	// again, as a scheduler restarts a pod or a requeued array task.
	rng := rand.New(rand.NewPCG(3, 4))
	kills, finished := 0, false
	for attempt := 0; attempt < 6 && !finished; attempt++ {
		delay := time.Duration(float64(wall) / 4 * (0.2 + 0.5*rng.Float64()))
		if finished = runOrKillEnv(t, dir, envs[killed], delay, args(killed)...); !finished {
			kills++
		}
	}
	if !finished {
		if out, err := cli(dir, envs[killed], args(killed)...).CombinedOutput(); err != nil {
			t.Fatalf("shard %d, last restart: %v\n%s", killed, err, out)
		}
	}
	for range len(envs) - 1 {
		r := <-done
		if r.err != nil {
			t.Fatalf("shard %d: %v\n%s", r.i, r.err, r.out)
		}
	}
	if kills == 0 {
		t.Fatal("the shard finished before any kill; the test exercised nothing")
	}
	for i := range 4 {
		if _, err := os.Stat(filepath.Join(dir, "x", fmt.Sprintf("shard-%d-of-4", i), "run.db")); err != nil {
			t.Fatalf("shard %d wrote no run store where expected: %v", i, err)
		}
	}
	out, err := cli(dir, nil, "merge", "merged", "x").CombinedOutput()
	if err != nil {
		t.Fatalf("merge: %v\n%s", err, out)
	}
	t.Logf("killed shard %d %d times; one process took %v\n%s", killed, kills, wall.Round(time.Millisecond), out)
	sameExports(t, dir, "one", "merged")
}

// sameExports checks that every export of run got (alpaca, openai,
// sharegpt, each with and without rejected records) equals run want's,
// byte for byte, and is not empty.
func sameExports(t *testing.T, dir, want, got string) {
	t.Helper()
	for _, f := range []string{"alpaca", "openai", "sharegpt"} {
		for _, rej := range []string{"", "--include-rejected"} {
			exp := func(run string) []byte {
				args := []string{"export", run, "--format", f, "--out", "-"}
				if rej != "" {
					args = append(args, rej)
				}
				cmd := cli(dir, nil, args...)
				var stdout, stderr bytes.Buffer
				cmd.Stdout, cmd.Stderr = &stdout, &stderr
				if err := cmd.Run(); err != nil {
					t.Fatalf("export %s: %v\n%s", run, err, stderr.String())
				}
				return stdout.Bytes()
			}
			w, g := exp(want), exp(got)
			if len(w) == 0 {
				t.Fatalf("%s %s: the export is empty; the test compares nothing", f, rej)
			}
			if !bytes.Equal(g, w) {
				t.Errorf("%s %s: the export of %s (%d bytes) differs from %s's (%d bytes)", f, rej, got, len(g), want, len(w))
			}
		}
	}
}

// runOrKillEnv is runOrKill with extra environment variables.
func runOrKillEnv(t *testing.T, dir string, env []string, delay time.Duration, args ...string) bool {
	t.Helper()
	return runUntil(t, dir, env, time.After(delay), args...)
}

// runUntil runs the CLI with args in dir: it returns true when the command
// finished before kill fired (failing the test if it failed), false when it
// was killed with SIGKILL then.
func runUntil(t *testing.T, dir string, env []string, kill <-chan time.Time, args ...string) bool {
	t.Helper()
	cmd := cli(dir, env, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out.String())
		}
		return true
	case <-kill:
		cmd.Process.Kill()
		<-exited
		return false
	}
}

// TestShardFlags checks the refusals of run's shard flags.
func TestShardFlags(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(fmt.Sprintf(shardConfig, "http://127.0.0.1:1")), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "faq.jsonl"), []byte(`{"question": "q", "answer": "a"}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{nil, []string{"--shard", "4/4"}, "0 ≤ index < count"},
		{nil, []string{"--shard", "1-4"}, "INDEX/COUNT"},
		{nil, []string{"--shard", "0/2", "--shards", "2"}, "not both"},
		{nil, []string{"--shards", "3"}, "JOB_COMPLETION_INDEX"},
		{[]string{"JOB_COMPLETION_INDEX=3"}, []string{"--shards", "3"}, "0 ≤ index < count"},
		{[]string{"SLURM_ARRAY_TASK_ID=1", "SLURM_ARRAY_TASK_COUNT=5"}, []string{"--shards", "4"}, "has 5 tasks"},
		{[]string{"SLURM_ARRAY_TASK_ID=1", "JOB_COMPLETION_INDEX=1"}, []string{"--shards", "4"}, "both"},
	} {
		cmd := cli(dir, append([]string{"JOB_COMPLETION_INDEX=", "SLURM_ARRAY_TASK_ID="}, tc.env...), append([]string{"run", "p.yaml"}, tc.args...)...)
		out, err := cmd.CombinedOutput()
		if code := cmd.ProcessState.ExitCode(); err == nil || code != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v %v: exit %d, %s; want exit 2 and %q", tc.env, tc.args, code, out, tc.want)
		}
	}
}
