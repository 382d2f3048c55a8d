package load

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

func write(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, cfg *Config, st *pipelinetest.MemStore) []*record.Record {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), &pipeline.Env{Name: "prompts", Store: st, Clock: func() time.Time { return time.Unix(0, 0) }}); err != nil {
		t.Fatal(err)
	}
	return st.All("prompts")
}

// summary is one record as a comparable line.
func summary(r *record.Record) string {
	if r.Status != record.Kept {
		return string(r.Status) + " " + r.Error
	}
	if len(r.Messages) > 0 {
		var parts []string
		for _, m := range r.Messages {
			parts = append(parts, m.Role+":"+m.Content)
		}
		return "chat " + strings.Join(parts, " | ")
	}
	return r.Instruction + " / " + r.Input + " / " + r.Output
}

func TestFormats(t *testing.T) {
	for _, tc := range []struct {
		name, file, body string
		fields           Fields
		want             []string
	}{
		{"jsonl default keys", "a.jsonl", `{"question":"2+2?","answer":"4"}
{"instruction":"Sum","input":"1 2","output":"3"}

{"prompt":"hi","response":"hello"}
`, Fields{}, []string{"2+2? /  / 4", "Sum / 1 2 / 3", "hi /  / hello"}},
		{"jsonl mapped", "a.jsonl", `{"q":"x","a":"y","answer":"ignored"}`, Fields{Instruction: "q", Output: "a"}, []string{"x /  / y"}},
		{"jsonl numbers", "a.jsonl", `{"prompt":"n?","answer":42}`, Fields{}, []string{"n? /  / 42"}},
		{"jsonl bad lines", "a.jsonl", `{"prompt":"ok"}
not json
{"answer":"no prompt"}
{"prompt":["list"]}
{"q":"x"}
`, Fields{}, []string{
			"ok /  / ",
			"failed load: line 2: not a JSON object: invalid character 'o' in literal null (expecting 'u')",
			"failed load: line 3: no prompt: none of instruction, prompt, question, query is a non-empty string",
			`failed load: line 4: field "prompt" is []interface {}, want a string`,
			"failed load: line 5: no prompt: none of instruction, prompt, question, query is a non-empty string",
		}},
		{"mapped key missing", "a.jsonl", `{"prompt":"x"}`, Fields{Instruction: "q"}, []string{`failed load: line 1: no field "q"`}},
		{"openai messages", "c.jsonl", `{"messages":[{"role":"system","content":"be brief"},{"role":"user","content":"hi"},{"role":"assistant","content":"hello"}]}`,
			Fields{}, []string{"chat system:be brief | user:hi | assistant:hello"}},
		{"sharegpt", "c.jsonl", `{"conversations":[{"from":"human","value":"hi"},{"from":"gpt","value":"yo"}]}`,
			Fields{}, []string{"chat user:hi | assistant:yo"}},
		{"bad role", "c.jsonl", `{"messages":[{"role":"robot","content":"x"}]}`, Fields{}, []string{`failed load: line 1: message 0: unknown role "robot"`}},
		{"empty messages", "c.jsonl", `{"messages":[]}`, Fields{}, []string{"failed load: line 1: messages must be a non-empty list"}},
		{"csv", "a.csv", "question,answer\n\"Why, though?\",Because\nShort,\n", Fields{}, []string{"Why, though? /  / Because", "Short /  / "}},
		{"tsv mapped", "a.tsv", "q\ta\nx\ty\n", Fields{Instruction: "q", Output: "a"}, []string{"x /  / y"}},
		{"csv bad quote", "a.csv", "prompt\n\"open\nok\n", Fields{}, []string{`failed load: record on line 2; parse error on line 3, column 4: extraneous or missing " in quoted-field`}},
		{"text", "p.txt", "first prompt\n\n  second prompt  \n", Fields{}, []string{"first prompt /  / ", "second prompt /  / "}},
		{"japanese text", "p.txt", "日本の首都は？\n", Fields{}, []string{"日本の首都は？ /  / "}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := write(t, t.TempDir(), tc.file, tc.body)
			recs := run(t, &Config{Path: p, Fields: tc.fields}, pipelinetest.NewMemStore())
			var got []string
			for _, r := range recs {
				got = append(got, summary(r))
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestDirectoriesGlobsLimitAndProvenance(t *testing.T) {
	dir := t.TempDir()
	write(t, dir, "b/2.txt", "b2\n")
	write(t, dir, "a.jsonl", `{"prompt":"a1"}`+"\n"+`{"prompt":"a2"}`+"\n")
	write(t, dir, "b/1.txt", "b1\n")
	write(t, dir, "notes.md", "ignored: not a known extension\n")
	recs := run(t, &Config{Paths: []string{dir}}, pipelinetest.NewMemStore())
	var got []string
	for _, r := range recs {
		got = append(got, r.Instruction)
	}
	if strings.Join(got, ",") != "a1,a2,b1,b2" {
		t.Errorf("directory order %v, want a1,a2,b1,b2", got)
	}
	r := recs[1]
	if fmt.Sprint(r.Meta["line"]) != "2" || !strings.HasSuffix(r.Meta["source"].(string), "a.jsonl") || r.Prov.Generator != "load" || r.Seq != 1 {
		t.Errorf("provenance of a2: meta %v prov %+v seq %d", r.Meta, r.Prov, r.Seq)
	}
	if !strings.HasPrefix(r.ID, "prompts:") || !strings.HasSuffix(r.ID, "a.jsonl:2") {
		t.Errorf("id %q", r.ID)
	}

	got = nil
	for _, r := range run(t, &Config{Paths: []string{filepath.Join(dir, "b", "*.txt"), filepath.Join(dir, "a.jsonl")}, Limit: 3}, pipelinetest.NewMemStore()) {
		got = append(got, r.Instruction)
	}
	if strings.Join(got, ",") != "b1,b2,a1" {
		t.Errorf("globs with limit 3: %v, want b1,b2,a1", got)
	}
}

func TestResumeSkipsCommittedChunks(t *testing.T) {
	var body strings.Builder
	for i := range 7 {
		body.WriteString("prompt " + string(rune('a'+i)) + "\n")
	}
	p := write(t, t.TempDir(), "p.txt", body.String())
	st := pipelinetest.NewMemStore()
	first := run(t, &Config{Path: p, Chunk: 3}, st)
	commits := st.Commits
	if commits != 3 || len(first) != 7 {
		t.Fatalf("%d commits, %d records; want 3 chunks of at most 3 and 7 records", commits, len(first))
	}
	again := run(t, &Config{Path: p, Chunk: 3}, st)
	if st.Commits != commits || len(again) != 7 {
		t.Errorf("rerun committed %d more units, has %d records; want nothing new", st.Commits-commits, len(again))
	}
}

func TestConfigErrors(t *testing.T) {
	dir := t.TempDir()
	empty := filepath.Join(dir, "empty")
	if err := os.Mkdir(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{}, "load: no path: set path or paths"},
		{Config{Path: filepath.Join(dir, "nope.jsonl")}, "load: stat "},
		{Config{Path: empty}, "load: folder " + empty + " holds no"},
		{Config{Path: filepath.Join(dir, "*.none")}, "load: pattern "},
		{Config{Path: dir, Format: "xml"}, `load: format "xml"`},
		{Config{Path: dir, Limit: -1}, "load: limit and chunk must not be negative"},
	} {
		if _, err := New(&tc.cfg); err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("New(%+v) = %v, want prefix %q", tc.cfg, err, tc.want)
		}
	}
}

func TestFromYAML(t *testing.T) {
	p := write(t, t.TempDir(), "q.jsonl", `{"q":"x","a":"y"}`)
	doc := `name: x
stages:
  - name: prompts
    type: load
    with:
      path: ` + p + `
      fields: {instruction: q, output: a}
`
	cfg, err := pipeline.ParseConfig("x.yaml", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	st := pipelinetest.NewMemStore()
	if err := pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st}); err != nil {
		t.Fatal(err)
	}
	if recs := st.All("prompts"); len(recs) != 1 || recs[0].Output != "y" {
		t.Errorf("records %+v", recs)
	}
	if _, err := pipeline.ParseConfig("x.yaml", []byte(strings.Replace(doc, "fields:", "feilds:", 1))); err == nil || !strings.Contains(err.Error(), "fields") {
		t.Errorf("misspelt key: %v, want a suggestion of fields", err)
	}
}

func FuzzReaders(f *testing.F) {
	f.Add([]byte(`{"prompt":"a","answer":"b"}`+"\n"+`{"messages":[{"role":"user","content":"x"}]}`), []byte("q,a\n1,2\n"))
	f.Add([]byte("{\"conversations\":[{\"from\":\"gpt\"}]}"), []byte("\"unterminated\n"))
	f.Fuzz(func(t *testing.T, jsonl, csvData []byte) {
		mk := func(line int) *record.Record { return &record.Record{Status: record.Kept} }
		recs, err := readLines(bytes.NewReader(jsonl), 0, -1, FormatJSONL, mk, Fields{})
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range recs {
			if r.Status == record.Kept && strings.TrimSpace(r.Instruction) == "" && len(r.Messages) == 0 {
				t.Fatalf("kept record without a prompt: %+v", r)
			}
			if r.Status == record.Failed && r.Error == "" {
				t.Fatal("failed record without an error")
			}
		}
		// Every line read alone from its offset, as a chunk reads its
		// first line, is the record the whole read made of it.
		i := 0
		err = eachLine(bytes.NewReader(jsonl), 0, func(line int, off int64, _ []byte) bool {
			one, err := readLines(bytes.NewReader(jsonl[off:]), line-1, 1, FormatJSONL, mk, Fields{})
			if err != nil || len(one) != 1 || i >= len(recs) || summary(one[0]) != summary(recs[i]) {
				t.Fatalf("line %d at offset %d read alone: %v, %d records, want record %d of %d", line, off, err, len(one), i, len(recs))
			}
			i++
			return true
		})
		if err != nil || i != len(recs) {
			t.Fatalf("eachLine: %v, %d lines, want %d", err, i, len(recs))
		}
		recs, _ = readCSV(csvData, ',', mk, Fields{})
		for _, r := range recs {
			if r.Status == record.Kept && strings.TrimSpace(r.Instruction) == "" {
				t.Fatalf("kept CSV record without a prompt: %+v", r)
			}
		}
	})
}

// TestChunksReadTheirOwnLines loads a file in chunks of every size, each
// chunk reading from its offset, and wants the records of one whole read:
// blank lines, a line longer than the read buffer, no final newline and a
// limit inside a chunk included.
func TestChunksReadTheirOwnLines(t *testing.T) {
	long := strings.Repeat("w", 1<<20+100) // past the read buffer
	var body strings.Builder
	for i := range 20 {
		switch i {
		case 3, 4:
			body.WriteString("  \n")
		case 9:
			fmt.Fprintf(&body, "{\"prompt\": %q}\r\n", long)
		case 12:
			body.WriteString("not json\n")
		default:
			fmt.Fprintf(&body, "{\"prompt\": \"p%d\", \"answer\": \"a%d\"}\n", i, i)
		}
	}
	body.WriteString(`{"prompt": "last"}`)
	p := write(t, t.TempDir(), "p.jsonl", body.String())
	mk := func(line int) *record.Record {
		return &record.Record{ID: fmt.Sprintf("prompts:%s:%d", filepath.ToSlash(p), line), Status: record.Kept}
	}
	whole, err := readLines(strings.NewReader(body.String()), 0, -1, FormatJSONL, mk, Fields{})
	if err != nil {
		t.Fatal(err)
	}
	if len(whole) != 19 {
		t.Fatalf("%d records in the whole read, want 19", len(whole))
	}
	for _, limit := range []int{0, 11} {
		want := whole
		if limit > 0 {
			want = whole[:limit]
		}
		for chunk := 1; chunk <= 20; chunk++ {
			got := run(t, &Config{Path: p, Chunk: chunk, Limit: limit}, pipelinetest.NewMemStore())
			if len(got) != len(want) {
				t.Fatalf("chunk %d, limit %d: %d records, want %d", chunk, limit, len(got), len(want))
			}
			for i := range got {
				if got[i].ID != want[i].ID || summary(got[i]) != summary(want[i]) || got[i].Seq != int64(i) {
					t.Fatalf("chunk %d, limit %d: record %d = %s (seq %d) %.40q, want %s %.40q", chunk, limit, i, got[i].ID, got[i].Seq, summary(got[i]), want[i].ID, summary(want[i]))
				}
			}
		}
	}
}
