// Package sample is the sample stage: records drawn from declared columns (weighted categories, subcategories, numbers, personas, topic trees, cross products), deterministic from the run seed, as the attributes later stages prompt with.
package sample

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strconv"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/attrs"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// unitSize is the number of records per unit: big enough that a large
// sample is not one transaction per record, small enough that a stopped
// run loses little.
const unitSize = 100

// maxCombos bounds the combinations a cross product lists.
const maxCombos = 1_000_000

// Stage is the sample stage.
type Stage struct {
	cfg Config
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	if _, err := compile(cfg); err != nil {
		return nil, err
	}
	return &Stage{cfg: *cfg}, nil
}

// metaStore is the part of the run store that keeps a grown topic tree
// for resumes; the SQLite store and pipelinetest's both have it.
type metaStore interface {
	MetaValue(ctx context.Context, key string) (string, bool, error)
	SetMetaValue(ctx context.Context, key, val string) error
}

// Run grows the topic trees that need it (once per run), then draws the
// records in units of unitSize.
func (s *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	sp, err := compile(&s.cfg)
	if err != nil {
		return err
	}
	for _, col := range sp.columns {
		if col.Grow == nil {
			continue
		}
		if col.tree, err = s.grownTree(ctx, env, col); err != nil {
			return err
		}
		col.dist = &dist{values: Leaves(col.tree)}
	}
	if err := sp.checkGrown(); err != nil {
		return err
	}
	combos, err := sp.combos()
	if err != nil {
		return err
	}
	n := sp.cfg.Count
	if len(sp.cross) > 0 {
		n = len(combos) * max(sp.cfg.Repeat, 1)
	}
	if n > maxRecords {
		return fmt.Errorf("sample: %d records; at most %d", n, maxRecords)
	}
	seed := s.cfg.Seed
	if seed == 0 {
		seed = env.Seed
	}
	d := &drawer{spec: sp, seed: seed, stage: env.Name, combos: combos, width: len(strconv.Itoa(max(n-1, 0)))}
	d.hash = sp.hash()
	var units []pipeline.UnitSpec
	for start := 0; start < n; start += unitSize {
		// Drawing is cheap and depends on the index only: in a sharded
		// run every shard draws every unit and keeps its own records.
		units = append(units, pipeline.UnitSpec{Key: fmt.Sprintf("records-%0*d", d.width, start), Weight: min(unitSize, n-start), Partition: pipeline.ByRecord})
	}
	// The coverage report counts the records as they are drawn and reads
	// back only what earlier runs committed: reading a large sample back
	// cost as much CPU as drawing it.
	var cov *unitTally
	if env.Log != nil {
		cov = earlier(ctx, env, units)
	}
	spec := attrs.Spec{Columns: sp.names(), Kinds: sp.kinds(), Possible: sp.possible()}
	err = pipeline.RunUnits(ctx, env, units, func(ctx context.Context, k int) ([]*record.Record, pipeline.UnitUsage, error) {
		start := k * unitSize
		out := make([]*record.Record, 0, units[k].Weight)
		var t attrs.Tally
		for i := start; i < start+units[k].Weight; i++ {
			r, err := d.record(env, i)
			if err != nil {
				return nil, pipeline.UnitUsage{}, err
			}
			out = append(out, r)
			if cov != nil && env.Shard.Owns(r.ID) { // what the unit commits (pipeline.ByRecord)
				t.Add(r, spec)
			}
		}
		if cov != nil {
			cov.put(k, &t)
		}
		return out, pipeline.UnitUsage{}, nil
	})
	if err != nil {
		return err
	}
	if cov != nil {
		env.Log.Info("sample: coverage", "stage", env.Name, "report", cov.coverage().String())
	}
	return nil
}

// earlier counts the records of the units that earlier runs of the stage
// committed; nil when they cannot be read, and then there is no report.
func earlier(ctx context.Context, env *pipeline.Env, units []pipeline.UnitSpec) *unitTally {
	cov := new(unitTally)
	done, err := env.Store.DoneUnits(ctx, env.Name)
	if err != nil {
		return nil
	}
	if len(done) == 0 {
		return cov
	}
	if err := cov.readBack(ctx, env.Store, env.Name); err != nil {
		return nil
	}
	for k, u := range units {
		if done[u.Key] {
			cov.none(k)
		}
	}
	return cov
}

// grownTree returns the tree of a column with grow: the one this run
// grew before (kept in the run store), or a new one grown now in a unit of
// its own, whose calls count in the stage's usage.
func (s *Stage) grownTree(ctx context.Context, env *pipeline.Env, col *column) ([]*Node, error) {
	ms, ok := env.Store.(metaStore)
	if !ok {
		return nil, fmt.Errorf("sample: column %s: the run store cannot keep a grown topic tree", col.Name)
	}
	key := "sample/" + env.Name + "/" + col.Name + "/tree"
	read := func() ([]*Node, bool, error) {
		v, ok, err := ms.MetaValue(ctx, key)
		if err != nil || !ok {
			return nil, ok, err
		}
		var nodes []*Node
		if err := json.Unmarshal([]byte(v), &nodes); err != nil {
			return nil, true, fmt.Errorf("sample: column %s: the stored tree: %w", col.Name, err)
		}
		return nodes, true, nil
	}
	if nodes, ok, err := read(); ok || err != nil {
		return nodes, err
	}
	b, err := genkit.Open(env, "sample", s.cfg.Model)
	if err != nil {
		return nil, err
	}
	// Every shard of a sharded run needs the tree its records draw from,
	// so each grows it (the same one from a deterministic teacher).
	units := []pipeline.UnitSpec{{Key: "topic-tree-" + col.Name, Partition: pipeline.Local}}
	err = pipeline.RunUnits(ctx, env, units, func(ctx context.Context, _ int) ([]*record.Record, pipeline.UnitUsage, error) {
		var u pipeline.UnitUsage
		nodes, err := growTree(ctx, env, b, col, &u)
		if err != nil {
			return nil, u, err
		}
		doc, err := json.Marshal(nodes)
		if err != nil {
			return nil, u, err
		}
		// Kept before the unit commits: a done unit always has its tree.
		if err := ms.SetMetaValue(context.WithoutCancel(ctx), key, string(doc)); err != nil {
			return nil, u, fmt.Errorf("sample: column %s: keep the tree: %w", col.Name, err)
		}
		return nil, u, nil
	})
	if err != nil {
		return nil, err
	}
	nodes, ok, err := read()
	if err == nil && !ok {
		err = fmt.Errorf("sample: column %s: the tree's unit is done but the tree is not in the run store", col.Name)
	}
	return nodes, err
}

// checkGrown checks what depended on grown trees: the subcategories under
// them and the size of a cross product over them.
func (sp *spec) checkGrown() error {
	for _, col := range sp.order {
		if col.Kind == kindSubcategory && sp.byName[col.Parent].Grow != nil {
			if err := checkKeys(col, sp.byName[col.Parent]); err != nil {
				return err
			}
		}
	}
	return nil
}

// values lists the values a finite column can take given the values of
// the columns drawn before it.
func (c *column) values(parents map[string]any) []string {
	if c.Kind == kindSubcategory {
		if d := c.sub[fmt.Sprint(parents[c.Parent])]; d != nil {
			return d.values
		}
		return nil
	}
	vs, _ := c.valueSet()
	return vs
}

// combos lists every combination of the cross columns' values, in order,
// each value at its column's place in sp.cross.
func (sp *spec) combos() ([][]any, error) {
	if len(sp.cross) == 0 {
		return nil, nil
	}
	if n := sp.countCombos(); n > maxCombos {
		return nil, fmt.Errorf("sample: cross: more than %d combinations", maxCombos)
	}
	out := [][]any{{}}
	for k, col := range sp.cross {
		var next [][]any
		for _, c := range out {
			for _, v := range col.values(sp.assigned(c)) {
				m := make([]any, k+1, len(sp.cross))
				copy(m, c)
				m[k] = col.typed(v)
				next = append(next, m)
			}
		}
		out = next
	}
	if len(out) == 0 {
		return nil, errors.New("sample: cross: no combinations")
	}
	return out, nil
}

// assigned is a partial combination by column name.
func (sp *spec) assigned(c []any) map[string]any {
	m := make(map[string]any, len(c))
	for k, v := range c {
		m[sp.cross[k].Name] = v
	}
	return m
}

// countCombos counts the combinations without listing them, up to just
// past maxCombos: only the values of a parent of a later cross column
// branch; the others multiply.
func (sp *spec) countCombos() int {
	parent := map[string]bool{}
	for _, col := range sp.cross {
		if col.Kind == kindSubcategory {
			parent[col.Parent] = true
		}
	}
	capped := func(n int) int { return min(n, maxCombos+1) }
	var count func(k int, assign map[string]any) int
	count = func(k int, assign map[string]any) int {
		if k == len(sp.cross) {
			return 1
		}
		col := sp.cross[k]
		vals := col.values(assign)
		if !parent[col.Name] {
			rest := count(k+1, assign)
			if len(vals) > 0 && rest > maxCombos/len(vals) {
				return maxCombos + 1
			}
			return capped(len(vals) * rest)
		}
		total := 0
		for _, v := range vals {
			assign[col.Name] = col.typed(v)
			total = capped(total + count(k+1, assign))
		}
		delete(assign, col.Name)
		return total
	}
	return count(0, map[string]any{})
}

// typed is a crossed value as the column stores it: an int column's values
// are numbers.
func (c *column) typed(v string) any {
	if c.Kind == kindInt {
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	return v
}

// total is the number of records, when it is known before the run.
func (sp *spec) total() (int, bool) {
	if len(sp.cross) == 0 {
		return sp.cfg.Count, true
	}
	for _, col := range sp.cross {
		if col.Grow != nil || (col.Kind == kindSubcategory && sp.byName[col.Parent].Grow != nil) {
			return 0, false
		}
	}
	n := sp.countCombos()
	if n > maxCombos || n > maxRecords/max(sp.cfg.Repeat, 1) {
		return maxRecords + 1, true
	}
	return n * max(sp.cfg.Repeat, 1), true
}

// hash identifies what the records were drawn from: the settings and the
// grown trees.
func (sp *spec) hash() string {
	h := sha256.New()
	json.NewEncoder(h).Encode(sp.cfg)
	for _, col := range sp.columns {
		if col.Grow != nil {
			json.NewEncoder(h).Encode(col.tree)
		}
		if col.Kind == kindPersona && col.dist != nil {
			json.NewEncoder(h).Encode(col.dist.values)
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

// drawer makes the records of one run of the stage.
type drawer struct {
	spec   *spec
	seed   int64
	stage  string
	combos [][]any
	width  int // digits of the record index in ids
	hash   string
}

// rand is the randomness of column col in record i: it depends on the
// seed, the stage, the column and i only, so a resumed run draws record i
// as the first run did however many records that run finished.
func (d *drawer) rand(col string, i int) *rand.Rand {
	sum := sha256.Sum256(fmt.Appendf(nil, "sample\x00%d\x00%s\x00%s\x00%d", d.seed, d.stage, col, i))
	return rand.New(rand.NewPCG(binary.LittleEndian.Uint64(sum[:8]), binary.LittleEndian.Uint64(sum[8:16])))
}

// draw returns the values of record i, by column name.
func (d *drawer) draw(i int) (map[string]any, error) {
	vals := map[string]any{}
	if d.combos != nil {
		for k, v := range d.combos[i/max(d.spec.cfg.Repeat, 1)] {
			vals[d.spec.cross[k].Name] = v
		}
	}
	for _, col := range d.spec.order {
		if _, crossed := vals[col.Name]; crossed {
			continue
		}
		r := d.rand(col.Name, i)
		switch col.Kind {
		case kindCategory, kindPersona, kindTopic:
			vals[col.Name] = col.dist.pick(r.Float64())
		case kindSubcategory:
			pv := fmt.Sprint(vals[col.Parent])
			sub := col.sub[pv]
			if sub == nil {
				return nil, fmt.Errorf("sample: column %s: no values for %s %q", col.Name, col.Parent, pv)
			}
			vals[col.Name] = sub.pick(r.Float64())
		case kindInt:
			vals[col.Name] = col.intLo + r.Int64N(col.intHi-col.intLo+1)
		case kindUniform:
			vals[col.Name] = col.rounded(*col.Min + (*col.Max-*col.Min)*r.Float64())
		case kindNormal:
			v := *col.Mean + *col.Std*r.NormFloat64()
			if col.Min != nil {
				v = math.Max(v, *col.Min)
			}
			if col.Max != nil {
				v = math.Min(v, *col.Max)
			}
			vals[col.Name] = col.rounded(v)
		}
	}
	return vals, nil
}

// rounded rounds v to the column's decimals: an int64 for 0 decimals.
func (c *column) rounded(v float64) any {
	switch {
	case c.digits < 0:
		return v
	case c.digits == 0:
		return int64(math.Round(v))
	}
	p := math.Pow(10, float64(c.digits))
	return math.Round(v*p) / p
}

// record is record i.
func (d *drawer) record(env *pipeline.Env, i int) (*record.Record, error) {
	vals, err := d.draw(i)
	if err != nil {
		return nil, err
	}
	r := &record.Record{
		ID:     fmt.Sprintf("%s:%0*d", env.Name, d.width, i),
		Seq:    int64(i + 1),
		Status: record.Kept,
		Meta:   map[string]any{},
	}
	for _, col := range d.spec.columns {
		setField(r, col.Name, vals[col.Name])
	}
	r.Prov = env.Provenance("sample", pipeline.ModelInfo{})
	r.Prov.TemplateHash = d.hash
	r.Prov.Params = map[string]any{"columns": d.spec.names(), "kinds": d.spec.kinds(), "possible": d.spec.possible(), "index": i}
	return r, nil
}

func (sp *spec) names() []string {
	out := make([]string, len(sp.columns))
	for i, c := range sp.columns {
		out[i] = c.Name
	}
	return out
}

// possible counts the values of each column that has a list of them.
func (sp *spec) possible() map[string]int {
	out := map[string]int{}
	for _, c := range sp.columns {
		if vs, ok := c.valueSet(); ok && c.Kind != kindInt {
			out[c.Name] = len(vs)
		}
	}
	return out
}

func (sp *spec) kinds() map[string]string {
	out := make(map[string]string, len(sp.columns))
	for _, c := range sp.columns {
		out[c.Name] = c.Kind
	}
	return out
}

// setField stores v: a record field (record.TextFields) takes it as text,
// a column of another name is a meta field.
func setField(r *record.Record, name string, v any) {
	if slices.Contains(record.TextFields, name) {
		r.SetText(name, fmt.Sprint(v))
		return
	}
	r.Meta[name] = v
}

var _ pipeline.Stage = (*Stage)(nil)

// DeclaredFields lists the fields of the records a sample stage makes: its
// columns and id. The input's fields do not carry over: the records are new.
func (c *Config) DeclaredFields([]string, bool) ([]string, bool) {
	sp, err := compile(c)
	if err != nil {
		return nil, false
	}
	out := append(sp.names(), "id")
	slices.Sort(out)
	return out, true
}

var _ pipeline.FieldDeclarer = (*Config)(nil)
