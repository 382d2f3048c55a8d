package conversation

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/seeds"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// loadSeeds reads the topics of Config.Seeds. Records get the seed's id (or
// "line-N") as ID and their position as Seq, so units keep their keys
// across reruns.
func loadSeeds(nameOrPath string) ([]*record.Record, error) {
	return genkit.LoadSeeds("conversation", "topics", nameOrPath, func(r *record.Record, t seeds.Task) {
		if len(t.Instances) > 0 {
			r.Input = t.Instances[0].Input
		}
	}, parseSeeds)
}

// seedLine is one JSONL line.
type seedLine struct {
	ID          string `json:"id"`
	Topic       string `json:"topic"`
	Instruction string `json:"instruction"`
	Prompt      string `json:"prompt"`
	Input       string `json:"input"`
	Document    string `json:"document"`
	Text        string `json:"text"`
}

// LineID implements genkit.SeedLine.
func (s seedLine) LineID() string { return s.ID }

// parseSeeds reads JSONL when the first non-blank line starts with "{", and
// one topic per non-blank line otherwise. A JSONL line's document goes to
// Meta["text"], where document_field auto finds it.
func parseSeeds(r io.Reader) ([]*record.Record, error) {
	return genkit.ParseSeeds(r, 16<<20, "id, topic or instruction or prompt, input, document or text", func(rec *record.Record, s seedLine) error {
		rec.Instruction = genkit.FirstOf(s.Topic, s.Instruction, s.Prompt)
		rec.Input = s.Input
		if doc := genkit.FirstOf(s.Document, s.Text); doc != "" {
			rec.Meta = map[string]any{"text": doc}
		}
		if strings.TrimSpace(rec.Instruction) == "" && rec.Meta == nil {
			return errors.New("no topic and no document")
		}
		return nil
	})
}

// topicRecords turns inline topics into input records.
func topicRecords(topics []string) []*record.Record {
	var out []*record.Record
	for i, t := range topics {
		out = append(out, &record.Record{ID: fmt.Sprintf("topic-%d", i+1), Seq: int64(i + 1), Status: record.Kept, Instruction: t})
	}
	return out
}

// document returns the document of an input record by document_field.
func document(r *record.Record, field string) string {
	meta := func(k string) string {
		s, _ := r.Meta[k].(string)
		return s
	}
	switch {
	case field == "instruction":
		return r.Instruction
	case field == "input":
		return r.Input
	case field == "output":
		return r.Output
	case strings.HasPrefix(field, "meta."):
		return meta(field[5:])
	}
	return genkit.FirstOf(meta("text"), meta("chunk"), meta("document"), r.Input, r.Instruction)
}
