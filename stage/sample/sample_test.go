package sample

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/goccy/go-yaml"

	"github.com/synthloop/synthloop/internal/golden"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

// parse decodes a with: block written in YAML, as the config loader does.
func parse(t testing.TB, with string) *Config {
	t.Helper()
	c := DefaultConfig()
	if err := yaml.Unmarshal([]byte(with), c); err != nil {
		t.Fatalf("%v\n%s", err, with)
	}
	return c
}

const mixed = `
count: 250
columns:
  - name: topic
    kind: category
    values: {cooking: 2, travel: 1, money: 1}
  - name: subtopic
    kind: subcategory
    parent: topic
    values:
      cooking: [baking, knife skills]
      travel: {packing: 1, trains: 3}
      money: [budgets]
  - name: difficulty
    kind: int
    min: 1
    max: 5
  - name: temperature
    kind: uniform
    min: 0.2
    max: 1.0
    round: 2
  - name: words
    kind: normal
    mean: 120
    std: 30
    min: 40
    round: 0
  - name: persona
    kind: persona
    language: ja
  - name: area
    kind: topic
    tree:
      science:
        - physics
        - chemistry: [organic, inorganic]
      history: [ancient, modern]
  - name: instruction
    kind: category
    values: [Write a recipe., Plan a trip.]
`

// runStage runs cfg as stage "attrs" on st and returns its records.
func runStage(t *testing.T, st *pipelinetest.MemStore, cfg *Config, env func(*pipeline.Env)) ([]*record.Record, error) {
	t.Helper()
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e := &pipeline.Env{Name: "attrs", Store: st, Seed: 7, Concurrency: 2, Clock: stagetest.Clock}
	if env != nil {
		env(e)
	}
	err = s.Run(context.Background(), e)
	return st.All("attrs"), err
}

// TestDraw: every column's values are of its kind, within its bounds, and
// a subcategory's value belongs to its parent's.
func TestDraw(t *testing.T) {
	recs, err := runStage(t, pipelinetest.NewMemStore(), parse(t, mixed), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 250 || recs[0].ID != "attrs:000" || recs[249].ID != "attrs:249" {
		t.Fatalf("%d records, first %s", len(recs), recs[0].ID)
	}
	subs := map[string][]string{"cooking": {"baking", "knife skills"}, "travel": {"packing", "trains"}, "money": {"budgets"}}
	areas := "science > physics|science > chemistry > organic|science > chemistry > inorganic|history > ancient|history > modern"
	for _, r := range recs {
		m := r.Meta
		topic, _ := m["topic"].(string)
		d, _ := m["difficulty"].(float64)
		temp, _ := m["temperature"].(float64)
		words, _ := m["words"].(float64)
		switch {
		case subs[topic] == nil || !contains(subs[topic], m["subtopic"]):
			t.Errorf("%s: topic %v subtopic %v", r.ID, m["topic"], m["subtopic"])
		case d < 1 || d > 5 || d != float64(int(d)):
			t.Errorf("%s: difficulty %v", r.ID, m["difficulty"])
		case temp < 0.2 || temp > 1 || len(fmt.Sprint(temp)) > 4:
			t.Errorf("%s: temperature %v", r.ID, m["temperature"])
		case words < 40 || words != float64(int(words)):
			t.Errorf("%s: words %v", r.ID, m["words"])
		case !strings.Contains("|"+areas+"|", "|"+fmt.Sprint(m["area"])+"|"):
			t.Errorf("%s: area %v", r.ID, m["area"])
		case m["persona"] == nil || r.Instruction == "" || m["instruction"] != nil:
			t.Errorf("%s: persona %v instruction %q", r.ID, m["persona"], r.Instruction)
		case r.Status != record.Kept || r.Prov.Generator != "sample" || len(r.Prov.TemplateHash) != 64:
			t.Errorf("%s: %s %+v", r.ID, r.Status, r.Prov)
		}
	}
	// Weights show: cooking (2 of 4) is drawn about twice as often as money.
	n := map[string]int{}
	for _, r := range recs {
		n[r.Meta["topic"].(string)]++
		n[r.Meta["subtopic"].(string)]++
	}
	if n["cooking"] < 95 || n["cooking"] > 155 || n["trains"] < 2*n["packing"] {
		t.Errorf("weights not followed: %v", n)
	}
}

func contains(xs []string, v any) bool {
	for _, x := range xs {
		if x == v {
			return true
		}
	}
	return false
}

// TestCross: every combination of the cross columns, repeat times, in
// order; the other columns are drawn per record.
func TestCross(t *testing.T) {
	cfg := parse(t, `
cross: [level, topic, sub]
repeat: 2
columns:
  - {name: topic, kind: category, values: [a, b]}
  - {name: sub, kind: subcategory, parent: topic, values: {a: [a1, a2], b: [b1]}}
  - {name: level, kind: int, min: 1, max: 2}
  - {name: mood, kind: category, values: [calm, loud]}
`)
	recs, err := runStage(t, pipelinetest.NewMemStore(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range recs {
		got = append(got, fmt.Sprintf("%v/%v/%v", r.Meta["topic"], r.Meta["sub"], r.Meta["level"]))
	}
	// The first cross column varies slowest.
	want := "a/a1/1 a/a1/1 a/a2/1 a/a2/1 b/b1/1 b/b1/1 a/a1/2 a/a1/2 a/a2/2 a/a2/2 b/b1/2 b/b1/2"
	if strings.Join(got, " ") != want {
		t.Errorf("combinations\n got %s\nwant %s", strings.Join(got, " "), want)
	}
	for _, r := range recs {
		if r.Meta["mood"] != "calm" && r.Meta["mood"] != "loud" {
			t.Errorf("%s: mood %v", r.ID, r.Meta["mood"])
		}
	}
}

// killingStore cancels the run after a number of commits, as a kill would
// stop it between units.
type killingStore struct {
	*pipelinetest.MemStore
	left   atomic.Int32
	cancel context.CancelFunc
}

func (k *killingStore) Commit(ctx context.Context, u pipeline.Unit) error {
	if k.left.Add(-1) < 0 {
		k.cancel()
		return context.Canceled
	}
	return k.MemStore.Commit(ctx, u)
}

// TestResume: a run stopped after two of its five units and run again
// ends with the records of a run that was never stopped, byte for byte;
// record i depends on neither the order nor the number of units before it.
func TestResume(t *testing.T) {
	cfg := parse(t, mixed)
	cfg.Count = 450
	whole, err := runStage(t, pipelinetest.NewMemStore(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	mem := pipelinetest.NewMemStore()
	ctx, cancel := context.WithCancel(context.Background())
	ks := &killingStore{MemStore: mem, cancel: cancel}
	ks.left.Store(2)
	s, _ := New(cfg)
	err = s.Run(ctx, &pipeline.Env{Name: "attrs", Store: ks, Seed: 7, Concurrency: 1, Clock: stagetest.Clock})
	if err == nil {
		t.Fatal("the killed run did not stop")
	}
	if n := len(mem.All("attrs")); n != 200 {
		t.Fatalf("the killed run kept %d records, want 200", n)
	}
	resumed, err := runStage(t, mem, cfg, func(e *pipeline.Env) { e.Concurrency = 4 })
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(whole)
	b, _ := json.Marshal(resumed)
	if string(a) != string(b) {
		t.Error("the resumed run's records differ from the whole run's")
	}
	// Another seed draws other records.
	other, _ := runStage(t, pipelinetest.NewMemStore(), cfg, func(e *pipeline.Env) { e.Seed = 8 })
	c, _ := json.Marshal(other)
	if string(a) == string(c) {
		t.Error("seed 8 drew the records of seed 7")
	}
}

// TestGolden pins the records a fixed config draws: a change to the drawing
// changes every sampled data set, so it must be deliberate (-update).
func TestGolden(t *testing.T) {
	cfg := parse(t, mixed)
	cfg.Count = 12
	st := pipelinetest.NewMemStore()
	recs, err := runStage(t, st, cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, r := range recs {
		m := r.Meta
		fmt.Fprintf(&b, "%s\t%v\t%v\t%v\t%v\t%v\t%v\t%v\t%s\n", r.ID, m["topic"], m["subtopic"], m["difficulty"], m["temperature"],
			m["words"], m["persona"], m["area"], r.Instruction)
	}
	golden.File(t, "testdata/records.golden", []byte(b.String()))
	cov, err := Summarize(context.Background(), st, "attrs")
	if err != nil {
		t.Fatal(err)
	}
	golden.File(t, "testdata/coverage.golden", []byte(cov.String()))
}

// BenchmarkDraw measures drawing one record of the mixed config (eight
// columns: categories, a subcategory, numbers, a persona, a topic path).
func BenchmarkDraw(b *testing.B) {
	sp, err := compile(parse(b, mixed))
	if err != nil {
		b.Fatal(err)
	}
	d := &drawer{spec: sp, seed: 7, stage: "attrs"}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if _, err := d.draw(i); err != nil {
			b.Fatal(err)
		}
	}
}
