package all_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "github.com/synthloop/synthloop/all"
	"github.com/synthloop/synthloop/examples"
	"github.com/synthloop/synthloop/grounding/groundingtest"
	"github.com/synthloop/synthloop/ingest"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/faq"
	"github.com/synthloop/synthloop/store"
)

// exampleKinds says how each kind of file in examples/ is checked, first
// match wins. A file no kind matches fails the test, so a new kind of
// example gets a check instead of going unchecked.
var exampleKinds = []struct {
	name  string
	match func(path string) bool
	check func(path string) error
}{
	{"loop file", func(p string) bool { return isTop(p) && strings.HasPrefix(filepath.Base(p), "loop-") && isYAML(p) }, checkLoop},
	{"pipeline file", func(p string) bool { return isTop(p) && isYAML(p) }, checkPipeline},
	{"FAQ file", func(p string) bool { return under(p, "examples/faq") }, checkFAQ},
	{"problem file", func(p string) bool { return under(p, "examples/reasoning") }, checkProblems},
	{"seed problem file", func(p string) bool { return under(p, "examples/problems") }, checkSeedProblems},
	{"document", func(p string) bool { return under(p, "examples/docs") && ingest.FormatOf(p) != "" }, checkDocument},
	{"prompt template", func(p string) bool { return under(p, "examples/prompts") && filepath.Ext(p) == ".tmpl" }, checkTemplateUsed},
	// examples.go embeds the top-level files (the demo runs one of them);
	// checkEmbedded checks that it embeds every one.
	{"embedding package", func(p string) bool { return p == filepath.Join("examples", "examples.go") }, checkEmbedded},
	// gen.go rebuilds a committed binary example (the PDF) with go generate;
	// it must stay out of the build.
	{"generator", func(p string) bool { return filepath.Ext(p) == ".go" }, checkGenerator},
}

func isTop(p string) bool    { return filepath.Dir(p) == "examples" }
func isYAML(p string) bool   { return filepath.Ext(p) == ".yaml" || filepath.Ext(p) == ".yml" }
func under(p, d string) bool { return strings.HasPrefix(p, d+string(filepath.Separator)) }

// TestExamples loads and validates every file in examples/ with the
// library's own loaders and every registered type, as a Go program that
// imports only the library (and this package for registration) would.
func TestExamples(t *testing.T) {
	t.Chdir("..") // the examples' paths are relative to the repository root
	counts := map[string]int{}
	err := filepath.WalkDir("examples", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		for _, k := range exampleKinds {
			if k.match(path) {
				counts[k.name]++
				t.Run(filepath.ToSlash(path), func(t *testing.T) {
					if err := k.check(path); err != nil {
						t.Errorf("%s (%s): %v", path, k.name, err)
					}
				})
				return nil
			}
		}
		t.Errorf("%s: no check in TestExamples knows this kind of file; add one to exampleKinds", path)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A walk that found nothing of a kind means the layout changed under
	// the test, which would otherwise pass having checked nothing.
	for _, k := range exampleKinds {
		if counts[k.name] == 0 {
			t.Errorf("no %s found in examples/", k.name)
		}
	}
}

// checkPipeline loads a pipeline file and constructs each stage, which is
// what `synthloop run` does before sending any request.
func checkPipeline(path string) error {
	cfg, err := pipeline.LoadConfig(path)
	if err != nil {
		return err
	}
	for _, sc := range cfg.Stages {
		st, ok := pipeline.Lookup(sc.Type)
		if !ok {
			return fmt.Errorf("stage %s: type %q not registered", sc.Name, sc.Type)
		}
		if _, err := st.New(sc.Settings); err != nil {
			return fmt.Errorf("stage %s: %w", sc.Name, err)
		}
	}
	return nil
}

// checkLoop loads a loop file and constructs its generator, trainer and
// evaluator and those of its phases, which is what `synthloop loop` does
// before round 1, and those of its baseline (and the baseline's phases),
// which it does after the shared rounds.
func checkLoop(path string) error {
	cfg, err := loop.LoadConfig(path)
	if err != nil {
		return err
	}
	cfgs := []*loop.Config{cfg}
	if bc, err := cfg.BaselineConfig(); err != nil {
		return err
	} else if bc != nil {
		cfgs = append(cfgs, bc)
	}
	for _, c := range cfgs {
		for i := range c.Phases {
			pc, err := c.PhaseConfig(i)
			if err != nil {
				return err
			}
			cfgs = append(cfgs, pc)
		}
	}
	for _, c := range cfgs {
		if err := construct("generator", loop.Generators(), c.Generate); err != nil {
			return err
		}
		if err := construct("trainer", loop.Trainers(), c.Train); err != nil {
			return err
		}
		if err := construct("evaluator", loop.Evaluators(), c.Evaluate); err != nil {
			return err
		}
	}
	return nil
}

func construct[T any](kind string, types []loop.Type[T], s loop.Step) error {
	for _, t := range types {
		if t.Name != s.Type {
			continue
		}
		settings := s.Settings
		if settings == nil {
			settings = t.Config()
		}
		if _, err := t.New(settings); err != nil {
			return fmt.Errorf("%s %s: %w", kind, s.Type, err)
		}
		return nil
	}
	return fmt.Errorf("%s type %q not registered", kind, s.Type)
}

// checkFAQ reads an FAQ file the faq stage reads (examples/faq.yaml points
// at the folder): every entry must read, since a broken one would be
// recorded as a failure in every run of the example.
func checkFAQ(path string) error {
	files, err := faq.FAQFiles([]string{path})
	if err != nil {
		return err
	}
	if len(files) != 1 {
		return fmt.Errorf("not an FAQ file (.jsonl, .json, .yaml, .yml, .csv, .tsv)")
	}
	es, err := faq.ReadEntries(path, faq.Keys{})
	if err != nil {
		return err
	}
	if len(es) == 0 {
		return fmt.Errorf("no entries")
	}
	for _, e := range es {
		if e.Err != "" {
			return fmt.Errorf("entry %s: %s", e.Key, e.Err)
		}
	}
	return nil
}

// checkDocument reads a document of examples/docs (the docqa example's
// input) with the in-process extractor and wants text from it.
func checkDocument(path string) error {
	d, err := ingest.Read(context.Background(), path, ingest.Options{})
	if err != nil {
		return err
	}
	if strings.TrimSpace(d.Text) == "" {
		return fmt.Errorf("no text extracted")
	}
	return nil
}

func checkGenerator(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if !strings.HasPrefix(string(b), "//go:build ignore\n") {
		return fmt.Errorf("a Go file in examples/ must start with //go:build ignore, or it joins the build")
	}
	return nil
}

// TestStageExamplesParse parses the snippet every registered stage type shows
// in `synthloop stages TYPE`, so the help never shows a config that fails.
// Files the snippets name are created empty-but-valid in a temp directory.
func TestStageExamplesParse(t *testing.T) {
	t.Chdir(t.TempDir())
	os.MkdirAll("data", 0o755)
	os.WriteFile("data/questions.jsonl", []byte(`{"prompt":"x"}`+"\n"), 0o644)
	os.MkdirAll("evals", 0o755)
	os.WriteFile("evals/mmlu.jsonl", []byte(`{"text":"Which planet is known as the red planet?"}`+"\n"), 0o644)
	types := pipeline.Types()
	if len(types) == 0 {
		t.Fatal("no stage types registered")
	}
	for _, st := range types {
		if st.Doc == "" || st.Example == "" {
			t.Errorf("%s: no doc or example", st.Name)
			continue
		}
		var b strings.Builder
		b.WriteString("name: t\nmodels:\n")
		for _, m := range []string{"teacher", "critic", "student", "other", "assistant", "simulator", "judge", "user"} {
			b.WriteString("  " + m + ": {ref: ollama/x}\n")
		}
		b.WriteString("stages:\n  - name: first\n    type: load\n    with: {path: data/questions.jsonl}\n")
		for line := range strings.Lines(st.Example) {
			b.WriteString("  " + line)
		}
		if _, err := pipeline.ParseConfig(st.Name+".yaml", []byte(b.String())); err != nil {
			t.Errorf("%s: example does not parse: %v\n%s", st.Name, err, b.String())
		}
	}
}

// TestGroundedExamplesRun runs examples/docqa.yaml and examples/faq.yaml
// against the scripted teacher and grounding judge, with the SQLite store.
func TestGroundedExamplesRun(t *testing.T) {
	t.Chdir("..") // the examples' paths are relative to the repository root
	srv := modeltest.NewServer(groundingtest.Responder(scripted.New(1).Responder()))
	defer srv.Close()
	for _, f := range []string{"examples/docqa.yaml", "examples/faq.yaml"} {
		if stats, err := runExample(t, f, srv.URL); err != nil || len(stats) == 0 || stats[0].Kept == 0 {
			t.Errorf("%s: %+v, %v", f, stats, err)
		}
	}
}

// TestGenerateExampleRuns runs examples/generate.yaml against the scripted
// teacher, offline, with the SQLite store: every FAQ entry gets two replies.
func TestGenerateExampleRuns(t *testing.T) {
	t.Chdir("..") // the examples' paths are relative to the repository root
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	stats, err := runExample(t, "examples/generate.yaml", srv.URL)
	if err != nil || len(stats) != 2 || stats[0].Kept == 0 || stats[1].Kept != 2*stats[0].Kept {
		t.Errorf("want two kept replies per loaded entry: %+v, %v", stats, err)
	}
}

// TestGenerateJinjaExampleRuns runs examples/generate-jinja.yaml against the
// scripted teacher, offline: each drawn record's Jinja prompt is rendered
// (the branch its difficulty picks, the loop, the filters) and answered.
func TestGenerateJinjaExampleRuns(t *testing.T) {
	t.Chdir("..") // the examples' paths are relative to the repository root
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	stats, err := runExample(t, "examples/generate-jinja.yaml", srv.URL)
	if err != nil || len(stats) != 2 || stats[0].Kept != 12 || stats[1].Kept != 12 {
		t.Fatalf("want 12 drawn records, each answered: %+v, %v", stats, err)
	}
	hard, easy := 0, 0
	for _, r := range srv.Log() {
		p := r.LastUser()
		if strings.Contains(p, "{{") || strings.Contains(p, "{%") || !strings.Contains(p, `Start with "Why" or "How".`) {
			t.Errorf("prompt not rendered: %q", p)
		}
		hard += strings.Count(p, "several steps")
		easy += strings.Count(p, "short, factual")
	}
	// Records drawn alike send one request (the response cache).
	if n := len(srv.Log()); hard == 0 || easy == 0 || hard+easy != n {
		t.Errorf("%d hard and %d easy prompts of %d: the condition does not branch", hard, easy, n)
	}
}

// TestSampleGenerateExampleRuns runs examples/sample-generate.yaml against
// the scripted teacher, offline, with the SQLite store: every drawn record
// gets a structured pair that validates against the schema, and each pair
// is checked by the derive stage.
func TestSampleGenerateExampleRuns(t *testing.T) {
	t.Chdir("..") // the examples' paths are relative to the repository root
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	stats, err := runExample(t, "examples/sample-generate.yaml", srv.URL)
	if err != nil || len(stats) != 3 || stats[0].Kept != 30 || stats[1].Kept != 30 || stats[1].Failed != 0 || stats[2].Kept+stats[2].Rejected != 30 || stats[2].Kept == 0 {
		t.Errorf("want 30 drawn records, 30 structured pairs, each checked: %+v, %v", stats, err)
	}
	for _, r := range srv.Log() {
		if len(r.JSONSchema) == 0 {
			t.Errorf("a request without the schema: %s", r.LastUser())
			break
		}
	}
}

// TestMissionExampleRuns runs examples/mission-example.yaml against the
// scripted teacher, offline: the mission's three Japanese tasks, each
// answered once, as instruction/output pairs in the tasks' order.
func TestMissionExampleRuns(t *testing.T) {
	t.Chdir("..") // the examples' paths are relative to the repository root
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	dir := t.TempDir()
	cfg, err := pipeline.LoadConfig("examples/mission-example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Cache: st,
		OpenModel: func(ctx context.Context, name string, mc model.Config, mo model.Options) (model.Backend, model.Info, error) {
			return model.Open(ctx, name, model.Config{Ref: "openai-compatible/" + name, BaseURL: srv.URL}, mo)
		}})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"AI とは何か小学生にもわかるように説明してください。", "営業メールを丁寧な文体に書き直してください。", "Python のデコレーターを例付きで解説してください。"}
	var got []string
	for r, err := range st.Records(context.Background(), "answers", record.Kept) {
		if err != nil {
			t.Fatal(err)
		}
		if r.Output == "" {
			t.Errorf("%s: no output", r.ID)
		}
		got = append(got, r.Instruction)
	}
	if strings.Join(got, "|") != strings.Join(want, "|") || srv.Requests() != 3 {
		t.Errorf("pairs for %q after %d requests, want the three tasks in order", got, srv.Requests())
	}
}

// checkProblems reads a problem file of the reasoning examples: every line
// a JSON object with a question and an answer.
func checkProblems(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	n := 0
	for line := range strings.Lines(string(b)) {
		var p struct{ Question, Answer string }
		if err := json.Unmarshal([]byte(line), &p); err != nil || p.Question == "" || p.Answer == "" {
			return fmt.Errorf("line %d: want {question, answer}: %v", n+1, err)
		}
		n++
	}
	if n == 0 {
		return fmt.Errorf("no problems")
	}
	return nil
}

// TestReasoningExamplesRun runs examples/reasoning.yaml and
// examples/reasoning-rlvr.yaml against the scripted teacher, offline, and
// checks that verified traces and voted problems come out and that the
// stage's summary adds up.
func TestReasoningExamplesRun(t *testing.T) {
	t.Chdir("..") // the examples' paths are relative to the repository root
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	stats, err := runExample(t, "examples/reasoning.yaml", srv.URL)
	// 22 problem records, and a trace for nearly every problem.
	if err != nil || len(stats) != 2 || stats[0].Kept != 22 || stats[1].Kept < 22+18 {
		t.Errorf("reasoning.yaml: %+v, %v", stats, err)
	}
	stats, err = runExample(t, "examples/reasoning-rlvr.yaml", srv.URL)
	// Only problems the samples agree on and do not all solve are kept.
	if err != nil || len(stats) != 2 || stats[1].Kept == 0 || stats[1].Rejected == 0 || stats[1].Kept+stats[1].Rejected != 22 {
		t.Errorf("reasoning-rlvr.yaml: %+v, %v", stats, err)
	}
}

// checkEmbedded checks that package examples embeds every top-level example
// byte for byte, and that the demo it names is one of them.
func checkEmbedded(string) error {
	top, err := filepath.Glob(filepath.Join("examples", "*.yaml"))
	if err != nil {
		return err
	}
	for _, p := range top {
		want, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		got, err := examples.FS.ReadFile(filepath.Base(p))
		if err != nil {
			return fmt.Errorf("not embedded: %w", err)
		}
		if !bytes.Equal(got, want) {
			return fmt.Errorf("%s: embedded copy differs", p)
		}
	}
	if _, err := examples.FS.ReadFile(examples.Demo); err != nil {
		return fmt.Errorf("the demo %s: %w", examples.Demo, err)
	}
	return nil
}

// runExample runs the pipeline example file f, every model served by the
// OpenAI-compatible stand-in at url, into a new SQLite store, and returns
// the store's stage stats; a failed run is the error.
func runExample(t *testing.T, f, url string) ([]store.StageStats, error) {
	t.Helper()
	cfg, err := pipeline.LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Cache: st,
		OpenModel: func(ctx context.Context, name string, mc model.Config, mo model.Options) (model.Backend, model.Info, error) {
			return model.Open(ctx, name, model.Config{Ref: "openai-compatible/" + name, BaseURL: url}, mo)
		}})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", f, err)
	}
	return st.Stats(context.Background())
}

// checkTemplateUsed checks that an example pipeline names the template: the
// pipeline's check then renders it against its kind's samples, which no
// check of the file alone can (its fields depend on the kind).
func checkTemplateUsed(path string) error {
	top, err := filepath.Glob(filepath.Join("examples", "*.yaml"))
	if err != nil {
		return err
	}
	for _, p := range top {
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if bytes.Contains(b, []byte(filepath.ToSlash(path))) {
			return nil
		}
	}
	return fmt.Errorf("no example pipeline uses it")
}

// TestOwnPromptsExampleRuns runs examples/selfinstruct-own-prompts.yaml
// against the scripted teacher: the user's template shapes the prompts,
// and its hash is on every record of the stage.
func TestOwnPromptsExampleRuns(t *testing.T) {
	t.Chdir("..") // the examples' paths are relative to the repository root
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	const f = "examples/selfinstruct-own-prompts.yaml"
	cfg, err := pipeline.LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	err = pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Cache: st,
		OpenModel: func(ctx context.Context, name string, mc model.Config, mo model.Options) (model.Backend, model.Info, error) {
			return model.Open(ctx, name, model.Config{Ref: "openai-compatible/" + name, BaseURL: srv.URL}, mo)
		}})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("examples/prompts/support-bootstrap.tmpl")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	kept := 0
	for r, err := range st.Records(context.Background(), "instructions", "") {
		if err != nil {
			t.Fatal(err)
		}
		if r.Prov.TemplateHash != hex.EncodeToString(sum[:]) {
			t.Fatalf("record %s: template hash %s, want the user's file's", r.ID, r.Prov.TemplateHash)
		}
		if r.Status == record.Kept {
			kept++
		}
	}
	if kept < 100 {
		t.Errorf("kept %d instructions, want the target 100", kept)
	}
}
