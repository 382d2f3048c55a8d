// Package scripted is a deterministic stand-in teacher that answers the Self-Instruct prompts plausibly for offline demos and tests; it is not a model.
package scripted

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/text"
)

// Prompt kinds recognised by Kind.
const (
	KindBootstrap         = "bootstrap"                // numbered list of tasks ending with "N."
	KindAlpaca            = "alpaca"                   // "###"-separated items ending with "N. Instruction:"
	KindClassify          = "classify"                 // ends with "Classification:"
	KindClassInstances    = "instances-classification" // output-first: has "Class label:", ends with a "Task:" line
	KindGenerateInstances = "instances-generation"     // input-first: ends with a "Task:" line
	KindOther             = "other"
)

const (
	defaultModelName = "scripted"
	// maxCompletionTokensCap stands in for a model's own output limit when a
	// request sets no max_tokens.
	maxCompletionTokensCap = 4096
)

// Backend is the scripted teacher: a stand-in for an LLM, not a model. Its
// outputs are fillers with the right shape, and nothing it says is knowledge.
//
// It recognises the prompts of stage/selfinstruct by their structure (see
// Kind) and replies as a sloppy but well-formatted LLM would: numbered lists
// of new tasks built combinatorially from verbs, topics, personas, purposes
// and constraints in English or Japanese (matching the prompt), Yes/No answers
// to the classification question, instances in the expected layout, and
// Alpaca items separated by "###". A realistic share of its output is what
// the filters exist to catch: near-duplicates of the prompt's tasks or of each
// other, blacklisted words, too-short tasks, "Write a program", leading
// punctuation, replies cut by max_tokens (finish reason "length"), and invalid
// or conflicting instances. A request with a JSON Schema gets a JSON value
// that fits it. It reports estimated token usage.
//
// Every reply depends only on the messages, the decoding parameters, the
// sample index and Seed, never on call order, so a test or a resumed run gets
// the same answers in any interleaving. Safe for concurrent use; the zero
// value is ready to use with seed 0.
type Backend struct {
	// Seed varies every answer; two Backends with the same seed agree.
	Seed int64
	// Model is reported in responses; "scripted" when empty.
	Model string
	// served is the model name a request asked for (Responder sets it):
	// the pool stand-ins' personality follows it (pool.go).
	served string
}

// New returns a Backend with the given seed.
func New(seed int64) *Backend { return &Backend{Seed: seed} }

var _ model.Backend = (*Backend)(nil)

var (
	lastNumberRe  = regexp.MustCompile(`(?m)^(\d+)\.\s*$`)
	alpacaOpenRe  = regexp.MustCompile(`(\d+)\. Instruction:\s*$`)
	listItemRe    = regexp.MustCompile(`(?m)^\d+\. (.+)$`)
	alpacaInstrRe = regexp.MustCompile(`(?m)^\d+\. Instruction: (.+)$`)
	stopNumberRe  = regexp.MustCompile(`(\d+)`)
)

// FirstUser returns the first user message, the task of a request: a
// judge's or a generator's prompt before any follow-up.
func FirstUser(msgs []model.Message) string {
	for _, m := range msgs {
		if m.Role == "user" {
			return m.Content
		}
	}
	return ""
}

// lastUser returns the last user message.
func lastUser(msgs []model.Message) string {
	for i := len(msgs) - 1; i >= 0; i-- {
		if msgs[i].Role == "user" {
			return msgs[i].Content
		}
	}
	return ""
}

// Kind tells which Self-Instruct prompt the messages hold, by structure
// rather than wording, so the prompts can be reworded freely.
func Kind(msgs []model.Message) string {
	p := strings.TrimRight(lastUser(msgs), " \n")
	lines := strings.Split(p, "\n")
	last := strings.TrimSpace(lines[len(lines)-1])
	switch {
	case strings.Contains(p, "###") && alpacaOpenRe.MatchString(p):
		return KindAlpaca
	case strings.HasSuffix(p, "Classification:"):
		return KindClassify
	case strings.HasPrefix(last, "Task:") && strings.Contains(p, "Class label:"):
		return KindClassInstances
	case strings.HasPrefix(last, "Task:"):
		return KindGenerateInstances
	case lastNumberRe.MatchString(last):
		return KindBootstrap
	}
	return KindOther
}

// Generate answers req with N scripted samples.
func (b *Backend) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	prompt := lastUser(req.Messages)
	resp := &model.Response{Model: b.Model}
	if resp.Model == "" {
		resp.Model = defaultModelName
	}
	var promptTokens int
	for _, m := range req.Messages {
		promptTokens += EstimateTokens(m.Content)
	}
	for i := range max(req.N, 1) {
		r := b.rng(req, i)
		if len(req.Tools) > 0 && len(req.Messages) > 0 {
			c := toolTurn(r, req)
			resp.Choices = append(resp.Choices, c)
			resp.Usage.CompletionTokens += EstimateTokens(c.Text) + 8*len(c.ToolCalls)
			continue
		}
		txt, reasoning, ok := b.inventedReply(r, req, prompt)
		finish := model.FinishStop
		if !ok {
			txt, finish = b.reply(r, req, prompt)
		}
		txt, finish = applyLimits(txt, finish, req)
		resp.Choices = append(resp.Choices, model.Choice{Text: txt, Reasoning: reasoning, FinishReason: finish})
		resp.Usage.CompletionTokens += EstimateTokens(txt) + EstimateTokens(reasoning)
	}
	resp.Usage.PromptTokens = promptTokens
	return resp, nil
}

// rng derives the randomness of one sample from the request's content only.
func (b *Backend) rng(req model.Request, sample int) *rand.Rand {
	doc, _ := json.Marshal(struct {
		Seed   int64
		Req    model.Request
		Sample int
	}{b.Seed, withoutN(req), sample})
	h := sha256.Sum256(doc)
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(h[:8]), binary.LittleEndian.Uint64(h[8:16])))
}

// withoutN drops N so that sample i of an n=4 request equals sample i of n=8,
// as with the model layer's cache.
func withoutN(r model.Request) model.Request { r.N = 0; return r }

// EstimateTokens is model.EstimateTokens: the stand-in's usage and
// max_tokens count tokens the way the layer estimates them.
func EstimateTokens(s string) int { return model.EstimateTokens(s) }

// applyLimits cuts the reply at the first stop sequence, as an API does, and
// at max_tokens, reporting "length".
func applyLimits(txt, finish string, req model.Request) (string, string) {
	cut := len(txt)
	for _, s := range req.Stop {
		if s == "" {
			continue
		}
		if i := strings.Index(txt, s); i >= 0 && i < cut {
			cut = i
		}
	}
	if cut < len(txt) {
		txt, finish = txt[:cut], model.FinishStop
	}
	limit := req.MaxTokens
	if limit <= 0 {
		limit = maxCompletionTokensCap
	}
	if EstimateTokens(txt) > limit {
		// Cut rune by rune until the estimate fits.
		rs := []rune(txt)
		lo, hi := 0, len(rs)
		for lo < hi {
			mid := (lo + hi + 1) / 2
			if EstimateTokens(string(rs[:mid])) <= limit {
				lo = mid
			} else {
				hi = mid - 1
			}
		}
		txt, finish = string(rs[:lo]), model.FinishLength
	}
	return txt, finish
}

func (b *Backend) reply(r *rand.Rand, req model.Request, prompt string) (string, string) {
	ja := isJapanese(prompt)
	if len(req.JSONSchema) > 0 {
		return schemaReply(r, req.JSONSchema, ja || text.GuessLang(prompt) == text.Japanese), model.FinishStop
	}
	switch Kind(req.Messages) {
	case KindBootstrap:
		return bootstrapReply(r, req, prompt, ja)
	case KindAlpaca:
		return alpacaReply(r, req, prompt, ja)
	case KindClassify:
		return classifyReply(prompt), model.FinishStop
	case KindClassInstances:
		// A model writes examples in the language of the task, whatever
		// language the prompt's instructions are in.
		t := lastTask(prompt)
		return classInstancesReply(r, t, text.GuessLang(t) == text.Japanese)
	case KindGenerateInstances:
		t := lastTask(prompt)
		return genInstancesReply(r, t, text.GuessLang(t) == text.Japanese)
	}
	if ja {
		return "ご質問ありがとうございます。これは台本どおりの応答です。", model.FinishStop
	}
	return "Thanks for the question. This is a scripted answer.", model.FinishStop
}

// isJapanese looks at the header line: the prompt's language is the
// language of its instructions to the model.
func isJapanese(prompt string) bool {
	head, _, _ := strings.Cut(prompt, "\n")
	return text.GuessLang(head) == text.Japanese
}

func lastTask(prompt string) string {
	p := strings.TrimRight(prompt, " \n")
	i := strings.LastIndex(p, "Task:")
	if i < 0 {
		return ""
	}
	return strings.TrimSpace(p[i+len("Task:"):])
}

// stopItem reads the item number the request stops at ("\n16." → 16).
func stopItem(req model.Request, def int) int {
	for _, s := range req.Stop {
		if m := stopNumberRe.FindString(s); m != "" {
			if n, err := strconv.Atoi(m); err == nil && n > 1 {
				return n
			}
		}
	}
	return def
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }
