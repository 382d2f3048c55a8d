package sample

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/synthloop/synthloop/pipeline"
	_ "github.com/synthloop/synthloop/stage/generate"
)

// TestConfigErrors: every mistake in the columns is reported when the
// config loads, naming the column and, for a misspelt name, the closest.
func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct{ with, want string }{
		{"count: 3", "columns: none"},
		{"columns: [{name: a, kind: category, values: [x]}]", "count: how many records"},
		{"count: 3\ncross: [a]\ncolumns: [{name: a, kind: category, values: [x]}]", "leave count out"},
		{"count: 3\ncolumns: [{name: a, kind: categroy, values: [x]}]", `"categroy" is not a kind (did you mean "category"?)`},
		{"count: 3\ncolumns: [{name: my-topic, kind: category, values: [x]}]", "not a field name"},
		{"count: 3\ncolumns: [{name: id, kind: category, values: [x]}]", "id is the record's own"},
		{"count: 3\ncolumns: [{name: a, kind: category, values: [x]}, {name: a, kind: category, values: [y]}]", `a second column named "a"`},
		{"count: 3\ncolumns: [{name: a, kind: category, values: [x, x]}]", `"x" is listed twice`},
		{"count: 3\ncolumns: [{name: a, kind: category, values: [x, y], weights: [1]}]", "2 values but 1 weights"},
		{"count: 3\ncolumns: [{name: a, kind: category, values: {x: 0, y: 0}}]", "add up to 0"},
		{"count: 3\ncolumns: [{name: a, kind: category, values: {x: -1, y: 2}}]", "not below 0"},
		{"count: 3\ncolumns: [{name: a, kind: category, values: [x], mean: 3}]", "mean: does not apply to a category column"},
		{"count: 3\ncolumns: [{name: a, kind: category, values: [[x]]}]", "item 0"},
		{"count: 3\ncolumns: [{name: t, kind: category, values: [x]}, {name: s, kind: subcategory, parent: topic, values: {x: [y]}}]",
			`parent: no column named "topic"`},
		{"count: 3\ncolumns: [{name: topic, kind: category, values: [x]}, {name: s, kind: subcategory, parent: topc, values: {x: [y]}}]",
			`did you mean "topic"?`},
		{"count: 3\ncolumns: [{name: a, kind: subcategory, parent: b, values: {x: [y]}}, {name: b, kind: subcategory, parent: a, values: {y: [x]}}]",
			"form a cycle"},
		{"count: 3\ncolumns: [{name: a, kind: subcategory, parent: a, values: {x: [y]}}]", "its own parent"},
		{"count: 3\ncolumns: [{name: t, kind: category, values: [x, z]}, {name: s, kind: subcategory, parent: t, values: {x: [y]}}]",
			`nothing for t "z"`},
		{"count: 3\ncolumns: [{name: t, kind: category, values: [cats]}, {name: s, kind: subcategory, parent: t, values: {cats: [y], cat: [z]}}]",
			`"cat" is not a value of t (did you mean "cats"?)`},
		{"count: 3\ncolumns: [{name: n, kind: uniform, min: 1}]", "min and max: required"},
		{"count: 3\ncolumns: [{name: n, kind: uniform, min: 2, max: 1}]", "min must be below max"},
		{"count: 3\ncolumns: [{name: n, kind: int, min: 1.5, max: 3}]", "whole numbers"},
		{"count: 3\ncolumns: [{name: n, kind: normal, mean: 1, std: 0}]", "std positive"},
		{"count: 3\ncolumns: [{name: n, kind: normal, mean: 1, std: 1, round: 13}]", "round"},
		{"count: 3\ncolumns: [{name: p, kind: persona, language: fr}]", "en or ja"},
		{"count: 3\ncolumns: [{name: p, kind: persona, file: no/such/file.txt}]", "no such file"},
		{"count: 3\ncolumns: [{name: t, kind: topic}]", "one way"},
		{"count: 3\ncolumns: [{name: t, kind: topic, tree: {a: [x, x]}}]", "twice"},
		{"count: 3\ncolumns: [{name: t, kind: topic, tree: {'a > b': [x]}}]", "joins the topics"},
		{"count: 3\ncolumns: [{name: t, kind: topic, grow: {root: r, depth: 2, width: 3}}]", "needs the stage's model"},
		{"count: 3\nmodel: teacher\ncolumns: [{name: t, kind: topic, grow: {root: r, depth: 5, width: 3}}]", "grow.depth"},
		{"cross: [x]\ncolumns: [{name: n, kind: uniform, min: 0, max: 1}]", `no column named "x"`},
		{"cross: [n]\ncolumns: [{name: n, kind: uniform, min: 0, max: 1}]", "no list of values to combine"},
		{"cross: [s]\ncolumns: [{name: t, kind: category, values: [x]}, {name: s, kind: subcategory, parent: t, values: {x: [y]}}]",
			"add t too"},
		{"cross: [a, b, c]\ncolumns: [{name: a, kind: int, min: 1, max: 999}, {name: b, kind: int, min: 1, max: 999}, {name: c, kind: int, min: 1, max: 999}]",
			"more than"},
	} {
		c := DefaultConfig()
		if err := yaml.Unmarshal([]byte(tc.with), c); err != nil {
			t.Fatalf("%s: %v", tc.with, err)
		}
		if err := c.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s\nerror %v\nwant %q", tc.with, err, tc.want)
		}
	}
}

// TestConfigLoad: a pipeline file's sample stage is checked at its
// file:line, and the generate stage after it may use its columns, with a
// did-you-mean for a misspelt one.
func TestConfigLoad(t *testing.T) {
	head := "name: p\nmodels:\n  teacher:\n    ref: openai/teacher\nstages:\n" +
		"  - name: attrs\n    type: sample\n    with:\n      count: 5\n      columns:\n" +
		"        - {name: topic, kind: category, values: [tides, rain]}\n" +
		"        - {name: level, kind: int, min: 1, max: 3}\n"
	gen := func(prompt string) string {
		return "  - name: q\n    type: generate\n    with:\n      model: teacher\n      prompt: \"" + prompt + "\"\n"
	}
	if _, err := pipeline.ParseConfig("p.yaml", []byte(head+gen("Explain {{.topic}} at level {{.level}}."))); err != nil {
		t.Errorf("the columns are not declared: %v", err)
	}
	for _, tc := range []struct{ yml, want string }{
		{head + gen("{{.topc}}"), `p.yaml:13:9: stages[1].with: the template uses field "topc", which the records of stage "attrs" do not have (did you mean "topic"?)`},
		{head + gen("{{.instruction}}"), `field "instruction"`},
		{strings.Replace(head, "kind: int", "kind: integer", 1) + gen("{{.topic}}"), `p.yaml:6:9: stages[0].with: sample: columns[1] (level): kind: "integer" is not a kind`},
	} {
		_, err := pipeline.ParseConfig("p.yaml", []byte(tc.yml))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v\nwant %q", err, tc.want)
		}
	}
}

// TestFiles: personas and topic trees from files.
func TestFiles(t *testing.T) {
	dir := t.TempDir()
	personas := filepath.Join(dir, "p.txt")
	tree := filepath.Join(dir, "t.yaml")
	os.WriteFile(personas, []byte("# ours\na pilot\n\na baker\na pilot\n"), 0o644)
	os.WriteFile(tree, []byte("- sea:\n    - tides\n    - waves: [surf, swell]\n- sky\n"), 0o644)
	c := parse(t, "count: 1\ncolumns:\n  - {name: p, kind: persona, file: "+personas+"}\n  - {name: q, kind: persona, file: "+personas+", builtin: true}\n  - {name: t, kind: topic, file: "+tree+"}\n")
	sp, err := compile(c)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(sp.byName["p"].dist.values, "|"); got != "a pilot|a baker" {
		t.Errorf("personas %q", got)
	}
	if n := len(sp.byName["q"].dist.values); n != 42 {
		t.Errorf("file and built-in: %d personas, want 42", n)
	}
	if got := strings.Join(sp.byName["t"].dist.values, "|"); got != "sea > tides|sea > waves > surf|sea > waves > swell|sky" {
		t.Errorf("tree leaves %q", got)
	}
}

// FuzzTree: no YAML crashes the tree reader, and a tree it accepts has
// distinct, non-empty paths.
func FuzzTree(f *testing.F) {
	for _, s := range []string{"a: [b, c]", "- a\n- b: {c: null}", "a:\n  b:\n    c: d", "[[a]]", "a: [~]", "{a: 1, b: true}", "'x > y'"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		nodes, err := ParseTreeYAML([]byte(doc))
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, p := range Leaves(nodes) {
			if strings.TrimSpace(p) == "" || seen[p] {
				t.Fatalf("%q: path %q", doc, p)
			}
			seen[p] = true
		}
	})
}

// FuzzConfig: no with: block crashes the column checks, and a config they
// accept draws its records.
func FuzzConfig(f *testing.F) {
	for _, s := range []string{mixed, "count: 2\ncolumns: [{name: a, kind: int, min: -3, max: 3}]",
		"cross: [a, b]\ncolumns: [{name: a, kind: category, values: {x: 1}}, {name: b, kind: subcategory, parent: a, values: {x: [y, z]}}]",
		"count: 1\ncolumns: [{name: n, kind: normal, mean: 0, std: 1e300, min: -1}]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, with string) {
		c := DefaultConfig()
		if !decodes(with, c) {
			return
		}
		for _, col := range c.Columns {
			if col.File != "" || col.Grow != nil {
				return // the fuzzer does not reach the filesystem or a model
			}
		}
		if c.Count > 50 {
			c.Count = 50
		}
		sp, err := compile(c)
		if err != nil {
			return
		}
		combos, err := sp.combos()
		if err != nil {
			return
		}
		n := c.Count
		if len(sp.cross) > 0 {
			n = min(len(combos)*max(c.Repeat, 1), 50)
		}
		d := &drawer{spec: sp, stage: "s", combos: combos}
		for i := range n {
			if _, err := d.draw(i); err != nil {
				t.Fatalf("%q: record %d: %v", with, i, err)
			}
		}
	})
}

// decodes decodes a with: block as the config loader does, which turns a
// panic of the YAML library into an error.
func decodes(with string, c *Config) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = false
		}
	}()
	return yaml.Unmarshal([]byte(with), c) == nil
}
