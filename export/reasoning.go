package export

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/synthloop/synthloop/record"
)

// Think formats: how a record's reasoning is written into the answer a
// trainer sees (Options.ThinkFormat).
const (
	ThinkNone    = "none"    // the answer alone; reasoning is left out (the default)
	ThinkTags    = "think"   // <think>\nREASONING\n</think>\n\nANSWER, as DeepSeek-R1 and its distills write
	ThinkStratos = "stratos" // <|begin_of_thought|> ... <|end_of_solution|>, as Sky-T1, Bespoke-Stratos and OpenThoughts write
	// ThinkField keeps an assistant message's reasoning apart from its
	// content, in the message's "reasoning" field (openai and trl), for
	// chat templates that render it themselves; formats without messages
	// of that shape write the answer alone.
	ThinkField = "field"
)

// ThinkFormats lists the think formats, for --help.
func ThinkFormats() []string { return []string{ThinkNone, ThinkTags, ThinkStratos, ThinkField} }

func checkThink(f string) error {
	if f == "" || slices.Contains(ThinkFormats(), f) {
		return nil
	}
	return fmt.Errorf("export: think format %q (want %s)", f, strings.Join(ThinkFormats(), ", "))
}

// withReasoning writes reasoning before answer in format f.
func withReasoning(f, reasoning, answer string) string {
	if strings.TrimSpace(reasoning) == "" {
		return answer
	}
	switch f {
	case ThinkTags:
		return "<think>\n" + reasoning + "\n</think>\n\n" + answer
	case ThinkStratos:
		return "<|begin_of_thought|>\n\n" + reasoning + "\n\n<|end_of_thought|>\n\n<|begin_of_solution|>\n\n" + answer + "\n\n<|end_of_solution|>"
	}
	return answer
}

// withThinking returns r with its reasoning written into its answers in
// format f: the output, every assistant turn that has reasoning, and a
// preference pair's chosen (when it is the output) and rejected (from
// Meta["rejected_reasoning"], where the reasoning stage keeps it). r is
// not changed.
func withThinking(r *record.Record, f string) *record.Record {
	switch f {
	case ThinkField:
		return r
	case "", ThinkNone:
		return withoutTurnReasoning(r)
	}
	c := *r
	if r.Output != "" {
		c.Output = withReasoning(f, r.Reasoning, r.Output)
	}
	if r.Chosen != "" && r.Chosen == r.Output {
		c.Chosen = withReasoning(f, r.Reasoning, r.Chosen)
	}
	if rr, _ := r.Meta["rejected_reasoning"].(string); r.Rejected != "" && rr != "" {
		c.Rejected = withReasoning(f, rr, r.Rejected)
	}
	if len(r.Messages) > 0 {
		c.Messages = slices.Clone(r.Messages)
		for i, t := range c.Messages {
			if t.Role == "assistant" && t.Reasoning != "" {
				// Written into the content, it leaves the turn's own field:
				// a trainer must not see it twice.
				c.Messages[i].Content, c.Messages[i].Reasoning = withReasoning(f, t.Reasoning, t.Content), ""
			}
		}
	}
	return &c
}

// withoutTurnReasoning returns r without the reasoning of its turns, which
// the chat formats would otherwise write as a field nobody asked for. r is
// not changed.
func withoutTurnReasoning(r *record.Record) *record.Record {
	if !slices.ContainsFunc(r.Messages, func(t record.Turn) bool { return t.Reasoning != "" }) {
		return r
	}
	c := *r
	c.Messages = slices.Clone(r.Messages)
	for i := range c.Messages {
		c.Messages[i].Reasoning = ""
	}
	return &c
}

// stratosSystem is the system turn of a stratos export: it tells the
// model the shape its answers take, as the datasets of that shape do.
const stratosSystem = "Think through the problem carefully before you answer: write your reasoning between <|begin_of_thought|> and <|end_of_thought|>, " +
	"then your final solution between <|begin_of_solution|> and <|end_of_solution|>."

type stratosRow struct {
	System        string         `json:"system"`
	Conversations []shareGPTTurn `json:"conversations"`
	*audit
}

// stratosLine writes the Bespoke-Stratos / OpenThoughts shape: a system
// string beside conversations whose speakers are "user" and "assistant".
func stratosLine(system string) func(*record.Record, bool) any {
	return func(r *record.Record, withAudit bool) any {
		if !withAudit && !answered(r) {
			return nil
		}
		row := stratosRow{System: system, audit: auditOf(r, withAudit)}
		for _, t := range turns(r) {
			if t.Role == "system" {
				row.System = t.Content
				continue
			}
			row.Conversations = append(row.Conversations, shareGPTTurn{t.Role, t.Content})
		}
		return row
	}
}

// stratosFormat defaults the think format to stratos, and leaves the
// system turn empty when another think format is asked for (its text
// describes the stratos tags).
func stratosFormat() format {
	encode := func(ctx context.Context, src Source, opts Options, stage string, w io.Writer) (Counts, error) {
		if opts.ThinkFormat == "" {
			opts.ThinkFormat = ThinkStratos
		}
		system := ""
		if opts.ThinkFormat == ThinkStratos {
			system = stratosSystem
		}
		return encodeJSONL(ctx, src, opts, stage, w, stratosLine(system))
	}
	return streamFormat("stratos", "JSONL of {system, conversations: [{from: user|assistant, value}]} with the reasoning in "+
		"<|begin_of_thought|>…<|end_of_solution|> (Bespoke-Stratos, OpenThoughts); --think-format think writes <think> tags", encode)
}

// streamFormat is a format written as one stream, atomically to a file.
func streamFormat(name, doc string, encode func(ctx context.Context, src Source, opts Options, stage string, w io.Writer) (Counts, error)) format {
	write := func(ctx context.Context, src Source, opts Options, stage, outPath string) (Counts, error) {
		var c Counts
		err := atomicFile(outPath, func(w io.Writer) error {
			var err error
			c, err = encode(ctx, src, opts, stage, w)
			return err
		})
		return c, err
	}
	return format{FormatInfo{name, doc}, write, encode}
}

// problem is what the RLVR formats read of a record: a prompt with a
// reference answer. The reasoning stage's problem records are such
// records; its trace records (kind "trace") are not, so that a problem is
// exported once.
type problem struct {
	prompt, reference string
	passRate          *float64
	verifier          map[string]any
}

func problemOf(r *record.Record) (problem, bool) {
	ref, _ := r.Meta["reference"].(string)
	if kind, _ := r.Meta["kind"].(string); kind == "trace" || strings.TrimSpace(ref) == "" || strings.TrimSpace(userText(r)) == "" {
		return problem{}, false
	}
	p := problem{prompt: userText(r), reference: ref}
	if v, ok := r.Scores["pass_rate"]; ok {
		p.passRate = &v
	}
	p.verifier, _ = r.Meta["verifier"].(map[string]any)
	return p, true
}

// ability names the kind of task for verl's ability column, from the
// verifier that checked the answers.
func (p problem) ability() string {
	switch p.verifier["kind"] {
	case "math", "numeric", nil:
		return "math"
	case "command":
		return "code"
	}
	return "text"
}

// VerlTurn is one message of verl's prompt column.
type VerlTurn struct {
	Role    string `parquet:"role"`
	Content string `parquet:"content"`
}

// VerlReward is verl's reward_model column: rule-based, with the answer.
type VerlReward struct {
	Style       string `parquet:"style"`
	GroundTruth string `parquet:"ground_truth"`
}

// VerlExtra is verl's extra_info column, handed to reward functions.
type VerlExtra struct {
	Split    string   `parquet:"split"`
	Index    int64    `parquet:"index"`
	ID       string   `parquet:"id"`
	PassRate *float64 `parquet:"pass_rate,optional"`
	Verifier string   `parquet:"verifier"` // the verifier spec as JSON
}

// VerlRow is one row of a verl RL dataset (verl/utils/dataset: the
// columns its RLHFDataset and default reward functions read).
type VerlRow struct {
	DataSource  string     `parquet:"data_source"`
	Prompt      []VerlTurn `parquet:"prompt,list"`
	Ability     string     `parquet:"ability"`
	RewardModel VerlReward `parquet:"reward_model"`
	ExtraInfo   VerlExtra  `parquet:"extra_info"`
}

func verlFormat() format {
	encode := func(ctx context.Context, src Source, opts Options, stage string, w io.Writer) (Counts, error) {
		var index int64
		return encodeRows(ctx, src, opts, stage, w, nil, func(r *record.Record) (VerlRow, error) {
			p, ok := problemOf(r)
			if !ok {
				return VerlRow{}, errUnfit
			}
			spec, _ := json.Marshal(p.verifier)
			row := VerlRow{
				DataSource:  "synthloop/" + stage,
				Prompt:      []VerlTurn{{Role: "user", Content: p.prompt}},
				Ability:     p.ability(),
				RewardModel: VerlReward{Style: "rule", GroundTruth: p.reference},
				ExtraInfo:   VerlExtra{Split: "train", Index: index, ID: r.ID, PassRate: p.passRate, Verifier: string(spec)},
			}
			index++
			return row, nil
		})
	}
	return streamFormat("verl", "Parquet for verl RL: data_source, prompt (chat list), ability, reward_model {style: rule, ground_truth}, "+
		"extra_info {split, index, id, pass_rate, verifier}; from records with a reference answer (reasoning problems)", encode)
}

type chatTurn struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// trlGRPORow is a TRL GRPOTrainer row: a conversational prompt, and extra
// columns the trainer passes to reward functions by name (TRL's
// accuracy_reward reads solution).
type trlGRPORow struct {
	Prompt   []chatTurn     `json:"prompt"`
	Solution string         `json:"solution"`
	PassRate *float64       `json:"pass_rate,omitempty"`
	Verifier map[string]any `json:"verifier,omitempty"`
	ID       string         `json:"id"`
}

func trlGRPOLine(r *record.Record, _ bool) any {
	p, ok := problemOf(r)
	if !ok {
		return nil
	}
	return trlGRPORow{Prompt: []chatTurn{{"user", p.prompt}}, Solution: p.reference, PassRate: p.passRate, Verifier: p.verifier, ID: r.ID}
}

// openRLHFRow is an OpenRLHF prompt-dataset row, read with
// --input_key input --label_key label; the label reaches a reward
// function (--remote_rm_url or a custom reward_func) with the prompt.
type openRLHFRow struct {
	Input    string         `json:"input"`
	Label    string         `json:"label"`
	PassRate *float64       `json:"pass_rate,omitempty"`
	Verifier map[string]any `json:"verifier,omitempty"`
	ID       string         `json:"id"`
}

func openRLHFLine(r *record.Record, _ bool) any {
	p, ok := problemOf(r)
	if !ok {
		return nil
	}
	return openRLHFRow{Input: p.prompt, Label: p.reference, PassRate: p.passRate, Verifier: p.verifier, ID: r.ID}
}
