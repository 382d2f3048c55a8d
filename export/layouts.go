package export

import (
	"fmt"
	"hash/fnv"
	"strings"

	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/text"
)

// A layout lays out an instruction and its input as one user prompt.
// Training on a few layouts rather than one keeps a model from learning a
// single prompt shape as the only way a task is asked (the idea of
// Self-Instruct's prepare_for_finetuning.py; these are our own layouts).
// {instruction} and {input} are replaced in one pass, so a text holding
// either placeholder is left as written.
type layouts struct {
	withInput, noInput []string
}

// Layouts per language. The first of each list is the plain layout every
// other export uses, so a varied export stays close to it on average.
var layoutsByLang = map[text.Lang]layouts{
	text.English: {
		withInput: []string{
			"{instruction}\n\n{input}",
			"{instruction}\n\nInput:\n{input}",
			"Task: {instruction}\n\n{input}",
			"{input}\n\n{instruction}",
			"Instruction: {instruction}\nInput: {input}",
			"{instruction}\n\nHere is the text to work with:\n{input}",
		},
		noInput: []string{
			"{instruction}",
			"Task: {instruction}",
			"Instruction: {instruction}",
			"Please do the following.\n\n{instruction}",
		},
	},
	text.Japanese: {
		withInput: []string{
			"{instruction}\n\n{input}",
			"{instruction}\n\n入力:\n{input}",
			"タスク: {instruction}\n\n{input}",
			"{input}\n\n{instruction}",
			"指示: {instruction}\n入力: {input}",
			"{instruction}\n\n対象のテキストは次のとおりです。\n{input}",
		},
		noInput: []string{
			"{instruction}",
			"タスク: {instruction}",
			"指示: {instruction}",
			"次のことをしてください。\n\n{instruction}",
		},
	},
}

// TemplateLangs are the languages of the varied layouts.
var TemplateLangs = []string{"en", "ja"}

// variesFormat reports whether a format writes a user prompt the layouts
// can shape; parquet and hf keep instruction and input as separate columns.
func variesFormat(name string) bool {
	switch name {
	case "alpaca", "sharegpt", "openai", "dpo":
		return true
	}
	return false
}

// checkVary reports an option combination VaryTemplates cannot honour.
func checkVary(opts Options) error {
	if !opts.VaryTemplates {
		if opts.TemplateLang != "" {
			return fmt.Errorf("export: a template language is only for varied templates")
		}
		return nil
	}
	if !variesFormat(opts.Format) {
		return fmt.Errorf("export: varied templates are for the alpaca, sharegpt, openai and dpo formats, not %s, which keeps instruction and input apart", opts.Format)
	}
	switch opts.TemplateLang {
	case "", "en", "ja":
		return nil
	}
	return fmt.Errorf("export: unknown template language %q (want en or ja, or none for each record's own)", opts.TemplateLang)
}

// vary returns r with its instruction and input laid out by the layout its
// ID picks, as the instruction, and no input; the trainer sees the laid-out
// prompt as the user turn. Conversation records and records without an
// instruction are returned as they are. lang "" picks each record's
// language from its text.
func vary(r *record.Record, lang string) *record.Record {
	if len(r.Messages) > 0 || strings.TrimSpace(r.Instruction) == "" {
		return r
	}
	l := text.Lang(lang)
	if l == "" {
		l = text.GuessLang(r.Instruction + "\n" + r.Input)
	}
	set, ok := layoutsByLang[l]
	if !ok {
		set = layoutsByLang[text.English]
	}
	input := r.Input
	if input == "<noinput>" {
		input = ""
	}
	list := set.noInput
	if strings.TrimSpace(input) != "" {
		list = set.withInput
	}
	h := fnv.New64a()
	h.Write([]byte(r.ID))
	layout := list[h.Sum64()%uint64(len(list))]
	out := *r
	out.Instruction = strings.NewReplacer("{instruction}", strings.TrimSpace(r.Instruction), "{input}", strings.TrimSpace(input)).Replace(layout)
	out.Input = ""
	return &out
}
