package export

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"iter"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/parquet-go/parquet-go"

	"github.com/synthloop/synthloop/internal/golden"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

var t0 = time.Date(2026, 11, 28, 9, 30, 0, 0, time.UTC)

// fakeKey must never reach an export.
const fakeKey = "sk-test-0123456789abcdefSECRET"

const fixtureConfig = `name: demo
seed: 7
models:
  teacher:
    ref: openai/gpt-4o-mini
    api_key: ` + fakeKey + `
    api_key_env: OPENAI_API_KEY
    max_tokens: 1024
stages:
  - name: instructions
    type: selfinstruct
  - name: instances
    type: instances
  - name: chat
    type: conversations
`

func prov(gen, stage string, minute int) record.Provenance {
	return record.Provenance{Generator: gen, Stage: stage, Backend: "openai", Model: "gpt-4o-mini",
		TemplateHash: "tmpl-" + gen, Round: 1, CreatedAt: t0.Add(time.Duration(minute) * time.Minute),
		Params: map[string]any{"temperature": 0.7}}
}

// fixture builds a run with three stages that cover every export path:
// instruction-only records, instruction/input/output records (English and
// Japanese, kept, rejected and failed) and conversations.
func fixture(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	if err := s.PutMeta(ctx, store.Meta{Config: fixtureConfig, Source: "pipelines/demo.yaml", Seed: 7, Created: t0, Version: "v0.1.0-test"}); err != nil {
		t.Fatal(err)
	}
	units := []pipeline.Unit{
		{Stage: "instructions", Key: "batch-000000", Usage: pipeline.UnitUsage{Requests: 1, PromptTokens: 900, CompletionTokens: 400, CostUSD: 0.0012},
			Records: []*record.Record{
				{ID: "ins-0", Seq: 0, Status: record.Kept, Instruction: "Name three primary colors.", Prov: prov("selfinstruct", "instructions", 0)},
				{ID: "ins-1", Seq: 1, Status: record.Rejected, Instruction: "Draw a map of the city.", Prov: prov("selfinstruct", "instructions", 0),
					Decisions: []record.Decision{{Filter: "length", Passed: true}, {Filter: "blacklist", Reason: `contains "map"`}, {Filter: "blacklist", Reason: `contains "draw"`}}},
				{ID: "ins-2", Seq: 2, Status: record.Rejected, Instruction: "Name three primary colours.", Prov: prov("selfinstruct", "instructions", 0),
					Decisions: []record.Decision{{Filter: "rouge", Reason: "max ROUGE-L 0.83 > 0.7", Value: 0.83}}},
			}},
		{Stage: "instances", Key: "ins-0", Usage: pipeline.UnitUsage{Requests: 2, CachedRequests: 1, PromptTokens: 300, CompletionTokens: 200, CostUSD: 0.0005, Errors: 1},
			Records: []*record.Record{
				{ID: "inst-0", Seq: 0, Status: record.Kept, Instruction: "Name three primary colors.", Output: "Red, yellow and blue <in paint> & light: red, green, blue.", Prov: prov("instances", "instances", 1)},
				{ID: "inst-1", Seq: 1, Status: record.Kept, Instruction: "Translate to French.", Input: "Good morning", Output: "Bonjour", Prov: prov("instances", "instances", 2)},
				{ID: "inst-2", Seq: 2, Status: record.Kept, Instruction: "次の文を英語に訳してください。", Input: "おはようございます", Output: "Good morning.", Prov: prov("instances", "instances", 3)},
				{ID: "inst-3", Seq: 3, Status: record.Rejected, Instruction: "Repeat the word.", Input: "echo", Output: "echo", Prov: prov("instances", "instances", 3),
					Decisions: []record.Decision{{Filter: "instance", Reason: "input equals output"}}},
				{ID: "inst-4", Seq: 4, Status: record.Failed, Instruction: "Summarise the text.", Error: "model: request timed out after 3 attempts", Prov: prov("instances", "instances", 4)},
			}},
		{Stage: "chat", Key: "c-0", Usage: pipeline.UnitUsage{Requests: 3, PromptTokens: 500, CompletionTokens: 700, CostUSD: 0.002},
			Records: []*record.Record{
				{ID: "chat-0", Seq: 0, Status: record.Kept, Prov: prov("conversations", "chat", 5), Messages: []record.Turn{
					{Role: "system", Content: "You are a helpful support agent."},
					{Role: "user", Content: "My order is late."},
					{Role: "assistant", Content: "Sorry to hear that. What is the order number?"},
					{Role: "user", Content: "A-1234"},
					{Role: "assistant", Content: "Thanks, it ships tomorrow."},
				}},
				{ID: "chat-1", Seq: 1, Status: record.Kept, Prov: prov("conversations", "chat", 6), Messages: []record.Turn{
					{Role: "user", Content: "Hi"},
					{Role: "user", Content: "Are you there?"},
					{Role: "assistant", Content: "Yes, how can I help?"},
				}},
				{ID: "chat-2", Seq: 2, Status: record.Kept, Prov: prov("conversations", "chat", 7), Messages: []record.Turn{
					{Role: "user", Content: "A question nobody answered"},
				}},
			}},
		{Stage: "prefs", Key: "p-0", Usage: pipeline.UnitUsage{Requests: 8, PromptTokens: 2000, CompletionTokens: 900, CostUSD: 0.003},
			Records: []*record.Record{
				{ID: "pref-0", Seq: 0, Status: record.Kept, Instruction: "Explain recursion.", Input: "in one sentence",
					Chosen: "A function that calls itself on a smaller part of the problem.", Rejected: "Recursion is recursion.",
					Scores: map[string]float64{"chosen": 4.67, "rejected": 1.33}, Prov: prov("selfreward", "prefs", 8)},
				{ID: "pref-1", Seq: 1, Status: record.Kept, Messages: []record.Turn{{Role: "system", Content: "Be kind."}, {Role: "user", Content: "Say hi."}},
					Chosen: "Hi there!", Rejected: "What.", Prov: prov("selfreward", "prefs", 9)},
				{ID: "pref-2", Seq: 2, Status: record.Kept, Instruction: "A prompt whose pair is not built yet.", Chosen: "only one", Prov: prov("selfreward", "prefs", 9)},
				{ID: "pref-3", Seq: 3, Status: record.Rejected, Instruction: "Tied prompt.", Chosen: "x", Rejected: "y",
					Decisions: []record.Decision{{Filter: "pair", Reason: "tie: 3.00 = 3.00"}}, Prov: prov("selfreward", "prefs", 10)},
			}},
	}
	for _, u := range units {
		if err := s.Commit(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	return s
}

// golden compares got with testdata/name, or rewrites it with -update.

func TestJSONLGolden(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	for _, c := range []struct {
		format, stage string
		audit         bool
		want          Counts
	}{
		{"alpaca", "instances", false, Counts{Stage: "instances", Written: 3, Kept: 3, Skipped: 2}},
		{"alpaca", "chat", false, Counts{Stage: "chat", Written: 2, Kept: 2, Skipped: 1, Unfit: 1}},
		{"alpaca", "instances", true, Counts{Stage: "instances", Written: 5, Kept: 3, Rejected: 1, Failed: 1, NoAnswer: 1}},
		{"sharegpt", "instances", false, Counts{Stage: "instances", Written: 3, Kept: 3, Skipped: 2}},
		{"sharegpt", "chat", false, Counts{Stage: "chat", Written: 2, Kept: 2, Skipped: 1, Unfit: 1}},
		{"sharegpt", "chat", true, Counts{Stage: "chat", Written: 3, Kept: 3, NoAnswer: 1}},
		{"openai", "instances", false, Counts{Stage: "instances", Written: 3, Kept: 3, Skipped: 2}},
		{"openai", "chat", false, Counts{Stage: "chat", Written: 2, Kept: 2, Skipped: 1, Unfit: 1}},
		{"openai", "instructions", true, Counts{Stage: "instructions", Written: 3, Kept: 1, Rejected: 2, NoAnswer: 3}},
		{"dpo", "prefs", false, Counts{Stage: "prefs", Written: 2, Kept: 2, Skipped: 2, Unfit: 1}},
		{"dpo", "prefs", true, Counts{Stage: "prefs", Written: 4, Kept: 3, Rejected: 1}},
	} {
		name := c.format + "_" + c.stage
		if c.audit {
			name += "_audit"
		}
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), name+".jsonl")
			got, err := Write(ctx, s, Options{Format: c.format, Stage: c.stage, IncludeRejected: c.audit}, out)
			if err != nil {
				t.Fatal(err)
			}
			if got != c.want {
				t.Errorf("Counts = %+v, want %+v", got, c.want)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			if n := bytes.Count(b, []byte("\n")); n != c.want.Written {
				t.Errorf("%d lines, want %d", n, c.want.Written)
			}
			golden.File(t, filepath.Join("testdata", name+".jsonl"), b)
		})
	}
}

func TestDefaultStageIsLast(t *testing.T) {
	s := fixture(t)
	c, err := Write(context.Background(), s, Options{Format: "dpo"}, filepath.Join(t.TempDir(), "x.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Stage != "prefs" {
		t.Errorf("default stage = %q, want the last stage, prefs", c.Stage)
	}
}

func TestParquetReadBack(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	dir := t.TempDir()
	for _, audit := range []bool{false, true} {
		for _, stage := range []string{"instances", "chat", "prefs"} {
			out := filepath.Join(dir, fmt.Sprintf("%s-%v.parquet", stage, audit))
			c, err := Write(ctx, s, Options{Format: "parquet", Stage: stage, IncludeRejected: audit}, out)
			if err != nil {
				t.Fatal(err)
			}
			var want []AuditRow
			status := record.Kept
			if audit {
				status = ""
			}
			for r, err := range s.Records(ctx, stage, status) {
				if err != nil {
					t.Fatal(err)
				}
				want = append(want, auditRowOf(r))
			}
			if c.Written != len(want) {
				t.Errorf("%s: wrote %d, want %d", out, c.Written, len(want))
			}
			if audit {
				got, err := parquet.ReadFile[AuditRow](out)
				if err != nil {
					t.Fatal(err)
				}
				normalize(got)
				normalize(want)
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s read back:\n got %+v\nwant %+v", out, got, want)
				}
				continue
			}
			got, err := parquet.ReadFile[Row](out)
			if err != nil {
				t.Fatal(err)
			}
			var wantRows []Row
			for _, w := range want {
				wantRows = append(wantRows, w.Row)
			}
			if !reflect.DeepEqual(got, wantRows) {
				t.Errorf("%s read back:\n got %+v\nwant %+v", out, got, wantRows)
			}
		}
	}

	// The schema is what Hugging Face datasets reads well: messages a LIST of
	// structs, created_at a UTC microsecond timestamp, no audit columns by default.
	f, err := os.Open(filepath.Join(dir, "chat-false.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	pf, err := parquet.OpenFile(f, fi.Size())
	if err != nil {
		t.Fatal(err)
	}
	sch := pf.Schema()
	var cols []string
	for _, f := range sch.Fields() {
		cols = append(cols, f.Name())
	}
	wantCols := []string{"id", "stage", "instruction", "input", "output", "messages", "chosen", "rejected", "generator", "backend", "model", "template_hash", "round", "created_at"}
	if !reflect.DeepEqual(cols, wantCols) {
		t.Errorf("columns = %v, want %v", cols, wantCols)
	}
	schemaText := sch.String()
	for _, want := range []string{"(LIST)", "TIMESTAMP(isAdjustedToUTC=true,unit=MICROS)"} {
		if !strings.Contains(schemaText, want) {
			t.Errorf("schema lacks %s:\n%s", want, schemaText)
		}
	}
}

// normalize makes nil and empty slices compare equal (Parquet cannot tell them apart).
func normalize(rows []AuditRow) {
	for i := range rows {
		if len(rows[i].Reasons) == 0 {
			rows[i].Reasons = nil
		}
	}
}

func TestHFFolder(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	for _, audit := range []bool{false, true} {
		name := "hf_card.md"
		if audit {
			name = "hf_card_audit.md"
		}
		t.Run(name, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "demo-dataset")
			c, err := Write(ctx, s, Options{Format: "hf", Stage: "instances", IncludeRejected: audit}, out)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := parquet.ReadFile[AuditRow](filepath.Join(out, HFDataFile))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != c.Written {
				t.Errorf("data file has %d rows, counts say %d", len(rows), c.Written)
			}
			readme, err := os.ReadFile(filepath.Join(out, "README.md"))
			if err != nil {
				t.Fatal(err)
			}
			if bytes.Contains(readme, []byte("SECRET")) || bytes.Contains(readme, []byte(fakeKey)) {
				t.Errorf("dataset card leaks the API key:\n%s", readme)
			}
			if !bytes.Contains(readme, []byte("api_key_env: OPENAI_API_KEY")) {
				t.Errorf("dataset card redacted the name of an environment variable")
			}
			golden.File(t, filepath.Join("testdata", name), readme)
			checkFrontMatter(t, readme, c.Written, audit)
			entries, _ := os.ReadDir(filepath.Dir(out))
			if len(entries) != 1 {
				t.Errorf("export left extra files beside the folder: %v", entries)
			}
		})
	}
}

// checkFrontMatter parses the card's YAML the way the Hub does and checks
// that the features it declares are the Parquet columns.
func checkFrontMatter(t *testing.T, readme []byte, n int, audit bool) {
	t.Helper()
	parts := strings.SplitN(string(readme), "---\n", 3)
	if len(parts) != 3 || parts[0] != "" {
		t.Fatalf("card does not start with a --- front matter block")
	}
	var fm struct {
		License  string   `yaml:"license"`
		Language []string `yaml:"language"`
		TaskMeta []string `yaml:"task_categories"`
		SizeMeta []string `yaml:"size_categories"`
		Configs  []struct {
			Name      string `yaml:"config_name"`
			DataFiles []struct {
				Split string `yaml:"split"`
				Path  string `yaml:"path"`
			} `yaml:"data_files"`
		} `yaml:"configs"`
		DatasetInfo struct {
			Features []struct {
				Name string `yaml:"name"`
			} `yaml:"features"`
			Splits []struct {
				Name        string `yaml:"name"`
				NumExamples int    `yaml:"num_examples"`
			} `yaml:"splits"`
		} `yaml:"dataset_info"`
	}
	if err := yaml.Unmarshal([]byte(parts[1]), &fm); err != nil {
		t.Fatalf("front matter is not YAML: %v", err)
	}
	if fm.License == "" || len(fm.Language) == 0 || len(fm.TaskMeta) == 0 || len(fm.SizeMeta) == 0 {
		t.Errorf("front matter misses license, language, task or size: %+v", fm)
	}
	if len(fm.Configs) != 1 || fm.Configs[0].DataFiles[0].Path != "data/train-*" {
		t.Errorf("configs = %+v", fm.Configs)
	}
	if len(fm.DatasetInfo.Splits) != 1 || fm.DatasetInfo.Splits[0].NumExamples != n {
		t.Errorf("splits = %+v, want train with %d", fm.DatasetInfo.Splits, n)
	}
	var features []string
	for _, f := range fm.DatasetInfo.Features {
		features = append(features, f.Name)
	}
	var cols []string
	var schemaOf any = Row{}
	if audit {
		schemaOf = AuditRow{}
	}
	for _, f := range parquet.SchemaOf(schemaOf).Fields() {
		cols = append(cols, f.Name())
	}
	if !reflect.DeepEqual(features, cols) {
		t.Errorf("card features %v != parquet columns %v", features, cols)
	}
}

func TestHFIntoExistingFolder(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	out := filepath.Join(t.TempDir(), "ds")
	if err := os.MkdirAll(out, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(out, "NOTES.txt"), []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Write(ctx, s, Options{Format: "hf", Stage: "chat"}, out); err != nil {
		t.Fatal(err)
	}
	c, err := Write(ctx, s, Options{Format: "hf", Stage: "instances"}, out)
	if err != nil {
		t.Fatal(err)
	}
	rows, err := parquet.ReadFile[Row](filepath.Join(out, HFDataFile))
	if err != nil || len(rows) != c.Written || rows[0].Stage != "instances" {
		t.Errorf("second export did not replace the data: %d rows, %v", len(rows), err)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "NOTES.txt")); string(b) != "mine" {
		t.Error("export removed a file of the user's")
	}
	entries, _ := os.ReadDir(filepath.Dir(out))
	if len(entries) != 1 {
		t.Errorf("temporary folders left behind: %v", entries)
	}

	file := filepath.Join(t.TempDir(), "file")
	os.WriteFile(file, nil, 0o644)
	if _, err := Write(ctx, s, Options{Format: "hf"}, file); err == nil {
		t.Error("hf export over a plain file succeeded")
	}
}

func TestEmptyStage(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	// A stage whose records were all rejected.
	if err := s.Commit(ctx, pipeline.Unit{Stage: "judged", Key: "u", Records: []*record.Record{
		{ID: "j0", Status: record.Rejected, Output: "x", Decisions: []record.Decision{{Filter: "judge", Reason: "score 1 < 4"}}},
		{ID: "j1", Status: record.Failed, Error: "boom"},
	}}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, format := range []string{"alpaca", "parquet", "hf"} {
		out := filepath.Join(dir, "out-"+format)
		_, err := Write(ctx, s, Options{Format: format, Stage: "judged"}, out)
		if !errors.Is(err, ErrEmpty) {
			t.Fatalf("%s: Write(all rejected) = %v, want ErrEmpty", format, err)
		}
		if msg := err.Error(); !strings.Contains(msg, "1 rejected, 1 failed") || !strings.Contains(msg, "--include-rejected") {
			t.Errorf("%s: error %q does not say what happened or what to do", format, msg)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: an empty export created %s", format, out)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("failed exports left files: %v", entries)
	}
	c, err := Write(ctx, s, Options{Format: "alpaca", Stage: "judged", IncludeRejected: true}, filepath.Join(dir, "audit.jsonl"))
	if err != nil || c.Written != 2 {
		t.Errorf("audit export of the rejected stage = %+v, %v", c, err)
	}

	empty, err := store.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer empty.Close()
	if _, err := Write(ctx, empty, Options{Format: "alpaca"}, filepath.Join(dir, "none.jsonl")); !errors.Is(err, ErrEmpty) {
		t.Errorf("export of a run with no stages = %v, want ErrEmpty", err)
	}
}

func TestBadOptions(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	out := filepath.Join(t.TempDir(), "x")
	_, err := Write(ctx, s, Options{Format: "csv"}, out)
	if err == nil || !strings.Contains(err.Error(), "alpaca, sharegpt, openai, dpo, parquet, hf") {
		t.Errorf("unknown format error = %v, want the valid formats listed", err)
	}
	_, err = Write(ctx, s, Options{Format: "alpaca", Stage: "nope"}, out)
	if err == nil || !strings.Contains(err.Error(), "instructions, instances, chat") {
		t.Errorf("unknown stage error = %v, want the stages listed", err)
	}
	if _, err := Write(ctx, s, Options{Format: "alpaca"}, ""); err == nil {
		t.Error("empty output path accepted")
	}
	// dpo of a stage without preference pairs says so and writes nothing.
	_, err = Write(ctx, s, Options{Format: "dpo", Stage: "instances"}, out)
	if !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), "chosen and rejected") {
		t.Errorf("dpo of a stage without pairs = %v", err)
	}
	// So does openai of a stage of prompts only; parquet keeps them.
	if _, err = Write(ctx, s, Options{Format: "openai", Stage: "instructions"}, out); !errors.Is(err, ErrEmpty) || !strings.Contains(err.Error(), "need an answer") {
		t.Errorf("openai of an instruction-only stage = %v", err)
	}
	if c, err := Write(ctx, s, Options{Format: "parquet", Stage: "instructions"}, out+".parquet"); err != nil || c.Written != 1 || c.NoAnswer != 1 {
		t.Errorf("parquet of an instruction-only stage = %+v, %v", c, err)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("failed dpo export created %s", out)
	}
}

// brokenSource fails after yielding some records, as a store read error would.
type brokenSource struct {
	Source
	after int
}

func (b brokenSource) Records(ctx context.Context, stage string, st record.Status) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {
		i := 0
		for r, err := range b.Source.Records(ctx, stage, st) {
			if i == b.after {
				yield(nil, errors.New("disk on fire"))
				return
			}
			if !yield(r, err) {
				return
			}
			i++
		}
	}
}

func TestAtomicOutput(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	dir := t.TempDir()
	for _, format := range []string{"openai", "parquet"} {
		out := filepath.Join(dir, "old-"+format)
		if err := os.WriteFile(out, []byte("previous export\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, err := Write(ctx, brokenSource{s, 2}, Options{Format: format, Stage: "instances"}, out)
		if err == nil || !strings.Contains(err.Error(), "disk on fire") {
			t.Fatalf("%s: Write with a failing source = %v", format, err)
		}
		if b, _ := os.ReadFile(out); string(b) != "previous export\n" {
			t.Errorf("%s: a failed export changed the previous file: %q", format, b)
		}
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Errorf("temporary files left after failed exports: %v", entries)
	}
	// A successful export replaces the file with mode 0644.
	out := filepath.Join(dir, "old-openai")
	if _, err := Write(ctx, s, Options{Format: "openai", Stage: "instances"}, out); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(out); fi.Mode().Perm() != 0o644 {
		t.Errorf("export mode = %v, want 0644", fi.Mode().Perm())
	}
}

func TestRedact(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"api_key: abc", `api_key: "<redacted>"`},
		{"  OPENAI_API_KEY: 'x'", `  OPENAI_API_KEY: "<redacted>"`},
		{"password: hunter2", `password: "<redacted>"`},
		{"  - authorization: Bearer x", `  - authorization: "<redacted>"`},
		{"api_key_env: OPENAI_API_KEY", "api_key_env: OPENAI_API_KEY"},
		{"max_tokens: 1024", "max_tokens: 1024"},
		{"note: key sk-abcdefghijklmnop here", "note: key <redacted> here"},
		{"hf: hf_abcdefghijklmnopqrstu", "hf: <redacted>"},
		{"api_key:", "api_key:"},
	} {
		if got := redact(c.in); got != c.want {
			t.Errorf("redact(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestLanguageAndSize(t *testing.T) {
	for _, c := range []struct {
		text, want string
	}{
		{"Translate this sentence.", "en"},
		{"次の文を英語に訳してください。", "ja"},
		{"请把这句话翻译成英文。", "zh"},
		{"이 문장을 번역하세요.", "ko"},
		{"Explain the word 漢字 in a paragraph about Japanese writing systems.", "en"},
	} {
		if got := language(&record.Record{Instruction: c.text}); got != c.want {
			t.Errorf("language(%q) = %s, want %s", c.text, got, c.want)
		}
	}
	for _, c := range []struct {
		n    int
		want string
	}{{0, "n<1K"}, {999, "n<1K"}, {1000, "1K<n<10K"}, {52_002, "10K<n<100K"}, {2_000_000, "1M<n<10M"}} {
		if got := sizeCategory(c.n); got != c.want {
			t.Errorf("sizeCategory(%d) = %s, want %s", c.n, got, c.want)
		}
	}
	if f := fence("a ```` b"); f != "`````" {
		t.Errorf("fence = %q", f)
	}
}

func ExampleFormats() {
	for _, f := range Formats() {
		fmt.Println(f.Name)
	}
	// Output:
	// alpaca
	// sharegpt
	// openai
	// dpo
	// parquet
	// hf
	// stratos
	// verl
	// trl-grpo
	// openrlhf
	// trl
}

// plainSource hides the store's RunInfo, as any other Source would.
type plainSource struct{ Source }

func TestHFCardWithoutRunInfo(t *testing.T) {
	s := fixture(t)
	out := filepath.Join(t.TempDir(), "ds")
	c, err := Write(context.Background(), plainSource{s}, Options{Format: "hf", Stage: "chat"}, out)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile(filepath.Join(out, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"The run recorded no settings.", "num_examples: 3", "`conversations` (3)"} {
		if !bytes.Contains(readme, []byte(want)) {
			t.Errorf("card lacks %q", want)
		}
	}
	if bytes.Contains(readme, []byte("| stage | units |")) {
		t.Error("card has a stats table without stats")
	}
	checkFrontMatter(t, readme, c.Written, false)
}

func TestWriteToStream(t *testing.T) {
	ctx := context.Background()
	s := fixture(t)
	var buf bytes.Buffer
	c, err := WriteTo(ctx, s, Options{Format: "openai", Stage: "instances"}, &buf)
	if err != nil || c.Written != 3 {
		t.Fatalf("WriteTo = %+v, %v", c, err)
	}
	want, _ := os.ReadFile(filepath.Join("testdata", "openai_instances.jsonl"))
	if !bytes.Equal(buf.Bytes(), want) {
		t.Errorf("WriteTo output differs from Write's golden file:\n%s", buf.Bytes())
	}
	buf.Reset()
	if c, err := WriteTo(ctx, s, Options{Format: "parquet", Stage: "chat"}, &buf); err != nil || c.Written != 3 || !bytes.HasPrefix(buf.Bytes(), []byte("PAR1")) {
		t.Errorf("WriteTo(parquet) = %+v, %v, %d bytes", c, err, buf.Len())
	}
	if _, err := WriteTo(ctx, s, Options{Format: "hf"}, &buf); err == nil {
		t.Error("WriteTo(hf) succeeded; hf is a folder")
	}
	if _, err := WriteTo(ctx, s, Options{Format: "nope"}, &buf); err == nil || !strings.Contains(err.Error(), "valid formats") {
		t.Errorf("WriteTo(unknown) = %v", err)
	}
}

func TestUserTextDropsNoInput(t *testing.T) {
	tests := []struct {
		in, input, want string
	}{
		{"Add.", "", "Add."},
		{"Add.", "<noinput>", "Add."},
		{"Add.", "1 2", "Add.\n\n1 2"},
	}
	for _, tt := range tests {
		if got := userText(&record.Record{Instruction: tt.in, Input: tt.input}); got != tt.want {
			t.Errorf("userText(%q, %q) = %q, want %q", tt.in, tt.input, got, tt.want)
		}
	}
}
