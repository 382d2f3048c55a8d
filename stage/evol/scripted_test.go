package evol

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// The scripted teacher of these tests recognises the evolving and judging
// prompts by their first line and answers everything else as a task. Marks
// in a root instruction script failures, and since evolutions keep the text
// they evolve, a mark holds for every generation of its chain:
//
//	[leak]     the evolution starts with "Rewritten task:"
//	[same]     the evolution returns the task unchanged
//	[para]     the evolution adds a word and the judge calls it the same
//	[noverdict] the judge never writes a verdict line; [fixable] only on its first try
//	[long]     the evolution is cut off at max_tokens
//	[refuse]   the answer is a short apology; [ja-refuse] a Japanese one
//	[dots]     the answer is only punctuation and stop words
//	[cut]      the answer is cut off at max_tokens
var (
	taskRe  = regexp.MustCompile(`(?s)<<<\n(.*?)\n>>>`)
	addedRe = regexp.MustCompile(` \((?:c|d|k|r|i|b)\d+\)`)
)

// additions are what the scripted evolver adds per operation, numbered so
// every generation's instruction differs from its parent's.
var additions = map[string]string{
	OpConstraints: "Answer in exactly three bullet points (c%d)", OpDeepen: "Also discuss its history and its future (d%d)",
	OpConcretize: "Focus on the city of Kyoto (k%d)", OpReasoning: "Explain each step of your reasoning (r%d)",
	OpComplicateInput: "Use this table: | x | y | 1 | 2 | (i%d)", OpBreadth: "A rarer variant from the same field (b%d)",
}

// opOf reads which operation an evolving prompt asks for.
func opOf(prompt string) string {
	switch {
	case strings.HasPrefix(prompt, "Use the task below") || strings.HasPrefix(prompt, "次のタスクを参考に"):
		return OpBreadth
	case strings.Contains(prompt, "constraint or requirement") || strings.Contains(prompt, "制約または要件"):
		return OpConstraints
	case strings.Contains(prompt, "more depth") || strings.Contains(prompt, "より深く"):
		return OpDeepen
	case strings.Contains(prompt, "more specific") || strings.Contains(prompt, "より具体的"):
		return OpConcretize
	case strings.Contains(prompt, "reasoning through several steps") || strings.Contains(prompt, "複数の段階"):
		return OpReasoning
	case strings.Contains(prompt, "input data") || strings.Contains(prompt, "入力データ"):
		return OpComplicateInput
	}
	return ""
}

func respond(req *modeltest.Request) modeltest.Reply {
	first := ""
	for _, m := range req.Messages {
		if m.Role == "user" {
			first = m.Content
			break
		}
	}
	one := func(text, finish string) modeltest.Reply {
		return modeltest.Reply{Choices: []modeltest.Choice{{Text: text, FinishReason: finish}}}
	}
	task := ""
	if m := taskRe.FindAllStringSubmatch(first, -1); m != nil {
		task = m[len(m)-1][1] // the judge's second task is the evolved one
	}
	switch {
	case strings.HasPrefix(first, "Two tasks for an AI assistant") || strings.HasPrefix(first, "AIアシスタント向けの二つのタスク"):
		switch {
		case strings.Contains(task, "[noverdict]"), strings.Contains(task, "[fixable]") && len(req.Messages) == 1:
			return one("They look different to me.", "")
		case strings.Contains(task, "[para]"):
			return one("Both ask for the same thing.\nVerdict: SAME", "")
		}
		return one("The second adds a requirement.\n**Verdict:** DIFFERENT", "")
	case opOf(first) != "":
		op := opOf(first)
		n := len(addedRe.FindAllString(task, -1)) + 1
		switch {
		case strings.Contains(task, "[leak]"):
			return one("Rewritten task: "+task+" with care", "")
		case strings.Contains(task, "[same]"):
			return one(`"`+task+`"`, "")
		case strings.Contains(task, "[para]"):
			return one(task+fmt.Sprintf(" please (c%d)", n), "")
		case strings.Contains(task, "[long]"):
			return one(task+" and so on and", model.FinishLength)
		}
		return one(task+". "+fmt.Sprintf(additions[op], n), "")
	}
	// An answer.
	task = req.Messages[len(req.Messages)-1].Content
	switch {
	case strings.Contains(task, "[refuse]"):
		return one("I'm sorry, but could you clarify what you mean?", "")
	case strings.Contains(task, "[ja-refuse]"):
		return one("申し訳ありませんが、お答えできません。", "")
	case strings.Contains(task, "[dots]"):
		return one("... the, of it!", "")
	case strings.Contains(task, "[cut]"):
		return one("Step one is to", model.FinishLength)
	}
	head := []rune(task)
	if len(head) > 40 {
		head = head[:40]
	}
	return one(fmt.Sprintf("A careful answer to %q, covering every requirement in turn.", string(head)), "")
}
