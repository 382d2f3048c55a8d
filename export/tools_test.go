package export

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/synthloop/synthloop/internal/golden"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

// toolsFixture is a run of one tools stage: a trajectory with a call, an
// error result and a recovery, one with two parallel calls, and a plain
// conversation, which the tool shapes must leave as it is.
func toolsFixture(t *testing.T) *store.Store {
	t.Helper()
	ctx := context.Background()
	s, err := store.Open(ctx, filepath.Join(t.TempDir(), "run"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	tools := []any{
		map[string]any{"name": "calculator", "description": "Evaluates arithmetic",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"expression": map[string]any{"type": "string"}}, "required": []any{"expression"}}},
		map[string]any{"name": "get_time", "description": "The time in a city",
			"parameters": map[string]any{"type": "object", "properties": map[string]any{"city": map[string]any{"type": "string"}}}},
	}
	recs := []*record.Record{
		{ID: "t-0", Seq: 0, Status: record.Kept, Instruction: "What is 17 * 23?", Output: "It is 391.", Meta: map[string]any{"tools": tools}, Prov: prov("tools", "traj", 1),
			Messages: []record.Turn{
				{Role: "system", Content: "Use the tools."},
				{Role: "user", Content: "What is 17 * 23?"},
				{Role: "assistant", Content: "", ToolCalls: []record.ToolCall{{ID: "call_1", Name: "calculator", Arguments: `{}`}}},
				{Role: "tool", Content: "error: missing expression", ToolCallID: "call_1", IsError: true},
				{Role: "assistant", Content: "Let me retry.", Reasoning: "I forgot the argument.", ToolCalls: []record.ToolCall{{ID: "call_2", Name: "calculator", Arguments: `{"expression":"17 * 23"}`}}},
				{Role: "tool", Content: "391", ToolCallID: "call_2"},
				{Role: "assistant", Content: "It is 391."},
			}},
		{ID: "t-1", Seq: 1, Status: record.Kept, Instruction: "Time in Oslo and Lima?", Output: "Oslo 10:00, Lima 04:00.", Meta: map[string]any{"tools": tools}, Prov: prov("tools", "traj", 2),
			Messages: []record.Turn{
				{Role: "user", Content: "Time in Oslo and Lima?"},
				{Role: "assistant", ToolCalls: []record.ToolCall{{ID: "a", Name: "get_time", Arguments: `{"city":"Oslo"}`}, {ID: "b", Name: "get_time", Arguments: `not json`}}},
				{Role: "tool", Content: "10:00", ToolCallID: "a"},
				{Role: "tool", Content: "04:00", ToolCallID: "b"},
				{Role: "assistant", Content: "Oslo 10:00, Lima 04:00."},
			}},
		{ID: "t-2", Seq: 2, Status: record.Kept, Prov: prov("conversations", "traj", 3),
			Messages: []record.Turn{{Role: "user", Content: "Hi"}, {Role: "assistant", Content: "Hello!"}}},
	}
	if err := s.Commit(ctx, pipeline.Unit{Stage: "traj", Key: "u", Records: recs}); err != nil {
		t.Fatal(err)
	}
	return s
}

func TestToolsGolden(t *testing.T) {
	s := toolsFixture(t)
	for _, format := range []string{"openai", "trl", "sharegpt"} {
		t.Run(format, func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "x.jsonl")
			c, err := Write(context.Background(), s, Options{Format: format, Stage: "traj"}, out)
			if err != nil || c.Written != 3 {
				t.Fatalf("Write = %+v, %v", c, err)
			}
			b, err := os.ReadFile(out)
			if err != nil {
				t.Fatal(err)
			}
			golden.File(t, filepath.Join("testdata", format+"_tools.jsonl"), b)
		})
	}
}
