package selfinstruct

import (
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
)

// The replies asked for with the structured setting on. Each is the shape
// its text parser reads, so a record looks the same either way.
var (
	instructionsSchema = structured.MustCompile(fmt.Sprintf(`{"type":"object","properties":{"instructions":{"type":"array","items":{"type":"string","minLength":1,"maxLength":2000},"minItems":1,"maxItems":%d}},"required":["instructions"],"additionalProperties":false}`, maxItems), "instructions")
	alpacaSchema       = structured.MustCompile(fmt.Sprintf(`{"type":"object","properties":{"tasks":{"type":"array","items":{"type":"object","properties":{"instruction":{"type":"string","minLength":1},"input":{"type":"string"},"output":{"type":"string","minLength":1}},"required":["instruction","input","output"],"additionalProperties":false},"minItems":1,"maxItems":%d}},"required":["tasks"],"additionalProperties":false}`, maxItems), "tasks")
	classifySchema     = structured.MustCompile(`{"type":"object","properties":{"answer":{"enum":["Yes","No"]}},"required":["answer"],"additionalProperties":false}`, "classification")
)

// instancesSchema is the instances reply of a task: input and output
// pairs, or for a classification task a class label and its input (the
// output-first order of the paper), at most n.
func instancesSchema(clf bool, n int) *structured.Schema {
	first, second := "input", "output"
	if clf {
		first, second = "class_label", "input"
	}
	return structured.MustCompile(fmt.Sprintf(`{"type":"object","properties":{"instances":{"type":"array","items":{"type":"object","properties":{%q:{"type":"string"},%q:{"type":"string"}},"required":[%q,%q],"additionalProperties":false},"minItems":1,"maxItems":%d}},"required":["instances"],"additionalProperties":false}`,
		first, second, first, second, max(n, 1)), "instances")
}

type instructionList struct {
	Instructions []string `json:"instructions"`
}

type alpacaList struct {
	Tasks []struct {
		Instruction string `json:"instruction"`
		Input       string `json:"input"`
		Output      string `json:"output"`
	} `json:"tasks"`
}

type instanceList struct {
	Instances []struct {
		Input      string `json:"input"`
		Output     string `json:"output"`
		ClassLabel string `json:"class_label"`
	} `json:"instances"`
}

// parseShapedTasks reads a bootstrap reply asked for with schema s
// (instructionsSchema or alpacaSchema) into the items the text parsers
// give: trimmed, <noinput> an empty input, blank instructions dropped.
func parseShapedTasks(s *structured.Schema, reply string) ([]alpacaItem, error) {
	var out []alpacaItem
	if s == alpacaSchema {
		v, err := structured.Decode[alpacaList](s, reply)
		if err != nil {
			return nil, err
		}
		for _, t := range v.Tasks {
			it := alpacaItem{Instruction: strings.TrimSpace(t.Instruction), Input: strings.TrimSpace(t.Input), Output: strings.TrimSpace(t.Output)}
			if strings.EqualFold(it.Input, "<noinput>") {
				it.Input = ""
			}
			if it.Instruction != "" {
				out = append(out, it)
			}
		}
		return out, nil
	}
	v, err := structured.Decode[instructionList](s, reply)
	if err != nil {
		return nil, err
	}
	for _, t := range v.Instructions {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, alpacaItem{Instruction: t})
		}
	}
	return out, nil
}

// parseShapedInstances reads an instances reply asked for with schema s:
// a classification task's label is the output, as in parseClassInstances.
func parseShapedInstances(s *structured.Schema, reply string, clf bool) ([]instance, error) {
	v, err := structured.Decode[instanceList](s, reply)
	if err != nil {
		return nil, err
	}
	var out []instance
	for _, x := range v.Instances {
		in := instance{Input: strings.TrimSpace(x.Input), Output: strings.TrimSpace(x.Output)}
		if clf {
			in.Output = strings.TrimSpace(x.ClassLabel)
		}
		out = append(out, in)
	}
	return out, nil
}

// parseShapedYesNo reads a classification answer asked for with
// classifySchema; a reply that does not validate is not understood, which
// the paper counts as No.
func parseShapedYesNo(reply string) (yes, ok bool) {
	v, err := structured.Decode[struct {
		Answer string `json:"answer"`
	}](classifySchema, reply)
	if err != nil {
		return false, false
	}
	return v.Answer == "Yes", true
}
