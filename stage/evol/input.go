package evol

import (
	"errors"
	"io"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/seeds"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// loadSeeds reads the instructions to evolve from a built-in seed set or a
// file; see Config.Seeds. Records get the seed's id (or "line-N") as ID and
// their position as Seq, so units keep their keys across reruns.
func loadSeeds(nameOrPath string) ([]*record.Record, error) {
	return genkit.LoadSeeds("evol", "instructions", nameOrPath, func(r *record.Record, t seeds.Task) {
		if len(t.Instances) > 0 {
			r.Input, r.Output = t.Instances[0].Input, t.Instances[0].Output
		}
	}, parseSeeds)
}

// seedLine is one JSONL line: a Self-Instruct seed task, or an instruction
// with an optional input and output.
type seedLine struct {
	ID               string           `json:"id"`
	Name             string           `json:"name"`
	Instruction      string           `json:"instruction"`
	Prompt           string           `json:"prompt"`
	Input            string           `json:"input"`
	Output           string           `json:"output"`
	Instances        []seeds.Instance `json:"instances"`
	IsClassification bool             `json:"is_classification"`
}

// LineID implements genkit.SeedLine.
func (s seedLine) LineID() string { return s.ID }

// parseSeeds reads JSONL when the first non-blank line starts with "{", and
// one instruction per non-blank line otherwise.
func parseSeeds(r io.Reader) ([]*record.Record, error) {
	return genkit.ParseSeeds(r, 4<<20, "id, instruction or prompt, input, output, instances", func(rec *record.Record, s seedLine) error {
		rec.Instruction, rec.Input, rec.Output = s.Instruction, s.Input, s.Output
		if rec.Instruction == "" {
			rec.Instruction = s.Prompt
		}
		if len(s.Instances) > 0 && rec.Input == "" && rec.Output == "" {
			rec.Input, rec.Output = s.Instances[0].Input, s.Instances[0].Output
		}
		if strings.TrimSpace(rec.Instruction) == "" {
			return errors.New("no instruction")
		}
		return nil
	})
}
