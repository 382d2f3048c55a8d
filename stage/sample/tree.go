package sample

import (
	"errors"
	"fmt"
	"strings"
)

// Node is one topic of a topic tree.
type Node struct {
	Name     string  `json:"name"`
	Children []*Node `json:"children,omitempty"`
}

// PathSep joins the topics of a path: "root > child > leaf".
const PathSep = " > "

// maxTreeDepth bounds a given tree, so a pathological file cannot exhaust
// the stack.
const maxTreeDepth = 32

// ParseTreeYAML reads a topic tree written in YAML (see ParseTree).
func ParseTreeYAML(b []byte) ([]*Node, error) {
	v, err := yamlAny(b)
	if err != nil {
		return nil, fmt.Errorf("not YAML: %w", err)
	}
	return ParseTree(v)
}

// ParseTree reads a topic tree from decoded YAML: a mapping from each topic
// to its subtopics, a list of topics (a mapping in a list is topics with
// subtopics), or one topic. A topic with nothing below it is a leaf.
// Mapping keys come in sorted order: the decoder does not keep the file's.
func ParseTree(v any) ([]*Node, error) {
	nodes, err := parseNodes(v, 0)
	if err != nil {
		return nil, err
	}
	if len(nodes) == 0 {
		return nil, errors.New("no topics")
	}
	seen := map[string]bool{}
	for _, p := range Leaves(nodes) {
		if seen[p] {
			return nil, fmt.Errorf("the path %q is in the tree twice", p)
		}
		seen[p] = true
	}
	return nodes, nil
}

func parseNodes(v any, depth int) ([]*Node, error) {
	if depth > maxTreeDepth {
		return nil, fmt.Errorf("deeper than %d levels", maxTreeDepth)
	}
	switch x := v.(type) {
	case nil:
		return nil, nil
	case []any:
		var out []*Node
		for i, e := range x {
			if e == nil {
				return nil, fmt.Errorf("item %d is empty", i)
			}
			ns, err := parseNodes(e, depth+1)
			if err != nil {
				return nil, err
			}
			out = append(out, ns...)
		}
		return out, nil
	case map[string]any:
		var out []*Node
		for _, k := range sortedKeys(x) {
			n, err := topic(k)
			if err != nil {
				return nil, err
			}
			if n.Children, err = parseNodes(x[k], depth+1); err != nil {
				return nil, fmt.Errorf("%s: %w", k, err)
			}
			out = append(out, n)
		}
		return out, nil
	}
	s, ok := scalar(v)
	if !ok {
		return nil, fmt.Errorf("want a topic, a list or a mapping, got %s", describe(v))
	}
	n, err := topic(s)
	if err != nil {
		return nil, err
	}
	return []*Node{n}, nil
}

func topic(s string) (*Node, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return nil, errors.New("a topic is empty")
	}
	if strings.Contains(s, strings.TrimSpace(PathSep)) {
		return nil, fmt.Errorf("topic %q holds %q, which joins the topics of a path", s, strings.TrimSpace(PathSep))
	}
	return &Node{Name: s}, nil
}

// Leaves lists the paths from the top to every leaf, in tree order.
func Leaves(nodes []*Node) []string {
	var out []string
	var walk func(ns []*Node, prefix string)
	walk = func(ns []*Node, prefix string) {
		for _, n := range ns {
			p := n.Name
			if prefix != "" {
				p = prefix + PathSep + n.Name
			}
			if len(n.Children) == 0 {
				out = append(out, p)
				continue
			}
			walk(n.Children, p)
		}
	}
	walk(nodes, "")
	return out
}
