package export

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/synthloop/synthloop/record"
)

// audit holds the fields an --include-rejected export adds to every line.
// It is embedded by pointer so that a normal export has none of them.
type audit struct {
	ID      string   `json:"id"`
	Stage   string   `json:"stage"`
	Status  string   `json:"status"`
	Reasons []string `json:"reasons,omitempty"`
	Error   string   `json:"error,omitempty"`
	// Scores and Judgments carry the judges' verdicts and their written
	// reasons (stage/judge, reject, selfreward), so an audit shows why.
	Scores    map[string]float64 `json:"scores,omitempty"`
	Judgments map[string]any     `json:"judgments,omitempty"`
}

// judgmentKeys are the Meta entries where the judging stages keep reasons.
var judgmentKeys = []string{"judgments", "judgment", "pairwise"}

func auditOf(r *record.Record, on bool) *audit {
	if !on {
		return nil
	}
	a := &audit{ID: r.ID, Stage: r.Stage, Status: string(r.Status), Reasons: r.Reasons(), Error: r.Error, Scores: r.Scores}
	for _, k := range judgmentKeys {
		if v, ok := r.Meta[k]; ok {
			if a.Judgments == nil {
				a.Judgments = map[string]any{}
			}
			a.Judgments[k] = v
		}
	}
	return a
}

// userText is an instruction record's user turn: the instruction, then the
// input after a blank line when there is one. The Alpaca placeholder
// "<noinput>" is no input.
func userText(r *record.Record) string {
	if r.Input == "" || r.Input == "<noinput>" {
		return r.Instruction
	}
	return r.Instruction + "\n\n" + r.Input
}

// turns returns the record as a conversation. A record with Messages is its
// messages; an instruction record is one user turn (instruction, then input
// after a blank line when there is one) and, when it has an output, one
// assistant turn.
func turns(r *record.Record) []record.Turn {
	if len(r.Messages) > 0 {
		return r.Messages
	}
	t := []record.Turn{{Role: "user", Content: userText(r)}}
	if r.Output != "" {
		t = append(t, record.Turn{Role: "assistant", Content: r.Output})
	}
	return t
}

// answered reports whether the record's conversation has an assistant turn
// with content: without one, a chat or instruction trainer has nothing to
// learn, and OpenAI's fine-tuning API refuses the example outright.
func answered(r *record.Record) bool {
	for _, t := range turns(r) {
		if t.Role == "assistant" && t.Content != "" {
			return true
		}
	}
	return false
}

// hasAnswer is answered, or a preference pair's chosen answer.
func hasAnswer(r *record.Record) bool {
	return r.Chosen != "" || answered(r)
}

type alpacaRow struct {
	Instruction string `json:"instruction"`
	Input       string `json:"input"`
	Output      string `json:"output"`
	// System and History carry a conversation the LLaMA-Factory way: earlier
	// [user, assistant] pairs in History, the last exchange in the main fields.
	System  string      `json:"system,omitempty"`
	History [][2]string `json:"history,omitempty"`
	*audit
}

func alpacaLine(r *record.Record, withAudit bool) any {
	if !withAudit && !answered(r) {
		return nil
	}
	row := alpacaRow{audit: auditOf(r, withAudit)}
	if len(r.Messages) == 0 {
		row.Instruction, row.Input, row.Output = r.Instruction, r.Input, r.Output
		return row
	}
	var sys []string
	var pairs [][2]string
	var user []string // user turns not answered yet; consecutive ones are joined
	for _, t := range r.Messages {
		switch t.Role {
		case "system":
			sys = append(sys, t.Content)
		case "assistant":
			pairs = append(pairs, [2]string{strings.Join(user, "\n\n"), t.Content})
			user = nil
		default:
			user = append(user, t.Content)
		}
	}
	row.System = strings.Join(sys, "\n\n")
	if len(user) > 0 {
		// The conversation ends on an unanswered user turn.
		pairs = append(pairs, [2]string{strings.Join(user, "\n\n"), ""})
	}
	if n := len(pairs); n > 0 {
		row.Instruction, row.Output = pairs[n-1][0], pairs[n-1][1]
		row.History = pairs[:n-1]
	}
	return row
}

type shareGPTTurn struct {
	From  string `json:"from"`
	Value string `json:"value"`
}

type shareGPTRow struct {
	Conversations []shareGPTTurn `json:"conversations"`
	// Tools is the JSON text of the tools a tool-use record was offered.
	Tools string `json:"tools,omitempty"`
	*audit
}

// shareGPTRoles maps chat roles to ShareGPT speakers; other roles pass through.
var shareGPTRoles = map[string]string{"user": "human", "assistant": "gpt", "system": "system"}

func shareGPTLine(r *record.Record, withAudit bool) any {
	if !withAudit && !answered(r) {
		return nil
	}
	row := shareGPTRow{audit: auditOf(r, withAudit)}
	if ts := turns(r); hasToolCalls(ts) {
		row.Conversations, row.Tools = shareGPTToolTurns(ts), shareGPTToolsText(r)
		return row
	}
	for _, t := range turns(r) {
		from, ok := shareGPTRoles[t.Role]
		if !ok {
			from = t.Role
		}
		row.Conversations = append(row.Conversations, shareGPTTurn{from, t.Content})
	}
	return row
}

// chatRow is a row of chat fine-tuning JSONL, OpenAI's and TRL's alike.
type chatRow struct {
	Messages []chatMessage `json:"messages"`
	// Tools are the tools a tool-use record was offered, as OpenAI's
	// fine-tuning format lists them beside the messages.
	Tools []chatTool `json:"tools,omitempty"`
	*audit
}

// chatLine is r's chatRow; objectArgs is chatMessages'.
func chatLine(r *record.Record, withAudit, objectArgs bool) any {
	if !withAudit && !answered(r) {
		return nil
	}
	return chatRow{Messages: chatMessages(turns(r), objectArgs), Tools: chatTools(r), audit: auditOf(r, withAudit)}
}

func openAILine(r *record.Record, withAudit bool) any { return chatLine(r, withAudit, false) }

// dpoRow is a preference pair as TRL and trainjob read it. The prompt is a
// string for an instruction record and the message list for a conversation
// record, whose Messages hold the prompt turns.
type dpoRow struct {
	Prompt   any    `json:"prompt"`
	Chosen   string `json:"chosen"`
	Rejected string `json:"rejected"`
	// The judges' scores of the two answers, when a judging stage set them.
	ScoreChosen   *float64 `json:"score_chosen,omitempty"`
	ScoreRejected *float64 `json:"score_rejected,omitempty"`
	*audit
}

func dpoLine(r *record.Record, withAudit bool) any {
	if !withAudit && (r.Chosen == "" || r.Rejected == "") {
		return nil
	}
	row := dpoRow{Chosen: r.Chosen, Rejected: r.Rejected, audit: auditOf(r, withAudit)}
	if v, ok := r.Scores["chosen"]; ok {
		row.ScoreChosen = &v
	}
	if v, ok := r.Scores["rejected"]; ok {
		row.ScoreRejected = &v
	}
	if len(r.Messages) > 0 {
		row.Prompt = r.Messages
	} else {
		row.Prompt = userText(r)
	}
	return row
}

// jsonlFormat is a format that writes each selected record as one JSON line
// built by line. line returns nil for a record the format cannot
// hold for training (no answer; for dpo, no pair); an audit export
// (IncludeRejected) writes every record as it is.
func jsonlFormat(name, doc string, line func(*record.Record, bool) any) format {
	return streamFormat(name, doc, func(ctx context.Context, src Source, opts Options, stage string, w io.Writer) (Counts, error) {
		return encodeJSONL(ctx, src, opts, stage, w, line)
	})
}

func encodeJSONL(ctx context.Context, src Source, opts Options, stage string, w io.Writer, line func(*record.Record, bool) any) (Counts, error) {
	bw := bufio.NewWriterSize(w, 1<<16)
	enc := json.NewEncoder(bw)
	// Prompts are full of <, > and &; escaping them would only make the file harder to read.
	enc.SetEscapeHTML(false)
	c, err := each(ctx, src, opts, stage, func(r *record.Record) error {
		v := line(r, opts.IncludeRejected)
		if v == nil {
			return errUnfit
		}
		if err := enc.Encode(v); err != nil {
			return fmt.Errorf("export: record %s: %w", r.ID, err)
		}
		return nil
	})
	if err != nil {
		return c, err
	}
	if err := bw.Flush(); err != nil {
		return c, fmt.Errorf("export: %w", err)
	}
	return c, nil
}
