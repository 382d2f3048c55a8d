package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDemoStatusExport runs the README's main command end to end and then
// the commands a user runs next.
func TestDemoStatusExport(t *testing.T) {
	dir := t.TempDir()
	for _, lang := range []string{"en", "ja"} {
		runDir := filepath.Join(dir, "demo-"+lang)
		out, err := cli(dir, nil, "demo", "selfinstruct", "--lang", lang, "--run-dir", runDir).CombinedOutput()
		if err != nil {
			t.Fatalf("demo --lang %s: %v\n%s", lang, err, out)
		}
		for _, w := range []string{"instructions", "instances", "exported", "rejected by novelty"} {
			if !strings.Contains(string(out), w) {
				t.Errorf("demo --lang %s output lacks %q:\n%s", lang, w, out)
			}
		}
		f, err := os.Open(filepath.Join(runDir, "export", "alpaca.jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			var row struct{ Instruction, Input, Output string }
			if err := json.Unmarshal(sc.Bytes(), &row); err != nil || row.Instruction == "" || row.Output == "" {
				t.Fatalf("bad alpaca row %q: %v", sc.Text(), err)
			}
			n++
		}
		f.Close()
		if n < 100 {
			t.Errorf("demo --lang %s exported %d instances, want at least 100", lang, n)
		}
		if _, err := os.Stat(filepath.Join(runDir, "export", "hf", "README.md")); err != nil {
			t.Errorf("no dataset card: %v", err)
		}
		// Running it again resumes a finished run: nothing new is generated.
		out, err = cli(dir, nil, "demo", "selfinstruct", "--lang", lang, "--run-dir", runDir, "--json").CombinedOutput()
		if err != nil || !strings.Contains(string(out), `"requests":0`) {
			t.Errorf("second demo run sent requests or failed: %v\n%s", err, out)
		}
	}
	out, err := cli(dir, nil, "export", filepath.Join(dir, "demo-en"), "--stage", "instructions", "--include-rejected", "--format", "openai", "--out", filepath.Join(dir, "audit.jsonl")).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "rejected") {
		t.Errorf("audit export: %v\n%s", err, out)
	}
	out, err = cli(dir, nil, "export", filepath.Join(dir, "demo-en"), "--format", "nope", "--out", "x").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "alpaca") {
		t.Errorf("unknown format: %v, want an error listing the formats\n%s", err, out)
	}
}
