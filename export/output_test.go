package export

import (
	"bytes"
	"context"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestOutputTargets covers what --out may name besides a plain path: each
// case sets up the path, exports, and checks what happened to it.
func TestOutputTargets(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	want, err := os.ReadFile(filepath.Join("testdata", "openai_instances.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{Format: "openai", Stage: "instances"}
	tests := []struct {
		name string
		// setup returns the --out path; check runs after a successful export.
		setup func(t *testing.T, dir string) string
		check func(t *testing.T, dir, out string)
		// wantErr, when set, is a substring of the expected error.
		wantErr string
	}{
		{
			name: "symlink: target replaced, link kept",
			setup: func(t *testing.T, dir string) string {
				must(t, os.Mkdir(filepath.Join(dir, "real"), 0o755))
				must(t, os.WriteFile(filepath.Join(dir, "real", "data.jsonl"), []byte("old\n"), 0o644))
				must(t, os.Symlink(filepath.Join("real", "data.jsonl"), filepath.Join(dir, "link.jsonl")))
				return filepath.Join(dir, "link.jsonl")
			},
			check: func(t *testing.T, dir, out string) {
				if fi, err := os.Lstat(out); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("the link was replaced: %v, %v", fi, err)
				}
				got, _ := os.ReadFile(filepath.Join(dir, "real", "data.jsonl"))
				if !bytes.Equal(got, want) {
					t.Errorf("the link's target holds %q", got)
				}
				if entries, _ := os.ReadDir(filepath.Join(dir, "real")); len(entries) != 1 {
					t.Errorf("beside the target: %v", entries)
				}
			},
		},
		{
			name: "dangling symlink: target created",
			setup: func(t *testing.T, dir string) string {
				must(t, os.Symlink("new.jsonl", filepath.Join(dir, "link.jsonl")))
				return filepath.Join(dir, "link.jsonl")
			},
			check: func(t *testing.T, dir, out string) {
				if fi, err := os.Lstat(out); err != nil || fi.Mode()&os.ModeSymlink == 0 {
					t.Errorf("the link was replaced: %v, %v", fi, err)
				}
				if got, _ := os.ReadFile(filepath.Join(dir, "new.jsonl")); !bytes.Equal(got, want) {
					t.Errorf("the link's target holds %q", got)
				}
			},
		},
		{
			name: "FIFO: written as a stream",
			setup: func(t *testing.T, dir string) string {
				out := filepath.Join(dir, "fifo")
				must(t, syscall.Mkfifo(out, 0o600))
				got := make(chan []byte, 1)
				go func() {
					f, err := os.Open(out)
					if err != nil {
						got <- nil
						return
					}
					defer f.Close()
					b, _ := io.ReadAll(f)
					got <- b
				}()
				t.Cleanup(func() {
					if b := <-got; !bytes.Equal(b, want) {
						t.Errorf("the FIFO's reader got %q", b)
					}
				})
				return out
			},
			check: func(t *testing.T, dir, out string) {
				if fi, err := os.Lstat(out); err != nil || fi.Mode()&os.ModeNamedPipe == 0 {
					t.Errorf("the FIFO was replaced: %v, %v", fi, err)
				}
			},
		},
		{
			name:  "character device: /dev/null written, not replaced",
			setup: func(t *testing.T, dir string) string { return os.DevNull },
			check: func(t *testing.T, dir, out string) {
				if fi, err := os.Lstat(os.DevNull); err != nil || fi.Mode()&os.ModeCharDevice == 0 {
					t.Errorf("/dev/null is no longer a device: %v, %v", fi, err)
				}
			},
		},
		{
			name: "full device: its write error returned, device kept",
			setup: func(t *testing.T, dir string) string {
				if _, err := os.Stat("/dev/full"); err != nil {
					t.Skip("no /dev/full")
				}
				return "/dev/full"
			},
			wantErr: "no space left",
		},
		{
			name: "symlink loop: refused",
			setup: func(t *testing.T, dir string) string {
				must(t, os.Symlink("b", filepath.Join(dir, "a")))
				must(t, os.Symlink("a", filepath.Join(dir, "b")))
				return filepath.Join(dir, "a")
			},
			wantErr: "levels of symbolic links",
		},
		{
			name: "socket: refused",
			setup: func(t *testing.T, dir string) string {
				// A short directory: socket paths are limited to ~100 bytes.
				short, err := os.MkdirTemp("", "sock")
				must(t, err)
				t.Cleanup(func() { os.RemoveAll(short) })
				out := filepath.Join(short, "s")
				ln, err := net.Listen("unix", out)
				must(t, err)
				t.Cleanup(func() { ln.Close() })
				return out
			},
			wantErr: "is a socket",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			out := tt.setup(t, dir)
			c, err := Write(ctx, s, opts, out)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), out) {
					t.Fatalf("Write(%s) = %v, want an error naming the path and %q", out, err, tt.wantErr)
				}
				if fi, err := os.Lstat(out); err != nil || fi.Mode().IsRegular() {
					t.Errorf("%s was replaced by a regular file: %v, %v", out, fi, err)
				}
				return
			}
			if err != nil || c.Written != 3 {
				t.Fatalf("Write(%s) = %+v, %v", out, c, err)
			}
			tt.check(t, dir, out)
		})
	}
}

func TestOutputStdout(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	want, err := os.ReadFile(filepath.Join("testdata", "openai_instances.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer func(w io.Writer) { stdout = w }(stdout)
	for _, out := range []string{"-", "/dev/stdout"} {
		var buf bytes.Buffer
		stdout = &buf
		if c, err := Write(ctx, s, Options{Format: "openai", Stage: "instances"}, out); err != nil || c.Written != 3 {
			t.Fatalf("Write(%s) = %+v, %v", out, c, err)
		}
		if !bytes.Equal(buf.Bytes(), want) {
			t.Errorf("Write(%s) wrote %q", out, buf.Bytes())
		}
	}
	if _, err := Write(ctx, s, Options{Format: "hf"}, "-"); err == nil || !strings.Contains(err.Error(), "folder") {
		t.Errorf("Write(hf, -) = %v, want a folder error", err)
	}
}

// TestStaleTempFilesRemoved: an export killed before its rename leaves
// .NAME.tmp-N beside the output; the next export to the same path removes
// them, and nothing else.
func TestStaleTempFilesRemoved(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	for _, format := range []string{"openai", "parquet", "hf"} {
		t.Run(format, func(t *testing.T) {
			dir := t.TempDir()
			stale := []string{".out.tmp-123", ".out.tmp-4567890"}
			kept := []string{".out.tmp-abc", ".other.tmp-123", "out.tmp-1", ".out.tmp-"}
			for _, n := range append(append([]string{}, stale...), kept...) {
				must(t, os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o600))
			}
			// A killed hf export leaves a folder.
			must(t, os.MkdirAll(filepath.Join(dir, ".out.tmp-99", "data"), 0o755))
			must(t, os.WriteFile(filepath.Join(dir, ".out.tmp-99", "data", "x.parquet"), []byte("x"), 0o600))
			stage := "instances"
			if _, err := Write(ctx, s, Options{Format: format, Stage: stage}, filepath.Join(dir, "out")); err != nil {
				t.Fatal(err)
			}
			var names []string
			entries, _ := os.ReadDir(dir)
			for _, e := range entries {
				names = append(names, e.Name())
			}
			got := strings.Join(names, " ")
			for _, n := range append(stale, ".out.tmp-99") {
				if strings.Contains(" "+got+" ", " "+n+" ") {
					t.Errorf("stale %s left: %s", n, got)
				}
			}
			for _, n := range append(kept, "out") {
				if !strings.Contains(" "+got+" ", " "+n+" ") {
					t.Errorf("%s removed: %s", n, got)
				}
			}
		})
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
