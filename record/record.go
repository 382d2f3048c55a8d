// Package record defines the unit of data that flows through a pipeline and is
// stored, with its filter decisions and provenance, in the run store.
package record

import "time"

// Status is where a record ended up.
type Status string

const (
	Kept     Status = "kept"     // passed every filter of its stage
	Rejected Status = "rejected" // a filter said no; Decisions say which and why
	Failed   Status = "failed"   // processing failed; Error says why
)

// Decision is one filter's verdict on a record.
type Decision struct {
	Filter string  `json:"filter"`
	Passed bool    `json:"passed"`
	Reason string  `json:"reason,omitempty"`
	Value  float64 `json:"value,omitempty"` // the measured quantity, e.g. max ROUGE-L
}

// Turn is one message of a conversation record.
type Turn struct {
	Role    string `json:"role"`
	Content string `json:"content"`
	// Reasoning is an assistant turn's reasoning, kept apart from Content.
	Reasoning string `json:"reasoning,omitempty"`
	// ToolCalls are the calls an assistant turn made; ToolCallID names the
	// call a "tool" turn answers.
	ToolCalls  []ToolCall `json:"tool_calls,omitempty"`
	ToolCallID string     `json:"tool_call_id,omitempty"`
	IsError    bool       `json:"is_error,omitempty"`
}

// ToolCall is one call of a tool by the model, its arguments verbatim.
type ToolCall struct {
	ID        string `json:"id"`
	Name      string `json:"name"`
	Arguments string `json:"arguments"`
}

// Candidate is one sampled answer with its scores (best-of-N, judges).
type Candidate struct {
	Text         string             `json:"text"`
	Reasoning    string             `json:"reasoning,omitempty"`
	FinishReason string             `json:"finish_reason,omitempty"`
	Scores       map[string]float64 `json:"scores,omitempty"`
}

// Usage is what producing the record cost. A batch's cost is put on the
// unit (store.Commit), not duplicated on each record it produced.
type Usage struct {
	PromptTokens     int     `json:"prompt_tokens,omitempty"`
	CompletionTokens int     `json:"completion_tokens,omitempty"`
	CostUSD          float64 `json:"cost_usd,omitempty"`
}

// Provenance says where a record came from.
type Provenance struct {
	Generator    string         `json:"generator"`         // stage type, e.g. "selfinstruct"
	Stage        string         `json:"stage"`             // stage name in the pipeline
	Backend      string         `json:"backend,omitempty"` // e.g. "openai"
	Model        string         `json:"model,omitempty"`   // e.g. "gpt-4o-mini"
	TemplateHash string         `json:"template_hash,omitempty"`
	Params       map[string]any `json:"params,omitempty"` // decoding parameters used
	ParentIDs    []string       `json:"parent_ids,omitempty"`
	SeedIDs      []string       `json:"seed_ids,omitempty"` // seed tasks shown in the prompt
	RequestKeys  []string       `json:"request_keys,omitempty"`
	Round        int            `json:"round,omitempty"`
	CreatedAt    time.Time      `json:"created_at"`
}

// Record is one datum: an instruction, an instance, a conversation, a
// preference pair. Fields a stage does not use stay empty.
type Record struct {
	ID     string `json:"id"`    // stable: derived from stage, unit and position, never random
	Stage  string `json:"stage"` // stage name that produced it
	Seq    int64  `json:"seq"`   // deterministic order within the stage
	Status Status `json:"status"`

	Instruction string `json:"instruction,omitempty"`
	Input       string `json:"input,omitempty"`
	Output      string `json:"output,omitempty"`
	// Reasoning is the reasoning that led to Output, kept apart from it.
	Reasoning        string      `json:"reasoning,omitempty"`
	IsClassification *bool       `json:"is_classification,omitempty"`
	Messages         []Turn      `json:"messages,omitempty"`
	Candidates       []Candidate `json:"candidates,omitempty"`
	// Chosen and Rejected hold a preference pair.
	Chosen   string             `json:"chosen,omitempty"`
	Rejected string             `json:"rejected,omitempty"`
	Scores   map[string]float64 `json:"scores,omitempty"`
	Meta     map[string]any     `json:"meta,omitempty"`

	Decisions []Decision `json:"decisions,omitempty"`
	Error     string     `json:"error,omitempty"`
	Usage     Usage      `json:"usage,omitempty"`
	Prov      Provenance `json:"provenance"`
}

// Reasons returns the reasons of the failed decisions, in order.
func (r *Record) Reasons() []string {
	var out []string
	for _, d := range r.Decisions {
		if !d.Passed {
			out = append(out, d.Filter+": "+d.Reason)
		}
	}
	return out
}
