package sample

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strings"

	"golang.org/x/sync/errgroup"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// The prompts are files so they are reviewed as prompts.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

var subtopicsSchema = func() *structured.Schema {
	s, err := structured.Compile([]byte(`{"type":"object","properties":{"subtopics":{"type":"array","items":{"type":"string","minLength":1},"minItems":1}},"required":["subtopics"]}`), "subtopics")
	if err != nil {
		panic(err) // a build defect
	}
	return s
}()

// growTree grows a column's tree: the root, then level by level each
// topic's subtopics, asked of b (the topics of one level at once, at most
// env.Concurrency at a time). A reply that is not the list asked for is
// asked again (grow.retries); one that never is fails the tree, and so the
// stage, since no record can be drawn without it.
func growTree(ctx context.Context, env *pipeline.Env, b genkit.Backend, col *column, u *pipeline.UnitUsage) ([]*Node, error) {
	g := col.Grow
	lang := g.Language
	if lang == "" {
		lang = "en"
	}
	tmpl, err := prompt.ForLanguage(templateFS, "subtopics", lang, nil)
	if err != nil {
		return nil, fmt.Errorf("sample: column %s: %w", col.Name, err)
	}
	root := &Node{Name: strings.TrimSpace(g.Root)}
	type item struct {
		node     *Node
		path     string
		siblings []string
	}
	level := []item{{node: root, path: root.Name}}
	gate := &structured.Gate{Mode: structured.Auto}
	for range g.Depth {
		found := make([][]string, len(level))
		usage := make([]pipeline.UnitUsage, len(level))
		eg, ectx := errgroup.WithContext(ctx)
		eg.SetLimit(max(env.Concurrency, 1))
		for k, it := range level {
			eg.Go(func() error {
				text, err := tmpl.Render(struct {
					Path, Siblings string
					Width          int
				}{it.path, strings.Join(it.siblings, ", "), g.Width})
				if err != nil {
					return err
				}
				found[k], err = subtopics(ectx, b, gate, text, g, &usage[k])
				if err != nil {
					return fmt.Errorf("sample: column %s: growing the tree under %q: %w", col.Name, it.path, err)
				}
				return nil
			})
		}
		err := eg.Wait()
		for _, x := range usage {
			u.Add(x)
		}
		if err != nil {
			return nil, err
		}
		var next []item
		for k, it := range level {
			for _, name := range found[k] {
				c := &Node{Name: name}
				it.node.Children = append(it.node.Children, c)
				next = append(next, item{node: c, path: it.path + PathSep + name, siblings: without(found[k], name)})
			}
		}
		level = next
	}
	return []*Node{root}, nil
}

func without(names []string, name string) []string {
	var out []string
	for _, n := range names {
		if n != name {
			out = append(out, n)
		}
	}
	return out
}

// subtopics asks for the subtopics the prompt text asks for, through the
// gate (the schema natively, or in the prompt), and cleans the list:
// trimmed, no duplicates, no path separator, at most g.Width.
func subtopics(ctx context.Context, b genkit.Backend, gate *structured.Gate, text string, g *Grow, u *pipeline.UnitUsage) ([]string, error) {
	base := model.Request{Messages: []model.Message{{Role: "user", Content: text}}, MaxTokens: max(256, 32*g.Width)}
	var names []string
	_, err := gate.Do(ctx, func(ctx context.Context, native bool) error {
		a := genkit.Ask[any]{Request: subtopicsSchema.Request(base, native), Parse: subtopicsSchema.Check, Retries: g.Retries,
			Restate: structured.Restate, What: "list of subtopics", CutHint: "; lower grow.width"}
		got, err := a.Do(ctx, b, u)
		if err != nil {
			return err
		}
		names = cleanTopics(got.Value.(map[string]any)["subtopics"].([]any), g.Width)
		return nil
	})
	if err == nil && len(names) == 0 {
		err = errors.New("the reply lists no usable subtopic")
	}
	return names, err
}

func cleanTopics(list []any, width int) []string {
	var out []string
	seen := map[string]bool{}
	for _, v := range list {
		s, _ := v.(string)
		s = strings.Join(strings.Fields(strings.ReplaceAll(s, ">", "/")), " ")
		k := strings.ToLower(s)
		if s == "" || seen[k] {
			continue
		}
		seen[k] = true
		out = append(out, s)
		if len(out) == width {
			break
		}
	}
	return out
}
