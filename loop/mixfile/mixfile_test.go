package mixfile

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/loop"
)

func write(t *testing.T, dir, name string, n int, dpo bool) loop.DataFile {
	t.Helper()
	var b strings.Builder
	for i := range n {
		if dpo {
			fmt.Fprintf(&b, `{"prompt":"%s %d","chosen":"c","rejected":"r"}`+"\n", name, i)
		} else {
			fmt.Fprintf(&b, `{"instruction":"%s %d","input":"","output":"o"}`+"\n", name, i)
		}
	}
	p := filepath.Join(dir, name+".jsonl")
	os.WriteFile(p, []byte(b.String()), 0o644)
	return loop.DataFile{Path: p, Kept: n}
}

func TestWriteMixture(t *testing.T) {
	dir := t.TempDir()
	old1, old2, newest := write(t, dir, "r1", 50, false), write(t, dir, "r2", 3, false), write(t, dir, "r3", 40, false)
	old1.Weight, old2.Weight, newest.Weight = 0.25, 0.25, 0.5
	files := []loop.DataFile{old1, old2, newest}
	if got := Total(files); got != 80 {
		t.Errorf("Total = %d, want 80 (40 newest at weight 0.5)", got)
	}
	out := filepath.Join(dir, "mix.jsonl")
	n, err := Write(out, files, 80, 7, TRL)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := os.ReadFile(out)
	// r1 gives its 20, r2 all of its 3 (its share capped by its size), r3 its 40.
	counts := map[string]int{"r1": bytes.Count(data, []byte(`"r1 `)), "r2": bytes.Count(data, []byte(`"r2 `)), "r3": bytes.Count(data, []byte(`"r3 `))}
	if n != 63 || counts["r1"] != 20 || counts["r2"] != 3 || counts["r3"] != 40 {
		t.Errorf("wrote %d: %v; want 63: r1 20, r2 3, r3 40", n, counts)
	}
	if !bytes.HasPrefix(data, []byte(`{"messages":[{"role":"user"`)) {
		t.Errorf("not chat messages: %.100s", data)
	}
	again := filepath.Join(dir, "again.jsonl")
	Write(again, files, 80, 7, TRL)
	if b, _ := os.ReadFile(again); !bytes.Equal(b, data) {
		t.Error("the same seed wrote a different mixture")
	}
}

func TestDPOStyles(t *testing.T) {
	dir := t.TempDir()
	f := write(t, dir, "p", 2, true)
	f.Weight = 1
	for style, want := range map[string]string{
		TRL:    `{"chosen":"c","prompt":"p `,
		OpenAI: `{"input":{"messages":[{"role":"user","content":"p `,
	} {
		out := filepath.Join(dir, style+".jsonl")
		if _, err := Write(out, []loop.DataFile{f}, 0, 1, style); err != nil {
			t.Fatal(err)
		}
		b, _ := os.ReadFile(out)
		if !bytes.HasPrefix(b, []byte(want)) {
			t.Errorf("%s: %s, want it to start %s", style, b, want)
		}
	}
	if _, err := Write(filepath.Join(dir, "x"), []loop.DataFile{f}, 0, 1, "csv"); err == nil {
		t.Error("an unknown style was accepted")
	}
}
