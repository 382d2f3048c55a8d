package hfhub_test

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/hfhub"
	"github.com/synthloop/synthloop/hfhub/hfhubtest"
)

const token = "hf_secretTOKEN123"

// folder writes a dataset folder like an hf export: a card and a data shard.
func folder(t *testing.T, shard int) (string, map[string][]byte) {
	t.Helper()
	dir := t.TempDir()
	files := map[string][]byte{
		"README.md":                         []byte("---\nlicense: other\n---\n# Dataset\n"),
		"data/train-00000-of-00001.parquet": bytes.Repeat([]byte("PAR1\x00\xff"), shard/6+1),
	}
	for p, data := range files {
		abs := filepath.Join(dir, filepath.FromSlash(p))
		if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(abs, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir, files
}

func client(srv *hfhubtest.Server, tok string) *hfhub.Client {
	c := hfhub.New(srv.URL+"/", tok)
	c.Backoff = time.Millisecond
	return c
}

func push(ctx context.Context, c *hfhub.Client, id, dir string, public bool) error {
	if err := c.CreateRepo(ctx, id, public); err != nil {
		return err
	}
	_, err := c.UploadFolder(ctx, id, dir, "Upload from synthloop")
	return err
}

func TestPush(t *testing.T) {
	for _, tc := range []struct {
		name      string
		lfsFrom   int64
		partSize  int64
		public    bool
		wantLFS   bool
		wantParts int
	}{
		{"inline", 1 << 30, 0, false, false, 0},
		{"lfs shard", 1000, 0, true, true, 0},
		{"lfs shard in parts", 1000, 1000, false, true, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := hfhubtest.New(token, "org")
			defer srv.Close()
			srv.LFSFrom = tc.lfsFrom
			srv.PartSize = tc.partSize
			dir, files := folder(t, 5000)
			c := client(srv, token)
			if err := c.CreateRepo(context.Background(), "org/ds", tc.public); err != nil {
				t.Fatal(err)
			}
			commit, err := c.UploadFolder(context.Background(), "org/ds", dir, "Upload from synthloop")
			if err != nil {
				t.Fatal(err)
			}
			if commit.OID == "" || !strings.HasPrefix(commit.URL, srv.URL) {
				t.Errorf("commit = %+v", commit)
			}
			repo := srv.Repo("org/ds")
			if repo.Private == tc.public {
				t.Errorf("private = %v, want %v", repo.Private, !tc.public)
			}
			if len(repo.Files) != len(files) {
				t.Errorf("repo has %d files, want %d", len(repo.Files), len(files))
			}
			for p, want := range files {
				if !bytes.Equal(repo.Files[p], want) {
					t.Errorf("%s: content differs (%d bytes, want %d)", p, len(repo.Files[p]), len(want))
				}
			}
			log := "," + strings.Join(srv.Log(), ",")
			uploaded := strings.Contains(log, ",upload 200") || strings.Contains(log, ",complete 200")
			if got := uploaded && strings.Contains(log, ",verify 200"); got != tc.wantLFS {
				t.Errorf("LFS upload and verify = %v, want %v; log %s", got, tc.wantLFS, log)
			}
			if n := strings.Count(log, ",part 200"); n != tc.wantParts {
				t.Errorf("%d parts uploaded, want %d; log %s", n, tc.wantParts, log)
			}
			// A second push to the same repo: 409 on create is fine, and an
			// LFS object the Hub holds is not uploaded again.
			if err := push(context.Background(), c, "org/ds", dir, tc.public); err != nil {
				t.Fatalf("second push: %v", err)
			}
			if n := strings.Count(","+strings.Join(srv.Log(), ","), ",verify 200"); tc.wantLFS && n != 1 {
				t.Errorf("%d LFS uploads (verified) over two pushes, want 1", n)
			}
			if got := srv.Repo("org/ds").Commits; len(got) != 2 {
				t.Errorf("commits = %q", got)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	for _, tc := range []struct {
		name    string
		token   string
		id      string
		fail    map[string][]int
		status  int    // want this status in the chain, 0 for none
		want    string // in the error text
		retried bool   // the push succeeds after retries
		parts   bool   // the Hub asks for multipart LFS uploads
	}{
		{name: "bad token", token: "hf_wrong", id: "org/ds", status: 401, want: "Invalid credentials"},
		{name: "other namespace", token: token, id: "someone/ds", status: 403, want: "namespace someone"},
		{name: "5xx then ok", token: token, id: "org/ds", fail: map[string][]int{"commit": {502, 503}, "create": {500}}, retried: true},
		{name: "429 then ok", token: token, id: "org/ds", fail: map[string][]int{"preupload": {429}, "upload": {500}, "batch": {503}}, retried: true},
		{name: "part 5xx then ok", token: token, id: "org/ds", parts: true, fail: map[string][]int{"part": {500}, "complete": {502}}, retried: true},
		{name: "5xx persists", token: token, id: "org/ds", fail: map[string][]int{"commit": {500, 500, 500, 500}}, status: 500, want: "injected fault"},
		{name: "4xx not retried", token: token, id: "org/ds", fail: map[string][]int{"commit": {422, 500}}, status: 422, want: "commit to org/ds"},
		{name: "bad repo id", token: token, id: "ds", want: "want ORG/NAME"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := hfhubtest.New(token, "org")
			defer srv.Close()
			srv.LFSFrom = 100
			if tc.parts {
				srv.PartSize = 300
			}
			srv.EchoAuth = true
			for route, st := range tc.fail {
				srv.Fail(route, st...)
			}
			dir, _ := folder(t, 1000)
			err := push(context.Background(), client(srv, tc.token), tc.id, dir, false)
			if tc.retried {
				if err != nil {
					t.Fatalf("push after transient faults: %v", err)
				}
				log := "," + strings.Join(srv.Log(), ",")
				for route, st := range tc.fail {
					for _, code := range st {
						if !strings.Contains(log, fmt.Sprintf(",%s %d", route, code)) {
							t.Errorf("fault %s %d never served; log %s", route, code, log)
						}
					}
				}
				return
			}
			if err == nil {
				t.Fatal("push succeeded")
			}
			if got := hfhub.StatusOf(err); got != tc.status {
				t.Errorf("status %d, want %d (%v)", got, tc.status, err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
			if strings.Contains(err.Error(), tc.token) || strings.Contains(err.Error(), token) {
				t.Errorf("error text holds the token: %q", err)
			}
		})
	}
}

// TestTokenNeverLeaks: with a Hub that echoes the Authorization header in
// its errors, the token is redacted, and it is never sent to the presigned
// LFS upload URL (the stand-in refuses such an upload).
func TestTokenNeverLeaks(t *testing.T) {
	srv := hfhubtest.New(token, "org")
	defer srv.Close()
	srv.EchoAuth = true
	srv.LFSFrom = 10
	dir, _ := folder(t, 100)
	c := client(srv, token)
	c.Token = token + "x" // a wrong token the Hub quotes back
	err := push(context.Background(), c, "org/ds", dir, false)
	if err == nil || hfhub.StatusOf(err) != http.StatusUnauthorized {
		t.Fatalf("err = %v, want a 401", err)
	}
	if strings.Contains(err.Error(), token) || !strings.Contains(err.Error(), "[REDACTED]") {
		t.Errorf("error not redacted: %q", err)
	}
	c.Token = token
	if err := push(context.Background(), c, "org/ds", dir, false); err != nil {
		t.Fatal(err)
	}
}

func TestContextCancelStopsRetries(t *testing.T) {
	srv := hfhubtest.New(token, "org")
	defer srv.Close()
	srv.Fail("create", 503, 503, 503, 503)
	c := client(srv, token)
	c.Backoff = time.Hour
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := c.CreateRepo(ctx, "org/ds", false)
	if err == nil || ctx.Err() == nil || hfhub.StatusOf(err) != 503 {
		t.Fatalf("err = %v", err)
	}
}

func TestCheckRepoID(t *testing.T) {
	for id, ok := range map[string]bool{
		"org/ds": true, "Org-1/my_data.v2": true, "ds": false, "a/b/c": false, "/ds": false,
		"org/": false, "org/a..b": false, "org/a--b": false, "org/ds.git": false, "org/d s": false,
	} {
		if err := hfhub.CheckRepoID(id); (err == nil) != ok {
			t.Errorf("CheckRepoID(%q) = %v, want ok %v", id, err, ok)
		}
	}
}
