package tools

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/stage/internal/attrs"
)

//go:embed templates
var templates embed.FS

var (
	simulatePrompt = prompt.Must(templates, "simulate")
	taskPrompt     = prompt.Must(templates, "task")
)

// simulateData is what the simulator's prompt shows of one call.
type simulateData struct {
	Name, Description, Parameters, Task, Arguments string
}

// taskData is what the task model's prompt shows.
type taskData struct {
	Tools          []model.Tool
	Topic, Persona string
	Attributes     []attrs.Pair // a sample record's other columns
	N              int
}

// templateHash identifies the prompts and the system prompt a record was
// made with.
func templateHash(system string) string {
	h := sha256.Sum256([]byte(simulatePrompt.Hash + "\x00" + taskPrompt.Hash + "\x00" + system))
	return hex.EncodeToString(h[:])
}
