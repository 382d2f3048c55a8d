package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/store"
)

// TestMain lets the test binary act as the synthloop command in a child
// process, so tests can kill it with SIGKILL like a real crash.
func TestMain(m *testing.M) {
	if os.Getenv("SYNTHLOOP_AS_CLI") == "1" {
		os.Exit(run(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// cli starts the test binary as `synthloop args...` in dir.
func cli(dir string, env []string, args ...string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], args...)
	cmd.Dir = dir
	cmd.Env = append(append(os.Environ(), "SYNTHLOOP_AS_CLI=1"), env...)
	return cmd
}

// runOrKill runs the CLI with args in dir: it returns true when the
// command finished within delay (failing the test if it failed), false when
// it was killed with SIGKILL at delay.
func runOrKill(t *testing.T, dir string, delay time.Duration, args ...string) (finished bool) {
	t.Helper()
	return runOrKillEnv(t, dir, nil, delay, args...)
}

const killConfig = `name: kill
seed: 3
concurrency: 4
models:
  teacher:
    ref: openai-compatible/scripted-teacher
    base_url: %s
stages:
  - name: instructions
    type: selfinstruct
    with:
      model: teacher
      target: 120
  - name: instances
    type: selfinstruct-instances
    with:
      model: teacher
`

// TestKillAndResume kills a run with SIGKILL at random moments, resumes it
// with the same command each time, and checks that the result is record for
// record what an uninterrupted run produces, and that the only requests sent
// twice are the ones in flight at a kill.
func TestKillAndResume(t *testing.T) {
	dir := t.TempDir()
	newServer := func() *modeltest.Server {
		s := modeltest.NewServer(scripted.New(9).Responder(), modeltest.WithLatency(3*time.Millisecond))
		t.Cleanup(s.Close)
		return s
	}
	write := func(name, url string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(fmt.Sprintf(killConfig, url)), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}

	// Reference: one uninterrupted run.
	refSrv := newServer()
	refCfg := write("ref.yaml", refSrv.URL)
	began := time.Now()
	if out, err := cli(dir, nil, "run", refCfg, "--run-dir", "ref", "--json").CombinedOutput(); err != nil {
		t.Fatalf("reference run: %v\n%s", err, out)
	}
	wall := time.Since(began)

	// The same run, killed at random moments and resumed.
	srv := newServer()
	cfg := write("killed.yaml", srv.URL)
	rng := rand.New(rand.NewPCG(1, 2))
	kills := 0
	finished := false
	scale := 1.0
	for attempt := 0; attempt < 12 && !finished; attempt++ {
		// Kills spread over the first part of the run, whatever the
		// machine's speed: a fixed delay let a fast run finish unkilled.
		delay := time.Duration(float64(wall) * scale * (0.1 + 0.5*rng.Float64()))
		if finished = runOrKill(t, dir, delay, "run", cfg, "--run-dir", "killed", "--json"); !finished {
			kills++
		} else if kills == 0 {
			// The machine got faster than during the reference run (its
			// load changes): start over with shorter delays, so the run
			// is killed at least once.
			if err := os.RemoveAll(filepath.Join(dir, "killed")); err != nil {
				t.Fatal(err)
			}
			finished, scale = false, scale/2
		}
	}
	if !finished {
		if out, err := cli(dir, nil, "run", cfg, "--run-dir", "killed", "--json").CombinedOutput(); err != nil {
			t.Fatalf("final resumed run: %v\n%s", err, out)
		}
	}
	if kills == 0 {
		t.Fatal("the run finished before any kill; the test exercised nothing")
	}
	t.Logf("killed %d times; requests: reference %d, killed run %d", kills, refSrv.Requests(), srv.Requests())

	want := dumpRun(t, filepath.Join(dir, "ref"))
	got := dumpRun(t, filepath.Join(dir, "killed"))
	if len(want) == 0 {
		t.Fatal("reference run stored nothing")
	}
	if len(got) != len(want) {
		t.Errorf("killed run has %d records, uninterrupted run %d", len(got), len(want))
	}
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			t.Errorf("record %d differs:\n got %s\nwant %s", i, got[i], want[i])
			break
		}
	}
	// A request is sent again only when its answer was not committed at a
	// kill: in flight, or answered but still waiting for the store's next
	// transaction (store/cache.go: a cache entry commits with the next write).
	// That is at most the requests of the units in progress. The stages
	// stream, so both may be in flight at a kill: 4 Self-Instruct batches
	// (the concurrency) of 1 request, and 4 instances units of at most 2
	// requests each (a unit classifies, then asks).
	if extra, most := srv.Requests()-refSrv.Requests(), kills*(4+4*2); extra > most {
		t.Errorf("killed run sent %d more requests than the reference; at most %d ((4 + 4 units × 2 requests) × %d kills) may repeat", extra, most, kills)
	}
}

// dumpRun returns every record of a run as JSON without its creation time,
// in stage and sequence order.
func dumpRun(t *testing.T, runDir string) []string {
	t.Helper()
	ctx := context.Background()
	st, err := store.OpenReadOnly(ctx, runDir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stages, err := st.Stages(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, s := range stages {
		for r, err := range st.Records(ctx, s, "") {
			if err != nil {
				t.Fatal(err)
			}
			r.Prov.CreatedAt = time.Time{}
			b, _ := json.Marshal(r)
			out = append(out, string(b))
		}
	}
	return out
}

// TestConfigErrorExitCode runs bad configs: each must exit 2 and print
// exactly the problem in the file, at its file:line:col, under its YAML key
// path: no follow-on error (a misspelt `modle:` once also printed "model:
// required") and no Go names (a wrong type once named `Config.Target`).
func TestConfigErrorExitCode(t *testing.T) {
	tests := []struct {
		name, with string
		want       string // the whole output
	}{
		{"typo in with", "      modle: teacher\n",
			`synthloop: bad.yaml:8:7: stages[0].with.modle: unknown field "modle" (did you mean "model"?)`},
		{"wrong type in with", "      model: teacher\n      target: lots\n",
			`synthloop: bad.yaml:9:15: stages[0].with.target: want int, got "lots"`},
		{"typo and wrong type", "      modle: teacher\n      target: 1.5\n",
			"synthloop: bad.yaml:8:7: stages[0].with.modle: unknown field \"modle\" (did you mean \"model\"?)\n" +
				"bad.yaml:9:15: stages[0].with.target: want int, got 1.5"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg := "name: x\nmodels:\n  teacher:\n    ref: openai/gpt-4o-mini\nstages:\n  - type: selfinstruct\n    with:\n" + tt.with
			os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte(cfg), 0o644)
			out, err := cli(dir, nil, "run", "bad.yaml").CombinedOutput()
			if exitCode(err) != 2 {
				t.Fatalf("run with a bad config: exit %d, want 2\n%s", exitCode(err), out)
			}
			if got := strings.TrimSpace(string(out)); got != tt.want {
				t.Errorf("output\n%s\nwant\n%s", got, tt.want)
			}
		})
	}
}

// TestAPIKeyNeverStored runs against a server that rejects the key and
// echoes the Authorization header back, then checks that the key appears in
// no output and nowhere in the run directory.
func TestAPIKeyNeverStored(t *testing.T) {
	const key = "sk-test-SECRET-0123456789abcdef"
	srv := modeltest.NewServer(modeltest.Echo, modeltest.WithAPIKey("another-key"))
	defer srv.Close()
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(`name: k
models:
  teacher:
    ref: openai-compatible/x
    base_url: %s
    api_key_env: MY_KEY
stages:
  - name: instructions
    type: selfinstruct
    with:
      model: teacher
      target: 5
      max_batches: 2
`, srv.URL)), 0o644)
	out, _ := cli(dir, []string{"MY_KEY=" + key}, "run", p, "--run-dir", "r", "--json").CombinedOutput()
	if bytes.Contains(out, []byte(key)) || bytes.Contains(out, []byte("SECRET")) {
		t.Errorf("the API key leaked into the output:\n%s", out)
	}
	filepath.Walk(filepath.Join(dir, "r"), func(path string, info os.FileInfo, err error) error {
		if err != nil || info.IsDir() {
			return err
		}
		b, _ := os.ReadFile(path)
		if bytes.Contains(b, []byte("SECRET")) {
			t.Errorf("the API key leaked into %s", path)
		}
		return nil
	})
	if !bytes.Contains(out, []byte("401")) && !bytes.Contains(out, []byte("nauthorized")) {
		t.Logf("output: %s", out)
	}
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

// TestBudgetStopsCleanly sets a price so high that max_cost_usd is reached
// after a few calls: the run must stop with exit code 130, keep what it
// finished and say exactly how to continue; a rerun under the same cap must
// stop at once without paying another request; --max-cost above the cap, or
// the cap raised in the file, must continue without --allow-config-change,
// which any other change still needs.
func TestBudgetStopsCleanly(t *testing.T) {
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	cfg := fmt.Sprintf(`name: b
concurrency: 2
max_cost_usd: 1
models:
  teacher:
    ref: openai-compatible/pricey
    base_url: %s
    price_input: 1000
    price_output: 1000
stages:
  - name: instructions
    type: selfinstruct
    with:
      model: teacher
      target: 100
`, srv.URL)
	os.WriteFile(p, []byte(cfg), 0o644)
	run := func(args ...string) (string, int) {
		out, err := cli(dir, nil, append([]string{"run", p, "--run-dir", "r", "--json"}, args...)...).CombinedOutput()
		return string(out), exitCode(err)
	}
	how := regexp.MustCompile(`stopped in stage instructions: spent \$1\.\d{4} of the \$1 cap \(max_cost_usd\); finished work is kept\. To continue, run the same command with a higher cap, e.g\. --max-cost 2\.\d\n`)
	out, code := run()
	if code != 130 || !how.MatchString(out) {
		t.Fatalf("run over budget: exit %d, want 130 and %s\n%s", code, how, out)
	}
	sent := srv.Requests()
	if sent == 0 {
		t.Fatal("no request was sent at all")
	}
	for _, tt := range []struct {
		args []string
		want string
	}{
		{nil, "of the $1 cap (max_cost_usd); finished work is kept. To continue, run the same command with a higher cap, e.g. --max-cost 2."},
		{[]string{"--max-cost", "1"}, "of the $1 cap (--max-cost)"},
		{[]string{"--max-cost", "0.5"}, "of the $0.5 cap (--max-cost)"},
	} {
		args := tt.args
		out, code = run(args...)
		if code != 130 || !strings.Contains(out, "synthloop: pipeline: stopped: spent $1.") || !strings.Contains(out, tt.want) {
			t.Fatalf("rerun %v over budget: exit %d, want 130 and %q before any stage\n%s", args, code, tt.want, out)
		}
		if extra := srv.Requests() - sent; extra != 0 {
			t.Fatalf("rerun %v sent %d more requests although the budget was already spent", args, extra)
		}
	}
	st, err := store.OpenReadOnly(context.Background(), filepath.Join(dir, "r"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := st.Count(context.Background(), "instructions", "")
	st.Close()
	if n == 0 {
		t.Error("the work finished before the budget ran out was not kept")
	}

	out, code = run("--max-cost", "3")
	if code != 130 || !strings.Contains(out, "of the $3 cap") || srv.Requests() == sent {
		t.Fatalf("rerun with --max-cost 3: exit %d after %d more requests, want 130 at the new cap\n%s", code, srv.Requests()-sent, out)
	}
	sent = srv.Requests()
	os.WriteFile(p, []byte(strings.Replace(cfg, "max_cost_usd: 1", "max_cost_usd: 5 # raised", 1)), 0o644)
	out, code = run()
	if code != 130 || !strings.Contains(out, "of the $5 cap") || srv.Requests() == sent {
		t.Fatalf("rerun with max_cost_usd raised in the file: exit %d after %d more requests, want 130 at the new cap\n%s", code, srv.Requests()-sent, out)
	}
	os.WriteFile(p, []byte(strings.Replace(cfg, "target: 100", "target: 101", 1)), 0o644)
	if out, code = run("--max-cost", "9"); code != 1 || !strings.Contains(out, "--allow-config-change") {
		t.Fatalf("rerun with another change: exit %d, want 1 and a word of --allow-config-change\n%s", code, out)
	}
}

// TestInterruptKeepsWork sends SIGINT mid-run: the command must exit 130
// promptly, keep its finished units, and a rerun must complete the run.
func TestInterruptKeepsWork(t *testing.T) {
	srv := modeltest.NewServer(scripted.New(1).Responder(), modeltest.WithLatency(30*time.Millisecond))
	defer srv.Close()
	dir := t.TempDir()
	p := filepath.Join(dir, "p.yaml")
	os.WriteFile(p, []byte(fmt.Sprintf(killConfig, srv.URL)), 0o644)
	cmd := cli(dir, nil, "run", p, "--run-dir", "r", "--json")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Interrupt once some work is committed, however slow the machine is.
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("nothing committed within 60 s\n%s", out.String())
		}
		st, err := store.OpenReadOnly(context.Background(), filepath.Join(dir, "r"))
		if err != nil {
			continue
		}
		n, _ := st.Count(context.Background(), "instructions", "")
		st.Close()
		if n > 0 {
			break
		}
	}
	cmd.Process.Signal(os.Interrupt)
	start := time.Now()
	err := cmd.Wait()
	if exitCode(err) != 130 {
		t.Fatalf("interrupted run: exit %d, want 130\n%s", exitCode(err), out.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("the run took %v to stop after SIGINT", d)
	}
	st, err := store.OpenReadOnly(context.Background(), filepath.Join(dir, "r"))
	if err != nil {
		t.Fatal(err)
	}
	n, _ := st.Count(context.Background(), "instructions", "")
	st.Close()
	if n == 0 {
		t.Fatalf("nothing kept after the interrupt\n%s", out.String())
	}
	if out, err := cli(dir, nil, "run", p, "--run-dir", "r", "--json").CombinedOutput(); err != nil {
		t.Fatalf("resume after interrupt: %v\n%s", err, out)
	}
}

// TestUsageExitCodes: a config file that is not there and an unknown export
// format are usage errors, exit 2, as the README says.
func TestUsageExitCodes(t *testing.T) {
	dir := t.TempDir()
	for _, args := range [][]string{
		{"run", "missing.yaml"},
		{"loop", "missing.yaml"},
		{"models", "missing.yaml"},
		{"export", dir, "--format", "nope", "--out", "x.jsonl"},
	} {
		out, err := cli(dir, nil, args...).CombinedOutput()
		if code := exitCode(err); code != 2 {
			t.Errorf("%v: exit %d, want 2\n%s", args, code, out)
		}
	}
}

// TestRunWarnings: a stage's warning (here Self-Instruct stopping at
// max_batches short of its target) is printed when it happens and kept for
// `status`, instead of vanishing behind exit 0.
func TestRunWarnings(t *testing.T) {
	dir := t.TempDir()
	srv := modeltest.NewServer(scripted.New(9).Responder())
	t.Cleanup(srv.Close)
	cfg := strings.Replace(fmt.Sprintf(killConfig, srv.URL), "target: 120", "target: 120\n      max_batches: 2", 1)
	if err := os.WriteFile(filepath.Join(dir, "p.yaml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := cli(dir, nil, "run", "p.yaml", "--run-dir", "r", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	const want = "warning: selfinstruct: max_batches reached before target"
	if !strings.Contains(string(out), want) {
		t.Errorf("run output lacks %q:\n%s", want, out)
	}
	again, err := cli(dir, nil, "run", "p.yaml", "--run-dir", "r", "--json").CombinedOutput()
	if err != nil || !strings.Contains(string(again), "synthloop: resuming; already done: instructions ") {
		t.Errorf("rerun does not say where it resumes: %v\n%s", err, again)
	}
	st, err := cli(dir, nil, "status", "r").CombinedOutput()
	if err != nil || !strings.Contains(string(st), "warnings (") || !strings.Contains(string(st), "selfinstruct: max_batches reached before target") {
		t.Errorf("status: %v\n%s", err, st)
	}
}
