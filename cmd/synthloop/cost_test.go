package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
)

// costPipeline writes a Self-Instruct pipeline whose teacher is served at urls.
// extra stages, when set, are appended to the pipeline.
func costPipeline(t *testing.T, dir, extra string, urls ...string) string {
	t.Helper()
	where := "base_url: " + urls[0]
	if len(urls) > 1 {
		where = "base_urls: [" + strings.Join(urls, ", ") + "]"
	}
	p := filepath.Join(dir, "p.yaml")
	if err := os.WriteFile(p, []byte(fmt.Sprintf(`name: cost
seed: 2
concurrency: 4
models:
  teacher:
    ref: openai-compatible/t
    %s
    price_input: 1
    price_output: 2
    price_cached_input: 0.25
stages:
  - name: tasks
    type: selfinstruct
    with:
      model: teacher
      target: 12
%s`, where, extra)), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestDryRunSendsNothing: --dry-run prints the estimate and a sample prompt
// and sends no request.
func TestDryRunSendsNothing(t *testing.T) {
	srv := modeltest.NewServer(scripted.New(2).Responder())
	defer srv.Close()
	dir := t.TempDir()
	out, err := cli(dir, nil, "run", costPipeline(t, dir, "", srv.URL), "--dry-run").CombinedOutput()
	if err != nil {
		t.Fatalf("dry run: %v\n%s", err, out)
	}
	for _, want := range []string{"requests", "batch $", "--- tasks: request 1 to teacher", "Assumptions:"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("dry run output lacks %q:\n%s", want, out)
		}
	}
	if n := srv.Requests(); n != 0 {
		t.Errorf("the dry run sent %d requests", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs")); !os.IsNotExist(err) {
		t.Errorf("the dry run left a run directory: %v", err)
	}
}

// TestPreview: --preview 1 runs one unit per stage for real and prints its
// records, leaving no run directory behind.
func TestPreview(t *testing.T) {
	srv := modeltest.NewServer(scripted.New(2).Responder())
	defer srv.Close()
	dir := t.TempDir()
	out, err := cli(dir, nil, "run", costPipeline(t, dir, "", srv.URL), "--preview", "1", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("preview: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "=== tasks (selfinstruct)") || !strings.Contains(string(out), "instruction: ") {
		t.Errorf("preview output:\n%s", out)
	}
	if n := srv.Requests(); n != 1 {
		t.Errorf("preview of 1 unit sent %d requests, want 1", n)
	}
	if _, err := os.Stat(filepath.Join(dir, "runs")); !os.IsNotExist(err) {
		t.Errorf("the preview left a run directory: %v", err)
	}
}

// answers is a stage whose requests share a long system prompt.
var answers = `  - name: answers
    type: generate
    with:
      model: teacher
      system: "` + strings.Repeat("You answer tasks carefully and completely. ", 12) + `"
      prompt: "{{.instruction}}"
`

// TestStatusShowsEndpointsAndPromptCache runs over two endpoints with a
// prompt cache and checks what status says of both.
func TestStatusShowsEndpointsAndPromptCache(t *testing.T) {
	var urls []string
	for range 2 {
		srv := modeltest.NewServer(scripted.New(2).Responder(), modeltest.WithPromptCache(50))
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	dir := t.TempDir()
	out, err := cli(dir, nil, "run", costPipeline(t, dir, answers, urls...), "--run-dir", "r", "--json").CombinedOutput()
	if err != nil {
		t.Fatalf("run: %v\n%s", err, out)
	}
	out, err = cli(dir, nil, "status", "r").CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, want := range []string{"endpoints of teacher (last run):", urls[0], urls[1], "prompt cache: "} {
		if !strings.Contains(string(out), want) {
			t.Errorf("status lacks %q:\n%s", want, out)
		}
	}
}

// TestPoolGivesSameRecords: a run over three endpoints makes exactly the
// records a run over one does.
func TestPoolGivesSameRecords(t *testing.T) {
	var urls []string
	for range 3 {
		srv := modeltest.NewServer(scripted.New(2).Responder())
		defer srv.Close()
		urls = append(urls, srv.URL)
	}
	dir := t.TempDir()
	for _, run := range []struct {
		dir  string
		urls []string
	}{{"one", urls[:1]}, {"pool", urls}} {
		p := costPipeline(t, dir, answers, run.urls...)
		if out, err := cli(dir, nil, "run", p, "--run-dir", run.dir, "--json").CombinedOutput(); err != nil {
			t.Fatalf("run %s: %v\n%s", run.dir, err, out)
		}
	}
	one, pool := dumpRun(t, filepath.Join(dir, "one")), dumpRun(t, filepath.Join(dir, "pool"))
	if len(one) == 0 || strings.Join(one, "\n") != strings.Join(pool, "\n") {
		t.Errorf("records differ: %d over one endpoint, %d over three", len(one), len(pool))
	}
}

// TestModelsChecksEachEndpoint: `models` checks every endpoint of a pool
// and fails when one is down.
func TestModelsChecksEachEndpoint(t *testing.T) {
	up := modeltest.NewServer(modeltest.Echo)
	defer up.Close()
	down := modeltest.NewServer(modeltest.Echo)
	downURL := down.URL
	down.Close()
	dir := t.TempDir()
	out, err := cli(dir, nil, "models", costPipeline(t, dir, "", up.URL, downURL)).CombinedOutput()
	if err == nil {
		t.Fatalf("models passed with an endpoint down:\n%s", out)
	}
	for _, want := range []string{up.URL, "(+1 more)", downURL, "ERROR: model: teacher at " + downURL, "1 of 1 models failed"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("models output lacks %q:\n%s", want, out)
		}
	}
}
