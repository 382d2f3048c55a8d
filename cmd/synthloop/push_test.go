package main

import (
	"bytes"
	"os"
	"path"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/hfhub/hfhubtest"
)

// TestExportPush: `export --format hf --push` uploads the same folder a
// local hf export writes, the parquet shard through LFS, to a private repo
// unless --public, and the token shows up in no output.
func TestExportPush(t *testing.T) {
	const token = "hf_cliSecretToken42"
	dir := t.TempDir()
	run := filepath.Join(dir, "demo")
	if out, err := cli(dir, nil, "demo", "selfinstruct", "--run-dir", run).CombinedOutput(); err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	if out, err := cli(dir, nil, "export", run, "--format", "hf", "--out", "local").CombinedOutput(); err != nil {
		t.Fatalf("local export: %v\n%s", err, out)
	}
	srv := hfhubtest.New(token, "org")
	defer srv.Close()
	srv.LFSFrom = 1024
	env := []string{"HF_TOKEN=" + token, "HF_ENDPOINT=" + srv.URL}
	for _, tc := range []struct {
		id   string
		args []string
		priv bool
	}{
		{"org/private", nil, true},
		{"org/public", []string{"--public"}, false},
	} {
		args := append([]string{"export", run, "--format", "hf", "--push", tc.id}, tc.args...)
		out, err := cli(dir, env, args...).CombinedOutput()
		if err != nil {
			t.Fatalf("%v: %v\n%s", args, err, out)
		}
		if !strings.Contains(string(out), "pushed to "+srv.URL+"/datasets/"+tc.id) || strings.Contains(string(out), token) {
			t.Errorf("%v output:\n%s", args, out)
		}
		repo := srv.Repo(tc.id)
		if repo == nil || repo.Private != tc.priv {
			t.Fatalf("%s: repo %+v, want private %v", tc.id, repo, tc.priv)
		}
		for _, p := range []string{"README.md", export.HFDataFile} {
			want, err := os.ReadFile(filepath.Join(dir, "local", filepath.FromSlash(p)))
			if err != nil {
				t.Fatal(err)
			}
			if p == "README.md" { // the card's title is the folder's name, here the repo's
				want = bytes.Replace(want, []byte("\n# local\n"), []byte("\n# "+path.Base(tc.id)+"\n"), 1)
			}
			if !bytes.Equal(repo.Files[p], want) {
				t.Errorf("%s: pushed %s differs from the local export", tc.id, p)
			}
		}
	}
	if !strings.Contains(strings.Join(srv.Log(), ","), "upload 200") {
		t.Errorf("the parquet shard did not go through LFS: %v", srv.Log())
	}
	for _, tc := range []struct {
		env  []string
		args []string
		want string
	}{
		{[]string{"HF_TOKEN=", "HF_ENDPOINT=" + srv.URL}, []string{"--format", "hf", "--push", "org/x"}, "HF_TOKEN"},
		{env, []string{"--format", "alpaca", "--push", "org/x", "--out", "a.jsonl"}, "--format hf"},
		{env, []string{"--format", "hf", "--push", "noslash"}, "ORG/NAME"},
	} {
		out, err := cli(dir, tc.env, append([]string{"export", run}, tc.args...)...).CombinedOutput()
		if exitCode(err) != 2 || !strings.Contains(string(out), tc.want) {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", tc.args, exitCode(err), tc.want, out)
		}
	}
	srv.EchoAuth = true // the stand-in quotes the token back; the CLI must not print it
	out, err := cli(dir, []string{"HF_TOKEN=hf_wrong", "HF_ENDPOINT=" + srv.URL}, "export", run, "--format", "hf", "--push", "org/y").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "401") || strings.Contains(string(out), "hf_wrong") {
		t.Errorf("bad token: %v\n%s", err, out)
	}
}
