// Package mixfile writes a round's weighted data mixture as one JSONL file, for trainers that take a single file (the OpenAI fine-tuning API, external trainers).
package mixfile

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/synthloop/synthloop/engine/tokenizer"
	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/trainjob"
)

// Styles of the written lines.
const (
	// OpenAI writes SFT examples as {"messages": [...]} and DPO pairs in the
	// fine-tuning API's preference format: {"input": {"messages": [...]},
	// "preferred_output": [...], "non_preferred_output": [...]}.
	OpenAI = "openai"
	// TRL writes SFT examples as {"messages": [...]} and DPO pairs as
	// {"prompt", "chosen", "rejected"} (prompt a string for a single user
	// turn, else a message list): what TRL, axolotl and LLaMA-Factory read,
	// and trainjob too.
	TRL = "trl"
)

// Total is the default mixture size: the newest file's examples divided by
// its weight, so the newest round is used whole and earlier rounds add
// their share on top (e.g. 100 newest examples at weight 0.5 make 200).
func Total(files []loop.DataFile) int {
	if len(files) == 0 {
		return 0
	}
	last := files[len(files)-1]
	w := last.Weight
	if w <= 0 || w > 1 {
		w = 1
	}
	return int(math.Round(float64(last.Kept) / w))
}

// Write samples total examples from files by weight (each file's share
// capped by its size, without repetition), shuffles them with seed, and
// writes them to path in style. It returns the number written.
func Write(path string, files []loop.DataFile, total int, seed int64, style string) (int, error) {
	if style != OpenAI && style != TRL {
		return 0, fmt.Errorf("mixfile: style %q: want openai or trl", style)
	}
	rng := rand.New(rand.NewPCG(uint64(seed), 0x6d6978))
	var out []trainjob.Conversation
	for _, f := range files {
		convs, err := trainjob.ReadJSONL(f.Path)
		if err != nil {
			return 0, err
		}
		n := len(convs)
		if len(files) > 1 {
			n = min(n, int(math.Round(float64(total)*f.Weight)))
		}
		rng.Shuffle(len(convs), func(i, j int) { convs[i], convs[j] = convs[j], convs[i] })
		out = append(out, convs[:n]...)
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return 0, fmt.Errorf("mixfile: %w", err)
	}
	w, err := os.Create(path)
	if err != nil {
		return 0, fmt.Errorf("mixfile: %w", err)
	}
	enc := json.NewEncoder(w)
	for _, c := range out {
		if err := enc.Encode(line(c, style)); err != nil {
			w.Close()
			return 0, fmt.Errorf("mixfile: %s: %w", path, err)
		}
	}
	if err := w.Close(); err != nil {
		return 0, fmt.Errorf("mixfile: %s: %w", path, err)
	}
	return len(out), nil
}

type msg = tokenizer.Message

func line(c trainjob.Conversation, style string) any {
	if c.Chosen == "" && c.Rejected == "" {
		return map[string]any{"messages": c.Messages}
	}
	if style == OpenAI {
		return map[string]any{
			"input":                map[string]any{"messages": c.Messages},
			"preferred_output":     []msg{{Role: "assistant", Content: c.Chosen}},
			"non_preferred_output": []msg{{Role: "assistant", Content: c.Rejected}},
		}
	}
	var prompt any = c.Messages
	if len(c.Messages) == 1 && c.Messages[0].Role == "user" {
		prompt = c.Messages[0].Content
	}
	return map[string]any{"prompt": prompt, "chosen": c.Chosen, "rejected": c.Rejected}
}
