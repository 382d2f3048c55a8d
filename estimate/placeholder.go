package estimate

import (
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
)

// Placeholder answers a dry run's calls with replies of the right shape, so
// that stages go on as they would: the scripted stand-in's replies
// (Self-Instruct lists, classifications and instances, worked arithmetic for
// the reasoning stage, tool calls), a top score for prompts that ask for
// "Score: N" (judges), and for a request with a JSON schema the smallest
// object that validates against it. Everything else gets twelve neutral
// words drawn by a hash of the request (so a conversation never repeats
// itself and runs to its max_turns), which a stage that checks the content
// (docqa's quoted evidence, a verifier) may reject: the stages after it then see fewer records than a
// real run would give them, and their counts are low. --preview shows real
// replies where that matters.
type Placeholder struct{ s *scripted.Backend }

// NewPlaceholder returns a Placeholder; the seed varies the scripted replies.
func NewPlaceholder(seed int64) *Placeholder {
	return &Placeholder{s: &scripted.Backend{Seed: seed, Model: "placeholder"}}
}

var (
	scaleRe = regexp.MustCompile(`from (\d+)\D{0,40}? to (\d+)`)
	scoreRe = regexp.MustCompile(`Score: N\b`)
)

// Generate implements model.Backend.
func (p *Placeholder) Generate(ctx context.Context, req model.Request) (*model.Response, error) {
	resp, err := p.s.Generate(ctx, req)
	if err != nil || len(req.Tools) > 0 || scripted.Kind(req.Messages) != scripted.KindOther {
		return resp, err
	}
	var text string
	last := ""
	for i := len(req.Messages) - 1; i >= 0; i-- {
		if req.Messages[i].Role == "user" {
			last = req.Messages[i].Content
			break
		}
	}
	switch {
	case len(req.JSONSchema) > 0:
		var schema map[string]any
		if json.Unmarshal(req.JSONSchema, &schema) != nil {
			return resp, nil
		}
		b, _ := json.Marshal(instance(schema, 0))
		text = string(b)
	case scoreRe.MatchString(last):
		top := 5
		if m := scaleRe.FindStringSubmatch(last); m != nil {
			top, _ = strconv.Atoi(m[2])
		}
		text = fmt.Sprintf("A placeholder judgment.\nScore: %d", top)
	default:
		// Varied neutral text: a conversation's turns then neither repeat
		// each other nor read as the other side's, and it runs to its
		// max_turns (the high end).
		for i := range resp.Choices {
			resp.Choices[i].Text = neutral(req, i)
		}
		return resp, nil
	}
	for i := range resp.Choices {
		resp.Choices[i].Text = text
		resp.Choices[i].Reasoning = ""
		resp.Choices[i].FinishReason = model.FinishStop
	}
	return resp, nil
}

var words = strings.Fields(`river garden lantern copper meadow harbor violet canyon ember
orchard pebble thunder willow saffron glacier marble falcon juniper compass velvet
quartz meadowlark cedar beacon tundra cobalt hazel prairie ripple summit amber
nectar pylon sonnet tapestry walnut zephyr birch cinder drizzle fjord gravel
heron iris jasper kelp lagoon mosaic nimbus opal plume quill reef sorrel thistle`)

// neutral returns sample i's placeholder text for req: twelve words drawn
// by a hash of the request, so that different requests differ.
func neutral(req model.Request, i int) string {
	h := fnv.New64a()
	for _, m := range req.Messages {
		h.Write([]byte(m.Role))
		h.Write([]byte(m.Content))
	}
	fmt.Fprint(h, i)
	r := rand.New(rand.NewPCG(h.Sum64(), 7))
	out := make([]string, 12)
	for k := range out {
		out[k] = words[r.IntN(len(words))]
	}
	return "Placeholder: " + strings.Join(out, " ") + "."
}

// instance builds the smallest value that validates against schema, for
// the schemas stages ask for (objects, arrays, strings, numbers, enums).
func instance(schema map[string]any, depth int) any {
	if depth > 8 {
		return nil
	}
	if c, ok := schema["const"]; ok {
		return c
	}
	if e, ok := schema["enum"].([]any); ok && len(e) > 0 {
		return e[0]
	}
	typ, _ := schema["type"].(string)
	if ts, ok := schema["type"].([]any); ok && len(ts) > 0 {
		typ, _ = ts[0].(string)
	}
	switch typ {
	case "object", "":
		props, _ := schema["properties"].(map[string]any)
		if typ == "" && props == nil {
			return "placeholder"
		}
		out := map[string]any{}
		for name, s := range props {
			if sm, ok := s.(map[string]any); ok {
				out[name] = instance(sm, depth+1)
			}
		}
		return out
	case "array":
		items, _ := schema["items"].(map[string]any)
		n := 1
		if m, ok := schema["minItems"].(float64); ok && int(m) > n {
			n = int(m)
		}
		out := make([]any, n)
		for i := range out {
			out[i] = instance(items, depth+1)
		}
		return out
	case "integer", "number":
		if m, ok := schema["minimum"].(float64); ok {
			return m
		}
		return 1
	case "boolean":
		return true
	case "null":
		return nil
	}
	return "placeholder"
}
