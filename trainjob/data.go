// Package trainjob trains a built-in model from the JSONL files synthloop
// exports (Alpaca, ShareGPT, OpenAI chat, DPO pairs): it reads and encodes the
// data, builds or loads the model and tokenizer, runs SFT or DPO with
// progress, and checkpoints so an interrupted job resumes exactly.
package trainjob

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/synthloop/synthloop/engine/tokenizer"
)

// Conversation is one training example as read from a file: the turns, and
// for a preference pair the chosen and rejected final replies.
type Conversation struct {
	Messages []tokenizer.Message
	// Chosen and Rejected are set for DPO pairs; Messages is then the prompt.
	Chosen, Rejected string
}

// ReadJSONL reads a file of one JSON object per line in any of the export
// formats, detected per line:
//   - openai:   {"messages": [{"role", "content"}, ...]}
//   - sharegpt: {"conversations": [{"from": "human"|"gpt"|"system", "value"}, ...]}
//   - alpaca:   {"instruction", "input", "output"}
//   - dpo:      {"prompt", "chosen", "rejected"} (prompt a string or a message list)
//
// Errors name the file and line.
func ReadJSONL(path string) ([]Conversation, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("trainjob: %w", err)
	}
	defer f.Close()
	return parseJSONL(path, f)
}

func parseJSONL(name string, r io.Reader) ([]Conversation, error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var out []Conversation
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSpace(sc.Text())
		if text == "" {
			continue
		}
		c, err := parseLine([]byte(text))
		if err != nil {
			return nil, fmt.Errorf("trainjob: %s:%d: %w", name, line, err)
		}
		out = append(out, c)
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("trainjob: %s:%d: %w", name, line+1, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("trainjob: %s: no examples", name)
	}
	return out, nil
}

type rawLine struct {
	Messages      []tokenizer.Message `json:"messages"`
	Conversations []struct {
		From  string `json:"from"`
		Value string `json:"value"`
	} `json:"conversations"`
	Instruction *string         `json:"instruction"`
	Input       string          `json:"input"`
	Output      *string         `json:"output"`
	Prompt      json.RawMessage `json:"prompt"`
	Chosen      *string         `json:"chosen"`
	Rejected    *string         `json:"rejected"`
}

func parseLine(b []byte) (Conversation, error) {
	var l rawLine
	if err := json.Unmarshal(b, &l); err != nil {
		return Conversation{}, fmt.Errorf("not a JSON object: %w", err)
	}
	switch {
	case l.Chosen != nil || l.Rejected != nil:
		if l.Chosen == nil || l.Rejected == nil || len(l.Prompt) == 0 {
			return Conversation{}, fmt.Errorf("a DPO pair needs prompt, chosen and rejected")
		}
		var c Conversation
		var s string
		if json.Unmarshal(l.Prompt, &s) == nil {
			c.Messages = []tokenizer.Message{{Role: "user", Content: s}}
		} else if err := json.Unmarshal(l.Prompt, &c.Messages); err != nil || len(c.Messages) == 0 {
			return Conversation{}, fmt.Errorf("prompt must be a string or a non-empty list of messages")
		}
		c.Chosen, c.Rejected = *l.Chosen, *l.Rejected
		return c, checkRoles(c.Messages)
	case len(l.Messages) > 0:
		return Conversation{Messages: l.Messages}, checkChat(l.Messages)
	case len(l.Conversations) > 0:
		var msgs []tokenizer.Message
		for i, t := range l.Conversations {
			role, ok := map[string]string{"human": "user", "user": "user", "gpt": "assistant", "assistant": "assistant", "system": "system"}[t.From]
			if !ok {
				return Conversation{}, fmt.Errorf("conversations[%d]: unknown speaker %q", i, t.From)
			}
			msgs = append(msgs, tokenizer.Message{Role: role, Content: t.Value})
		}
		return Conversation{Messages: msgs}, checkChat(msgs)
	case l.Instruction != nil && l.Output != nil:
		user := *l.Instruction
		if l.Input != "" {
			user += "\n\n" + l.Input
		}
		return Conversation{Messages: []tokenizer.Message{{Role: "user", Content: user}, {Role: "assistant", Content: *l.Output}}}, nil
	}
	return Conversation{}, fmt.Errorf("unknown format: expected messages, conversations, instruction/output, or prompt/chosen/rejected")
}

func checkRoles(msgs []tokenizer.Message) error {
	for i, m := range msgs {
		switch m.Role {
		case "system", "user", "assistant":
		default:
			return fmt.Errorf("messages[%d]: unknown role %q", i, m.Role)
		}
	}
	return nil
}

// checkChat requires an assistant turn: SFT trains on assistant tokens only,
// so a conversation without one would teach nothing.
func checkChat(msgs []tokenizer.Message) error {
	if err := checkRoles(msgs); err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Role == "assistant" {
			return nil
		}
	}
	return fmt.Errorf("no assistant turn to train on")
}

// Texts returns every text in convs, for building a tokenizer.
func Texts(convs []Conversation) []string {
	var out []string
	for _, c := range convs {
		for _, m := range c.Messages {
			out = append(out, m.Content)
		}
		if c.Chosen != "" || c.Rejected != "" {
			out = append(out, c.Chosen, c.Rejected)
		}
	}
	return out
}
