package faq

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/grounding/groundingtest"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

const faqJSONL = `{"id": "refund", "category": "returns", "question": "When will I get my refund?", "answer": "Refunds are issued to your original payment method within 5 business days after our warehouse receives the item."}
{"id": "tracking", "category": "shipping", "question": "How can I track my parcel?", "answer": "Every parcel has a tracking number. We send it by email as soon as the parcel leaves our warehouse."}
`

func writeFAQ(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func config(paths ...string) *Config {
	c := DefaultConfig()
	c.Model, c.Paths = "teacher", paths
	return c
}

func server(t *testing.T, r modeltest.Responder) *modeltest.Server {
	srv := modeltest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv
}

func run(t *testing.T, cfg *Config, srv *modeltest.Server, st *pipelinetest.MemStore, input string) error {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return s.Run(context.Background(), stagetest.Env(t, srv, st, "support", input))
}

func roles(r *record.Record) string {
	var out []string
	for _, t := range r.Messages {
		out = append(out, t.Role)
	}
	return strings.Join(out, ",")
}

func TestStage(t *testing.T) {
	path := writeFAQ(t, "faq.jsonl", faqJSONL)
	cfg := config(path)
	cfg.System = "You are the support assistant of ACME."
	srv := server(t, groundingtest.Responder(nil))
	st := pipelinetest.NewMemStore()
	if err := run(t, cfg, srv, st, ""); err != nil {
		t.Fatal(err)
	}
	recs := st.All("support")
	// Per entry: the original question and 3 paraphrases, each a dialogue.
	if len(recs) != 8 {
		t.Fatalf("%d records, want 2 entries × 4 dialogues", len(recs))
	}
	src := filepath.ToSlash(filepath.Clean(path))
	for i, r := range recs {
		entry := []string{"refund", "tracking"}[i/4]
		if r.Status != record.Kept || r.ID != "support:"+src+"#"+entry+":"+string(rune('0'+i%4)) {
			t.Fatalf("%s: %s %v", r.ID, r.Status, r.Reasons())
		}
		if roles(r) != "system,user,assistant,user,assistant" || r.Messages[0].Content != cfg.System {
			t.Errorf("%s: turns %s", r.ID, roles(r))
		}
		if r.Instruction != r.Messages[1].Content || r.Output != r.Messages[2].Content || r.Meta["faq_id"] != src+"#"+entry {
			t.Errorf("%s: instruction %q output %q meta %v", r.ID, r.Instruction, r.Output, r.Meta)
		}
		if want := []string{"original", "paraphrase"}[min(i%4, 1)]; r.Meta["opener"] != want {
			t.Errorf("%s: opener %v, want %s", r.ID, r.Meta["opener"], want)
		}
		js, _ := r.Meta["judgments"].([]any)
		if len(js) != 2 || r.Scores["grounding"] != 5 || len(r.Decisions) != 2 || !r.Decisions[1].Passed {
			t.Errorf("%s: %d judgments, scores %v, decisions %+v", r.ID, len(js), r.Scores, r.Decisions)
		}
		if r.Prov.Generator != "faq" || r.Prov.TemplateHash != answerPrompt.Hash || len(r.Prov.RequestKeys) != 1+4 {
			t.Errorf("%s: provenance %+v", r.ID, r.Prov)
		}
		ex, _ := r.Meta["faq_extra"].(map[string]any)
		if ex["category"] == nil {
			t.Errorf("%s: the entry's category is lost: %v", r.ID, r.Meta)
		}
	}
	// The answering prompt carries the entry; the dialogue does not.
	for _, req := range srv.Log() {
		if req.Messages[0].Role == "system" && !strings.Contains(req.Messages[0].Content, "<faq-answer-") {
			t.Errorf("an answer request without the entry: %+v", req.Messages[0])
		}
	}
	// Resume: nothing is asked again.
	n := srv.Requests()
	if err := run(t, cfg, srv, st, ""); err != nil || srv.Requests() != n {
		t.Errorf("rerun: %v, %d new requests", err, srv.Requests()-n)
	}
}

func TestParaphraseChecks(t *testing.T) {
	cfg := config(writeFAQ(t, "faq.jsonl", faqJSONL))
	cfg.Paraphrases, cfg.Turns, cfg.IncludeOriginal = 4, 1, false
	st := pipelinetest.NewMemStore()
	if err := run(t, cfg, server(t, groundingtest.Responder(nil)), st, ""); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range st.All("support")[:4] {
		got = append(got, string(r.Status)+" "+roles(r)+" "+strings.Join(r.Reasons(), ";"))
	}
	// The scripted teacher's 4th paraphrase is the FAQ question verbatim.
	want := []string{"kept user,assistant ", "kept user,assistant ", "kept user,assistant ", "rejected  paraphrase: the same as the FAQ question"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// unfaithful answers the second customer message with a made-up policy;
// everything else as the scripted teacher.
func unfaithful(mark string) modeltest.Responder {
	return func(req *modeltest.Request) modeltest.Reply {
		if len(req.Messages) > 0 && req.Messages[0].Role == "system" && len(req.Messages) >= 4 {
			return modeltest.Texts("Refunds are sent within 5 business days, and we also add a 20 euro voucher for the inconvenience, valid for one year on all products." + mark)(req)
		}
		return groundingtest.Responder(nil)(req)
	}
}

func TestUnfaithfulAnswer(t *testing.T) {
	cfg := config(writeFAQ(t, "faq.jsonl", faqJSONL))
	cfg.Paraphrases = 1
	st := pipelinetest.NewMemStore()
	if err := run(t, cfg, server(t, unfaithful("")), st, ""); err != nil {
		t.Fatal(err)
	}
	for _, r := range st.All("support") {
		if r.Status != record.Rejected || roles(r) != "user,assistant,user,assistant" || len(r.Decisions) != 2 ||
			!r.Decisions[0].Passed || r.Decisions[1].Passed || !strings.HasPrefix(r.Decisions[1].Reason, "turn 2: rated") {
			t.Errorf("%s: %s %s %+v", r.ID, r.Status, roles(r), r.Decisions)
		}
		if r.Output == "" || strings.Contains(r.Output, "voucher") {
			t.Errorf("%s: output %q is not the first, grounded answer", r.ID, r.Output)
		}
	}
}

func TestJudgeWithoutScore(t *testing.T) {
	for _, mark := range []string{groundingtest.NoScore, groundingtest.OutOfRange} {
		cfg := config(writeFAQ(t, "faq.jsonl", faqJSONL))
		cfg.Paraphrases = 1
		st := pipelinetest.NewMemStore()
		if err := run(t, cfg, server(t, unfaithful(mark)), st, ""); err != nil {
			t.Fatal(err)
		}
		for _, r := range st.All("support") {
			js, _ := json.Marshal(r.Meta["judgments"])
			if r.Status != record.Failed || !strings.Contains(r.Error, "turn 2: the grounding judge gave no valid score") ||
				strings.Count(string(js), `"valid":false`) != 3 || r.Scores["grounding"] != 5 {
				t.Errorf("%s (%s): %s %q scores %v judgments %s", r.ID, mark, r.Status, r.Error, r.Scores, js)
			}
		}
	}
}

func TestBadInput(t *testing.T) {
	path := writeFAQ(t, "faq.jsonl", faqJSONL+"{\"id\": \"refund\", \"question\": \"Again?\", \"answer\": \"Yes.\"}\nnot json\n")
	cfg := config(path)
	cfg.Paraphrases, cfg.Turns = 1, 1
	st := pipelinetest.NewMemStore()
	if err := run(t, cfg, server(t, groundingtest.Responder(nil)), st, ""); err != nil {
		t.Fatal(err)
	}
	var failed []string
	for _, r := range st.All("support") {
		if r.Status == record.Failed {
			failed = append(failed, r.Error)
		}
	}
	if len(failed) != 2 || !strings.Contains(failed[0], "duplicate id") || !strings.Contains(failed[1], "not a JSON object") {
		t.Errorf("failed records: %q", failed)
	}

	// A paraphrase reply that never parses fails its entry, with the reply.
	never := func(req *modeltest.Request) modeltest.Reply {
		if strings.Contains(req.LastUser(), `{"questions": [`) || len(req.Messages) > 1 && req.Messages[1].Role == "assistant" {
			return modeltest.Texts("Here are some questions: 1. When is my refund coming?")(req)
		}
		return groundingtest.Responder(nil)(req)
	}
	st = pipelinetest.NewMemStore()
	srv := server(t, never)
	if err := run(t, config(writeFAQ(t, "faq.jsonl", faqJSONL)), srv, st, ""); err != nil {
		t.Fatal(err)
	}
	recs := st.All("support")
	if len(recs) != 2 || recs[0].Status != record.Failed || !strings.Contains(recs[0].Error, "not the JSON asked for") ||
		recs[0].Meta["reply"] == nil || srv.Requests() != 4 {
		t.Errorf("unparsable paraphrases: %+v after %d requests", recs, srv.Requests())
	}

	srv = server(t, groundingtest.Responder(nil))
	if err := run(t, config(filepath.Join(t.TempDir(), "none.jsonl")), srv, pipelinetest.NewMemStore(), ""); err == nil || srv.Requests() != 0 {
		t.Errorf("a missing file: %v after %d requests", err, srv.Requests())
	}
	if err := run(t, config(), srv, pipelinetest.NewMemStore(), ""); err == nil || !strings.Contains(err.Error(), "paths: required") {
		t.Errorf("no paths and no input: %v", err)
	}
}

// TestFromInput: without paths, the entries are the records of the stage
// before (a load stage, say).
func TestFromInput(t *testing.T) {
	st := pipelinetest.NewMemStore()
	in := []*record.Record{
		{ID: "faqs:1", Stage: "faqs", Seq: 1, Status: record.Kept, Instruction: "How can I track my parcel?", Output: "Every parcel has a tracking number, sent by email."},
		{ID: "faqs:2", Stage: "faqs", Seq: 2, Status: record.Kept, Messages: []record.Turn{{Role: "user", Content: "When will I get my refund?"}, {Role: "assistant", Content: "Within 5 business days after the warehouse receives the item."}}},
		{ID: "faqs:3", Stage: "faqs", Seq: 3, Status: record.Kept, Instruction: "No answer here?"},
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "faqs", Key: "seed", Records: in}); err != nil {
		t.Fatal(err)
	}
	cfg := config()
	cfg.Paraphrases = 1
	if err := run(t, cfg, server(t, groundingtest.Responder(nil)), st, "faqs"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range st.All("support") {
		got = append(got, r.ID+" "+string(r.Status)+" "+strings.Join(r.Prov.ParentIDs, ","))
	}
	want := "support:faqs:1:0 kept faqs:1|support:faqs:1:1 kept faqs:1|support:faqs:2:0 kept faqs:2|support:faqs:2:1 kept faqs:2|support:faqs:3 failed faqs:3"
	if strings.Join(got, "|") != want {
		t.Errorf("got  %s\nwant %s", strings.Join(got, "|"), want)
	}
}

// source adapts the in-memory store to export.Source.
type source struct {
	*pipelinetest.MemStore
	stages []string
}

func (s source) Stages(context.Context) ([]string, error) { return s.stages, nil }

func (s source) Records(ctx context.Context, stage string, status record.Status) iter.Seq2[*record.Record, error] {
	return s.MemStore.Records(ctx, stage, status)
}

// TestExport: the dialogues export as ShareGPT and OpenAI chat JSONL, one
// line per kept dialogue, with every turn in order.
func TestExport(t *testing.T) {
	cfg := config(writeFAQ(t, "faq.jsonl", faqJSONL))
	cfg.System = "You are the support assistant of ACME."
	st := pipelinetest.NewMemStore()
	if err := run(t, cfg, server(t, groundingtest.Responder(nil)), st, ""); err != nil {
		t.Fatal(err)
	}
	want := st.All("support")
	for _, tc := range []struct{ format, roles string }{
		{"sharegpt", "system,human,gpt,human,gpt"},
		{"openai", "system,user,assistant,user,assistant"},
	} {
		var buf bytes.Buffer
		n, err := export.WriteTo(context.Background(), source{st, []string{"support"}}, export.Options{Format: tc.format}, &buf)
		if err != nil || n.Written != len(want) {
			t.Fatalf("%s: %+v, %v", tc.format, n, err)
		}
		sc := bufio.NewScanner(&buf)
		for i := 0; sc.Scan(); i++ {
			var line struct {
				Conversations []struct{ From, Value string }
				Messages      []struct{ Role, Content string }
			}
			if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
				t.Fatal(err)
			}
			var rs, texts []string
			for _, c := range line.Conversations {
				rs, texts = append(rs, c.From), append(texts, c.Value)
			}
			for _, m := range line.Messages {
				rs, texts = append(rs, m.Role), append(texts, m.Content)
			}
			if strings.Join(rs, ",") != tc.roles || texts[1] != want[i].Messages[1].Content || texts[4] != want[i].Messages[4].Content {
				t.Errorf("%s line %d: %s", tc.format, i, sc.Text())
			}
		}
	}
}

func TestConfig(t *testing.T) {
	for _, tc := range []struct {
		mut  func(*Config)
		want string
	}{
		{func(*Config) {}, ""},
		{func(c *Config) { c.Model = "" }, "model: required"},
		{func(c *Config) { c.Paraphrases = -1 }, "paraphrases"},
		{func(c *Config) { c.Paraphrases, c.IncludeOriginal = 0, false }, "no dialogue"},
		{func(c *Config) { c.Turns = 0 }, "turns"},
		{func(c *Config) { c.Threshold = 0.5 }, "grounding_threshold"},
	} {
		c := config("faq.jsonl")
		tc.mut(c)
		err := c.Validate()
		if (tc.want == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate: %v, want %q", err, tc.want)
		}
	}
	// Only the original question, 3 turns: follow-ups are still asked for.
	c := config(writeFAQ(t, "faq.jsonl", faqJSONL))
	c.Paraphrases, c.Turns = 0, 3
	st := pipelinetest.NewMemStore()
	if err := run(t, c, server(t, groundingtest.Responder(nil)), st, ""); err != nil {
		t.Fatal(err)
	}
	if recs := st.All("support"); len(recs) != 2 || recs[0].Status != record.Kept || roles(recs[0]) != "user,assistant,user,assistant,user,assistant" {
		t.Errorf("original only, 3 turns: %d records, %s", len(recs), roles(recs[0]))
	}
}

// TestExample runs examples/faq.yaml as shipped, from the repository root.
func TestExample(t *testing.T) {
	t.Chdir(filepath.Join("..", ".."))
	cfg, err := pipeline.LoadConfig("examples/faq.yaml")
	if err != nil {
		t.Fatal(err)
	}
	srv := server(t, groundingtest.Responder(stagetest.Responder))
	st := pipelinetest.NewMemStore()
	err = pipeline.Run(context.Background(), cfg, pipeline.Options{
		Store: st, Cache: st, Now: stagetest.Clock,
		OpenModel: func(ctx context.Context, name string, _ model.Config, opts model.Options) (model.Backend, model.Info, error) {
			opts.Sleep = func(context.Context, time.Duration) error { return nil }
			return model.Open(ctx, name, model.Config{Ref: "openai-compatible/" + name, BaseURL: srv.URL}, opts)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := st.All("support")
	kept, ja := 0, 0
	for _, r := range recs {
		if r.Status == record.Kept {
			kept++
			if strings.Contains(r.Messages[1].Content, "返") {
				ja++
			}
		}
	}
	// 6 English and 2 Japanese entries, 4 dialogues each.
	if len(recs) != 32 || kept != 32 || ja != 8 {
		t.Errorf("%d dialogues, %d kept, %d in Japanese", len(recs), kept, ja)
	}
	if r := recs[0]; roles(r) != "system,user,assistant,user,assistant" || r.Prov.Model != "teacher" || len(r.Meta["judgments"].([]any)) != 2 {
		t.Errorf("first dialogue: %s, model %q", roles(r), r.Prov.Model)
	}
}

func TestStageDocExample(t *testing.T) {
	st, ok := pipeline.Lookup("faq")
	if !ok || st.Doc == "" {
		t.Fatal("faq is not registered with a doc")
	}
	y := "name: t\nmodels:\n  teacher: {ref: ollama/x}\n  critic: {ref: ollama/y}\nstages:\n"
	for _, l := range strings.Split(strings.TrimRight(st.Example, "\n"), "\n") {
		y += "  " + l + "\n"
	}
	if _, err := pipeline.ParseConfig("faq.yaml", []byte(y)); err != nil {
		t.Errorf("the documented example does not parse: %v\n%s", err, y)
	}
}
