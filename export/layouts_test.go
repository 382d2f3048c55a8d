package export

import (
	"bytes"
	"context"
	"fmt"
	"iter"
	"path/filepath"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/golden"
	"github.com/synthloop/synthloop/record"
)

// sliceSource is one stage of records in memory.
type sliceSource []*record.Record

func (s sliceSource) Stages(context.Context) ([]string, error) { return []string{"instances"}, nil }

func (s sliceSource) Records(_ context.Context, _ string, _ record.Status) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {
		for _, r := range s {
			if !yield(r, nil) {
				return
			}
		}
	}
}

func variedFixture() sliceSource {
	var recs []*record.Record
	add := func(id, ins, in, out string) {
		recs = append(recs, &record.Record{ID: id, Status: record.Kept, Instruction: ins, Input: in, Output: out})
	}
	for i := range 6 {
		add(fmt.Sprintf("en-in-%d", i), "Translate the sentence to French.", "Good morning, {instruction}.", "Bonjour, {instruction}.")
		add(fmt.Sprintf("en-no-%d", i), "Name a prime number.", "", "7")
		add(fmt.Sprintf("ja-in-%d", i), "次の文を英語に訳してください。", "おはようございます", "Good morning.")
	}
	add("ja-no-0", "日本で一番高い山は？", "<noinput>", "富士山です。")
	recs = append(recs, &record.Record{ID: "chat-0", Status: record.Kept, Messages: []record.Turn{
		{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello!"}}})
	return recs
}

func TestVariedTemplatesGolden(t *testing.T) {
	for _, c := range []struct {
		name string
		opts Options
	}{
		{"varied_alpaca.jsonl", Options{Format: "alpaca", VaryTemplates: true}},
		{"varied_openai.jsonl", Options{Format: "openai", VaryTemplates: true}},
		{"varied_sharegpt_ja.jsonl", Options{Format: "sharegpt", VaryTemplates: true, TemplateLang: "ja"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			var buf bytes.Buffer
			got, err := WriteTo(context.Background(), variedFixture(), c.opts, &buf)
			if err != nil {
				t.Fatal(err)
			}
			if got.Written != len(variedFixture()) {
				t.Errorf("wrote %d records, want %d", got.Written, len(variedFixture()))
			}
			golden.File(t, filepath.Join("testdata", c.name), buf.Bytes())
		})
	}
}

func TestVaryPicksByID(t *testing.T) {
	used := map[string]bool{}
	for i := range 400 {
		for _, in := range []string{"", "some input"} {
			r := &record.Record{ID: fmt.Sprintf("rec-%d", i), Instruction: "Do it {input}.", Input: in}
			a, b := vary(r, ""), vary(r, "")
			if a.Instruction != b.Instruction || a.Input != "" {
				t.Fatalf("vary(%s) = %q then %q, want one layout and no input", r.ID, a.Instruction, b.Instruction)
			}
			if !strings.Contains(a.Instruction, "Do it {input}.") || !strings.Contains(a.Instruction, in) {
				t.Fatalf("layout %q lost the instruction or the input", a.Instruction)
			}
			if r.Instruction != "Do it {input}." || r.Input != in {
				t.Fatal("vary changed its argument")
			}
			used[strings.ReplaceAll(strings.ReplaceAll(a.Instruction, "Do it {input}.", "I"), "some input", "X")] = true
		}
	}
	if n := len(layoutsByLang["en"].withInput) + len(layoutsByLang["en"].noInput); len(used) != n {
		t.Errorf("400 ids used %d layouts, want all %d", len(used), n)
	}
}

func TestVaryOptionsChecked(t *testing.T) {
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Format: "parquet", VaryTemplates: true}, "not parquet"},
		{Options{Format: "alpaca", VaryTemplates: true, TemplateLang: "fr"}, `unknown template language "fr"`},
		{Options{Format: "alpaca", TemplateLang: "ja"}, "only for varied templates"},
	} {
		_, err := WriteTo(context.Background(), variedFixture(), c.opts, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.opts, err, c.want)
		}
		if err := CheckOptions(c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("CheckOptions(%+v) = %v, want %q", c.opts, err, c.want)
		}
	}
}
