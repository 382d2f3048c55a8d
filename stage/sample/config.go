package sample

import (
	"errors"
	"fmt"
	"math"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-yaml"

	"github.com/synthloop/synthloop/internal/confkit"
	"github.com/synthloop/synthloop/stage/internal/attrs"
)

// Config is the `with:` block of a sample stage.
type Config struct {
	Count   int      `yaml:"count" doc:"Records drawn independently (leave unset with cross: combinations × repeat)"`
	Cross   []string `yaml:"cross" doc:"Columns whose every combination of values makes records, each repeat times; the other columns are drawn per record"`
	Repeat  int      `yaml:"repeat" doc:"Records per combination of the cross columns"`
	Seed    int64    `yaml:"seed" doc:"The stage's own seed (0: the run's)"`
	Model   string   `yaml:"model" doc:"Grows the topic trees that say grow: (required for them)"`
	Columns []Column `yaml:"columns" doc:"The columns; each is a field of every record: {{.name}} in a later template"`
}

// Column is one entry of columns. Which keys apply depends on kind.
type Column struct {
	Name     string    `yaml:"name" doc:"The field name: letters, digits and _"`
	Kind     string    `yaml:"kind" doc:"category, subcategory, int, uniform, normal, persona or topic"`
	Values   any       `yaml:"values" doc:"category: a list, or a mapping value: weight; subcategory: a mapping from each parent value to such a list or mapping"`
	Weights  []float64 `yaml:"weights" doc:"category: the weights of the listed values (default equal)"`
	Parent   string    `yaml:"parent" doc:"subcategory: the column whose value picks the values"`
	Min      *float64  `yaml:"min" doc:"int, uniform: the lowest value; normal: clamps below"`
	Max      *float64  `yaml:"max" doc:"int: the highest value; uniform: the bound above (not drawn, but rounding may reach it); normal: clamps above"`
	Mean     *float64  `yaml:"mean" doc:"normal: the mean"`
	Std      *float64  `yaml:"std" doc:"normal: the standard deviation"`
	Round    *int      `yaml:"round" doc:"uniform, normal: decimals to round to (0: whole numbers)"`
	Language string    `yaml:"language" doc:"persona: the built-in list, en or ja (default en)"`
	File     string    `yaml:"file" doc:"persona: one persona per line, instead of the built-in list; topic: the tree as a YAML file"`
	Builtin  bool      `yaml:"builtin" doc:"persona: with file, the built-in list too"`
	Tree     any       `yaml:"tree" doc:"topic: the tree as nested YAML mappings and lists; a value is the path root > child > leaf"`
	Grow     *Grow     `yaml:"grow" doc:"topic: the tree grown once by the model from a root, kept in the run for resumes"`
}

// Grow asks the model for a topic tree.
type Grow struct {
	Root     string `yaml:"root" doc:"The topic at the top"`
	Depth    int    `yaml:"depth" doc:"Levels below the root (1-4)"`
	Width    int    `yaml:"width" doc:"Subtopics per topic (1-50)"`
	Language string `yaml:"language" doc:"The prompt's language, en (default) or ja"`
	Retries  int    `yaml:"retries" doc:"Follow-ups for a reply that is not the list asked for"`
}

// DefaultConfig returns the defaults.
func DefaultConfig() *Config { return &Config{Repeat: 1} }

// Validate checks the settings when the config is loaded.
func (c *Config) Validate() error {
	_, err := compile(c)
	return err
}

// Kinds of column.
const (
	kindCategory    = "category"
	kindSubcategory = "subcategory"
	kindInt         = "int"
	kindUniform     = "uniform"
	kindNormal      = "normal"
	kindPersona     = "persona"
	kindTopic       = "topic"
)

var kinds = []string{kindCategory, kindSubcategory, kindInt, kindUniform, kindNormal, kindPersona, kindTopic}

// keysOf says which keys each kind takes besides name and kind.
var keysOf = map[string][]string{
	kindCategory:    {"values", "weights"},
	kindSubcategory: {"values", "parent"},
	kindInt:         {"min", "max"},
	kindUniform:     {"min", "max", "round"},
	kindNormal:      {"mean", "std", "min", "max", "round"},
	kindPersona:     {"language", "file", "builtin"},
	kindTopic:       {"tree", "file", "grow"},
}

// Limits that keep a config from asking for more than a run can hold.
const (
	maxRecords  = 10_000_000
	maxIntRange = 1_000_000 // values of an int column in a cross product
)

// dist is a weighted list of values.
type dist struct {
	values []string
	cum    []float64 // cumulative weights; nil: equal
}

func (d *dist) pick(x float64) string {
	if d.cum == nil {
		return d.values[min(int(x*float64(len(d.values))), len(d.values)-1)]
	}
	t := x * d.cum[len(d.cum)-1]
	i := sort.Search(len(d.cum), func(k int) bool { return d.cum[k] > t })
	return d.values[min(i, len(d.values)-1)]
}

// weight is value i's share of d.
func (d *dist) weight(i int) float64 {
	if d.cum == nil {
		return 1 / float64(len(d.values))
	}
	w := d.cum[i]
	if i > 0 {
		w -= d.cum[i-1]
	}
	return w / d.cum[len(d.cum)-1]
}

// column is a checked Column.
type column struct {
	Column
	dist   *dist            // category, persona, topic (once its tree is known)
	sub    map[string]*dist // subcategory: by parent value
	tree   []*Node          // topic: given, or grown at run time (nil until then)
	intLo  int64            // int
	intHi  int64
	digits int // uniform, normal: decimals, -1 for none
}

// finite reports whether the column has a list of values (crossable).
func (c *column) finite() bool { return c.Kind != kindUniform && c.Kind != kindNormal }

// numeric reports whether the column's values are numbers.
func (c *column) numeric() bool {
	return c.Kind == kindInt || c.Kind == kindUniform || c.Kind == kindNormal
}

// spec is a compiled config: the columns in the order they are drawn
// (parents before their subcategories).
type spec struct {
	cfg     Config
	columns []*column // config order
	order   []*column // draw order
	byName  map[string]*column
	cross   []*column // draw order
}

var nameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// compile checks c: every column's settings, the parents of
// subcategories (known, not a cycle) and the cross product.
func compile(c *Config) (*spec, error) {
	s := &spec{cfg: *c, byName: map[string]*column{}}
	if len(c.Columns) == 0 {
		return nil, errors.New("sample: columns: none; declare at least one")
	}
	if c.Count < 0 || c.Repeat < 0 {
		return nil, errors.New("sample: count and repeat must not be negative")
	}
	for i, cc := range c.Columns {
		where := fmt.Sprintf("sample: columns[%d]", i)
		if cc.Name != "" {
			where += " (" + cc.Name + ")"
		}
		col, err := compileColumn(cc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		if s.byName[cc.Name] != nil {
			return nil, fmt.Errorf("%s: a second column named %q", where, cc.Name)
		}
		if col.Grow != nil && c.Model == "" {
			return nil, fmt.Errorf("%s: grow: needs the stage's model setting, the model that grows the tree", where)
		}
		s.byName[cc.Name] = col
		s.columns = append(s.columns, col)
	}
	names := make([]string, len(s.columns))
	for i, col := range s.columns {
		names[i] = col.Name
	}
	for _, col := range s.columns {
		if col.Kind != kindSubcategory {
			continue
		}
		p := s.byName[col.Parent]
		switch {
		case col.Parent == col.Name:
			return nil, fmt.Errorf("sample: column %s: parent: a column cannot be its own parent", col.Name)
		case p == nil:
			return nil, fmt.Errorf("sample: column %s: parent: no column named %q%s; columns: %s", col.Name, col.Parent, confkit.Suggest(col.Parent, names), strings.Join(names, ", "))
		case !p.finite():
			return nil, fmt.Errorf("sample: column %s: parent: %s is a %s column; a parent needs a list of values", col.Name, p.Name, p.Kind)
		}
	}
	order, err := drawOrder(s.columns, s.byName)
	if err != nil {
		return nil, err
	}
	s.order = order
	for _, col := range s.order {
		if col.Kind == kindSubcategory {
			if err := checkKeys(col, s.byName[col.Parent]); err != nil {
				return nil, err
			}
		}
	}
	if err := s.compileCross(names); err != nil {
		return nil, err
	}
	switch {
	case len(s.cross) == 0 && c.Count == 0:
		return nil, errors.New("sample: count: how many records to draw (or cross: columns to combine)")
	case len(s.cross) > 0 && c.Count != 0:
		return nil, errors.New("sample: count: with cross the records are the combinations × repeat; leave count out")
	case c.Count > maxRecords:
		return nil, fmt.Errorf("sample: count: at most %d", maxRecords)
	}
	if n, known := s.total(); known && n > maxRecords {
		return nil, fmt.Errorf("sample: cross: the combinations × repeat %d make more than %d records (or %d combinations)", max(c.Repeat, 1), maxRecords, maxCombos)
	}
	return s, nil
}

// drawOrder orders the columns so each parent comes before its
// subcategories, keeping the config's order otherwise; a cycle of parents
// is an error that names it.
func drawOrder(cols []*column, byName map[string]*column) ([]*column, error) {
	var order []*column
	state := map[string]int{} // 1: on the path, 2: placed
	var visit func(c *column, path []string) error
	visit = func(c *column, path []string) error {
		switch state[c.Name] {
		case 2:
			return nil
		case 1:
			i := slices.Index(path, c.Name)
			return fmt.Errorf("sample: the parents of columns %s form a cycle", strings.Join(append(path[i:], c.Name), " → "))
		}
		state[c.Name] = 1
		if c.Kind == kindSubcategory {
			if err := visit(byName[c.Parent], append(path, c.Name)); err != nil {
				return err
			}
		}
		state[c.Name] = 2
		order = append(order, c)
		return nil
	}
	for _, c := range cols {
		if err := visit(c, nil); err != nil {
			return nil, err
		}
	}
	return order, nil
}

// checkKeys checks that a subcategory has values for every value of its
// parent and none for a value the parent cannot take. A grown topic's
// values are not known before the run: the run checks them.
func checkKeys(col, parent *column) error {
	vals, ok := parent.valueSet()
	if !ok {
		return nil
	}
	for _, v := range vals {
		if col.sub[v] == nil {
			return fmt.Errorf("sample: column %s: values: nothing for %s %q; give a list for each value of %s", col.Name, parent.Name, v, parent.Name)
		}
	}
	for _, k := range sortedKeys(col.sub) {
		if !slices.Contains(vals, k) {
			return fmt.Errorf("sample: column %s: values: %q is not a value of %s%s", col.Name, k, parent.Name, confkit.Suggest(k, vals))
		}
	}
	return nil
}

// valueSet lists every value the column can take, when that is known.
func (c *column) valueSet() ([]string, bool) {
	switch c.Kind {
	case kindSubcategory:
		var out []string
		for _, k := range sortedKeys(c.sub) {
			for _, v := range c.sub[k].values {
				if !slices.Contains(out, v) {
					out = append(out, v)
				}
			}
		}
		return out, true
	case kindInt:
		if c.intHi-c.intLo >= maxIntRange {
			return nil, false
		}
		var out []string
		for v := c.intLo; v <= c.intHi; v++ {
			out = append(out, strconv.FormatInt(v, 10))
		}
		return out, true
	case kindTopic:
		if c.dist == nil {
			return nil, false
		}
	}
	if c.dist == nil {
		return nil, false
	}
	return c.dist.values, true
}

func (s *spec) compileCross(names []string) error {
	seen := map[string]bool{}
	for _, n := range s.cfg.Cross {
		col := s.byName[n]
		switch {
		case col == nil:
			return fmt.Errorf("sample: cross: no column named %q%s; columns: %s", n, confkit.Suggest(n, names), strings.Join(names, ", "))
		case seen[n]:
			return fmt.Errorf("sample: cross: %s is listed twice", n)
		case !col.finite():
			return fmt.Errorf("sample: cross: %s is a %s column, which has no list of values to combine", n, col.Kind)
		case col.Kind == kindInt && col.intHi-col.intLo >= maxIntRange:
			return fmt.Errorf("sample: cross: %s spans more than %d values", n, maxIntRange)
		}
		seen[n] = true
	}
	// The cross list's order, but each subcategory after its parent: the
	// first column varies slowest.
	placed := map[string]bool{}
	var place func(col *column) error
	place = func(col *column) error {
		if placed[col.Name] {
			return nil
		}
		if col.Kind == kindSubcategory {
			if !seen[col.Parent] {
				return fmt.Errorf("sample: cross: %s depends on %s, which is not in cross; add %s too", col.Name, col.Parent, col.Parent)
			}
			if err := place(s.byName[col.Parent]); err != nil {
				return err
			}
		}
		placed[col.Name] = true
		s.cross = append(s.cross, col)
		return nil
	}
	for _, n := range s.cfg.Cross {
		if err := place(s.byName[n]); err != nil {
			return err
		}
	}
	return nil
}

func compileColumn(cc Column) (*column, error) {
	if !nameRe.MatchString(cc.Name) {
		return nil, fmt.Errorf("name: %q is not a field name a template can use (letters, digits and _, not first a digit)", cc.Name)
	}
	if cc.Name == "id" {
		return nil, errors.New("name: id is the record's own; pick another name")
	}
	if !slices.Contains(kinds, cc.Kind) {
		return nil, fmt.Errorf("kind: %q is not a kind%s; kinds: %s", cc.Kind, confkit.Suggest(cc.Kind, kinds), strings.Join(kinds, ", "))
	}
	set := map[string]bool{
		"values": cc.Values != nil, "weights": cc.Weights != nil, "parent": cc.Parent != "",
		"min": cc.Min != nil, "max": cc.Max != nil, "mean": cc.Mean != nil, "std": cc.Std != nil, "round": cc.Round != nil,
		"language": cc.Language != "", "file": cc.File != "", "builtin": cc.Builtin, "tree": cc.Tree != nil, "grow": cc.Grow != nil,
	}
	for _, k := range sortedKeys(set) {
		if set[k] && !slices.Contains(keysOf[cc.Kind], k) {
			return nil, fmt.Errorf("%s: does not apply to a %s column (it takes %s)", k, cc.Kind, strings.Join(keysOf[cc.Kind], ", "))
		}
	}
	col := &column{Column: cc, digits: -1}
	if cc.Round != nil {
		if *cc.Round < 0 || *cc.Round > 12 {
			return nil, errors.New("round: decimals from 0 to 12")
		}
		col.digits = *cc.Round
	}
	var err error
	switch cc.Kind {
	case kindCategory:
		col.dist, err = parseDist(cc.Values, cc.Weights)
		if err != nil {
			err = fmt.Errorf("values: %w", err)
		}
	case kindSubcategory:
		col.sub, err = parseSub(cc.Values)
		if err == nil && cc.Parent == "" {
			err = errors.New("parent: required: the column whose value picks the list")
		}
	case kindInt:
		err = col.compileInt()
	case kindUniform:
		switch {
		case cc.Min == nil || cc.Max == nil:
			err = errors.New("min and max: required")
		case !(*cc.Min < *cc.Max) || math.IsInf(*cc.Max-*cc.Min, 0):
			err = errors.New("min must be below max (and both finite)")
		}
	case kindNormal:
		switch {
		case cc.Mean == nil || cc.Std == nil:
			err = errors.New("mean and std: required")
		case math.IsNaN(*cc.Mean) || math.IsInf(*cc.Mean, 0) || !(*cc.Std > 0) || math.IsInf(*cc.Std, 0):
			err = errors.New("mean must be finite and std positive")
		case cc.Min != nil && cc.Max != nil && !(*cc.Min <= *cc.Max):
			err = errors.New("min must not be above max")
		}
	case kindPersona:
		col.dist, err = personas(cc.Language, cc.File, cc.Builtin)
	case kindTopic:
		err = col.compileTopic()
	}
	if err != nil {
		return nil, err
	}
	return col, nil
}

func (c *column) compileInt() error {
	if c.Min == nil || c.Max == nil {
		return errors.New("min and max: required")
	}
	lo, hi := *c.Min, *c.Max
	switch {
	case lo != math.Trunc(lo) || hi != math.Trunc(hi) || math.Abs(lo) > 1e15 || math.Abs(hi) > 1e15:
		return errors.New("min and max: whole numbers (at most 1e15 in size)")
	case lo > hi:
		return errors.New("min must not be above max")
	}
	c.intLo, c.intHi = int64(lo), int64(hi)
	return nil
}

func (c *column) compileTopic() error {
	n := 0
	for _, set := range []bool{c.Tree != nil, c.File != "", c.Grow != nil} {
		if set {
			n++
		}
	}
	if n != 1 {
		return errors.New("give the tree one way: tree, file or grow")
	}
	switch {
	case c.Grow != nil:
		g := c.Grow
		switch {
		case strings.TrimSpace(g.Root) == "":
			return errors.New("grow.root: required: the topic at the top")
		case g.Depth < 1 || g.Depth > 4:
			return errors.New("grow.depth: from 1 to 4")
		case g.Width < 1 || g.Width > 50:
			return errors.New("grow.width: from 1 to 50")
		case g.Retries < 0:
			return errors.New("grow.retries: not negative")
		case g.Language != "" && g.Language != "en" && g.Language != "ja":
			return fmt.Errorf("grow.language: en or ja, not %q", g.Language)
		}
		if leaves := math.Pow(float64(g.Width), float64(g.Depth)); leaves > 100_000 {
			return fmt.Errorf("grow: width %d and depth %d make %.0f topics; at most 100000", g.Width, g.Depth, leaves)
		}
		return nil
	case c.File != "":
		b, err := os.ReadFile(c.File)
		if err != nil {
			return fmt.Errorf("file: %w", err)
		}
		if c.tree, err = ParseTreeYAML(b); err != nil {
			return fmt.Errorf("file %s: %w", c.File, err)
		}
	default:
		var err error
		if c.tree, err = ParseTree(c.Tree); err != nil {
			return fmt.Errorf("tree: %w", err)
		}
	}
	c.dist = &dist{values: Leaves(c.tree)}
	return nil
}

// parseDist reads a category's values: a list of scalars (with weights
// beside it, or equal), or a mapping from value to weight.
func parseDist(v any, weights []float64) (*dist, error) {
	d := &dist{}
	var ws []float64
	switch x := v.(type) {
	case []any:
		for i, e := range x {
			s, ok := scalar(e)
			if !ok {
				return nil, fmt.Errorf("item %d: want a value (text or a number), got %s", i, describe(e))
			}
			d.values = append(d.values, s)
		}
		if weights != nil {
			if len(weights) != len(d.values) {
				return nil, fmt.Errorf("%d values but %d weights", len(d.values), len(weights))
			}
			ws = weights
		}
	case map[string]any:
		if weights != nil {
			return nil, errors.New("weights: the mapping already gives them; use one or the other")
		}
		for _, k := range sortedKeys(x) {
			w, ok := attrs.Number(x[k])
			if !ok {
				return nil, fmt.Errorf("%q: want a weight (a number), got %s", k, describe(x[k]))
			}
			d.values = append(d.values, k)
			ws = append(ws, w)
		}
	case nil:
		return nil, errors.New("required: a list of values, or a mapping value: weight")
	default:
		return nil, fmt.Errorf("want a list of values, or a mapping value: weight, got %s", describe(v))
	}
	if len(d.values) == 0 {
		return nil, errors.New("no values")
	}
	seen := map[string]bool{}
	for _, s := range d.values {
		if seen[s] {
			return nil, fmt.Errorf("%q is listed twice", s)
		}
		seen[s] = true
	}
	if ws != nil {
		total := 0.0
		for i, w := range ws {
			if !(w >= 0) || math.IsInf(w, 0) {
				return nil, fmt.Errorf("the weight of %q must be a number not below 0", d.values[i])
			}
			total += w
			d.cum = append(d.cum, total)
		}
		if !(total > 0) || math.IsInf(total, 0) {
			return nil, errors.New("the weights add up to 0 (or overflow)")
		}
	}
	return d, nil
}

// parseSub reads a subcategory's values: a mapping from each parent value
// to its list (or mapping value: weight).
func parseSub(v any) (map[string]*dist, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("values: want a mapping from each value of the parent to a list, got %s", describe(v))
	}
	out := map[string]*dist{}
	for _, k := range sortedKeys(m) {
		d, err := parseDist(m[k], nil)
		if err != nil {
			return nil, fmt.Errorf("values.%s: %w", k, err)
		}
		out[k] = d
	}
	if len(out) == 0 {
		return nil, errors.New("values: empty")
	}
	return out, nil
}

// scalar is a YAML scalar as text.
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case string:
		return x, strings.TrimSpace(x) != ""
	case bool:
		return strconv.FormatBool(x), true
	case int, int64, uint64, float64:
		return fmt.Sprint(x), true
	}
	return "", false
}

func describe(v any) string {
	switch v.(type) {
	case nil:
		return "nothing"
	case []any:
		return "a list"
	case map[string]any:
		return "a mapping"
	}
	return fmt.Sprintf("%v", v)
}

func sortedKeys[V any](m map[string]V) []string {
	ks := make([]string, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// yamlAny decodes YAML text as the config decoder would a value. A panic
// of the YAML library (seen under fuzzing) is an error: a file must never
// crash the program.
func yamlAny(b []byte) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			v, err = nil, fmt.Errorf("cannot decode this YAML (%v)", r)
		}
	}()
	if err := yaml.Unmarshal(b, &v); err != nil {
		return nil, err
	}
	return v, nil
}
