package export

import (
	"bytes"
	"context"
	"encoding/json"
	"iter"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/synthloop/synthloop/internal/golden"
	"github.com/synthloop/synthloop/record"
)

// memSource holds one stage of records in memory.
type memSource []*record.Record

func (m memSource) Stages(context.Context) ([]string, error) { return []string{"traces"}, nil }

func (m memSource) Records(_ context.Context, _ string, status record.Status) iter.Seq2[*record.Record, error] {
	return func(yield func(*record.Record, error) bool) {
		for _, r := range m {
			if (status == "" || r.Status == status) && !yield(r, nil) {
				return
			}
		}
	}
}

// reasoningRecords are what the reasoning stage makes of one problem: the
// problem record and a kept trace paired with a wrong sample, plus a
// problem rejected by the difficulty filter.
func reasoningRecords() memSource {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	prompt := "Solve the problem. State the final answer as \\boxed{ANSWER}.\n\nProblem: Mia has 12 apples. She buys 7 more. How many now?"
	verifier := map[string]any{"kind": "math", "extract": "auto"}
	return memSource{
		{ID: "traces:p1", Stage: "traces", Status: record.Kept, Instruction: prompt,
			Scores: map[string]float64{"pass_rate": 0.75},
			Meta:   map[string]any{"kind": "problem", "reference": "19", "verifier": verifier},
			Prov:   record.Provenance{Generator: "reasoning", CreatedAt: at}},
		{ID: "traces:p1:02", Stage: "traces", Status: record.Kept, Instruction: prompt,
			Reasoning: "We start with 12.\nAdding 7: 12 + 7 = 19.", Output: "The answer is \\boxed{19}.",
			Chosen: "The answer is \\boxed{19}.", Rejected: "The answer is \\boxed{20}.",
			Scores: map[string]float64{"pass_rate": 0.75, "verifier": 1},
			Meta: map[string]any{"kind": "trace", "reference": "19", "verifier": verifier,
				"rejected_reasoning": "We start with 12.\nAdding 7: 12 + 7 = 20."},
			Prov: record.Provenance{Generator: "reasoning", CreatedAt: at}},
		{ID: "traces:p2", Stage: "traces", Status: record.Rejected, Instruction: "Problem: 1 + 1?",
			Scores: map[string]float64{"pass_rate": 1},
			Meta:   map[string]any{"kind": "problem", "reference": "2", "verifier": verifier}},
	}
}

func TestReasoningFormats(t *testing.T) {
	for _, tc := range []struct {
		name, format, think string
		written, unfit      int
	}{
		{"stratos", "stratos", "", 1, 1},
		{"stratos_think", "stratos", ThinkTags, 1, 1},
		{"openai_think", "openai", ThinkTags, 1, 1},
		{"sharegpt_none", "sharegpt", "", 1, 1},
		{"dpo_think", "dpo", ThinkTags, 1, 1},
		{"trl_grpo", "trl-grpo", "", 1, 1},
		{"openrlhf", "openrlhf", "", 1, 1},
	} {
		var b bytes.Buffer
		c, err := WriteTo(context.Background(), reasoningRecords(), Options{Format: tc.format, ThinkFormat: tc.think}, &b)
		if err != nil || c.Written != tc.written || c.Unfit != tc.unfit {
			t.Errorf("%s: %+v, %v", tc.name, c, err)
		}
		golden.File(t, filepath.Join("testdata", "reasoning_"+tc.name+".jsonl"), b.Bytes())
	}
	if _, err := WriteTo(context.Background(), reasoningRecords(), Options{Format: "openai", ThinkFormat: "xml"}, &bytes.Buffer{}); err == nil {
		t.Error("an unknown think format was accepted")
	}
}

// TestVerl reads the verl export back with parquet-go and compares its
// rows, as JSON, with a golden file.
func TestVerl(t *testing.T) {
	var b bytes.Buffer
	c, err := WriteTo(context.Background(), reasoningRecords(), Options{Format: "verl"}, &b)
	if err != nil || c.Written != 1 {
		t.Fatalf("%+v, %v", c, err)
	}
	rows, err := parquet.Read[VerlRow](bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	f, err := parquet.OpenFile(bytes.NewReader(b.Bytes()), int64(b.Len()))
	if err != nil {
		t.Fatal(err)
	}
	var cols []string
	for _, fd := range f.Schema().Fields() {
		cols = append(cols, fd.Name())
	}
	if got := strings.Join(cols, ","); got != "data_source,prompt,ability,reward_model,extra_info" {
		t.Errorf("columns %s", got)
	}
	out, _ := json.MarshalIndent(rows, "", "  ")
	golden.File(t, filepath.Join("testdata", "reasoning_verl.json"), append(out, '\n'))
}

// TestThinkInTurns: a conversation turn's reasoning is written once when
// asked for, into its content (--think-format think) or as the message's
// reasoning field (--think-format field), and not at all otherwise: no
// "reasoning" key by default, nor on a turn that has none.
func TestThinkInTurns(t *testing.T) {
	recs := memSource{{ID: "t:1", Stage: "traces", Status: record.Kept, Messages: []record.Turn{
		{Role: "user", Content: "What is 2+2?"},
		{Role: "assistant", Content: "Let me add.", ToolCalls: []record.ToolCall{{ID: "c1", Name: "add", Arguments: `{"a":2,"b":2}`}}},
		{Role: "tool", Content: "4", ToolCallID: "c1"},
		{Role: "assistant", Content: "4", Reasoning: "two and two make four"},
	}}}
	for _, tc := range []struct {
		think, format string
		times, fields int // the reasoning's text, and "reasoning" keys
	}{
		{ThinkTags, "openai", 1, 0}, {ThinkTags, "trl", 1, 0},
		{ThinkField, "openai", 1, 1}, {ThinkField, "trl", 1, 1},
		{"", "openai", 0, 0}, {ThinkNone, "openai", 0, 0}, {"", "trl", 0, 0}, {"", "sharegpt", 0, 0},
	} {
		var b bytes.Buffer
		if _, err := WriteTo(context.Background(), recs, Options{Format: tc.format, ThinkFormat: tc.think}, &b); err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(b.String(), "two and two make four"); n != tc.times {
			t.Errorf("%s %q: the reasoning is written %d times, want %d: %s", tc.format, tc.think, n, tc.times, b.String())
		}
		if n := strings.Count(b.String(), `"reasoning"`); n != tc.fields {
			t.Errorf("%s %q: %d reasoning keys, want %d: %s", tc.format, tc.think, n, tc.fields, b.String())
		}
	}
}
