package preference

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/judge"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

func config() *Config {
	c := DefaultConfig()
	c.Pool = []string{"large", "medium", "small"}
	c.Config.Model = "judge"
	return c
}

func stage(t *testing.T, c *Config) *Stage {
	t.Helper()
	s, err := New(c)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func rated(model string, overall float64) *answer {
	a := &answer{model: model, text: "answer of " + model, ratings: map[string]float64{}}
	for _, asp := range DefaultAspects {
		a.ratings[asp.Name] = overall
	}
	return a
}

func TestPair(t *testing.T) {
	env := &pipeline.Env{Name: "prefs", Clock: time.Now}
	in := &record.Record{ID: "p1", Instruction: "Do it."}
	for _, tc := range []struct {
		name     string
		rejected string
		margin   float64
		answers  []*answer
		draw     float64
		status   record.Status
		chosen   string
		rej      string
	}{
		{"random of the lower", RejectRandom, 0.5, []*answer{rated("a", 3), rated("b", 5), rated("c", 2)}, 0.9, record.Kept, "b", "c"},
		{"random draws the first", RejectRandom, 0.5, []*answer{rated("a", 3), rated("b", 5), rated("c", 2)}, 0.1, record.Kept, "b", "a"},
		{"lowest", RejectLowest, 0.5, []*answer{rated("a", 3), rated("b", 5), rated("c", 2)}, 0.1, record.Kept, "b", "c"},
		{"margin leaves one", RejectRandom, 1.5, []*answer{rated("a", 4), rated("b", 5), rated("c", 2)}, 0.1, record.Kept, "b", "c"},
		{"tie at the top is no pair", RejectRandom, 0, []*answer{rated("a", 4), rated("b", 4)}, 0.1, record.Rejected, "", ""},
		{"within the margin", RejectRandom, 1, []*answer{rated("a", 4), rated("b", 4.5)}, 0.1, record.Rejected, "", ""},
		{"one rated", RejectRandom, 0, []*answer{rated("a", 4), {model: "b", err: "generate: boom"}}, 0.1, record.Rejected, "", ""},
		{"none rated", RejectRandom, 0, []*answer{{model: "a", err: "x"}, {model: "b", err: "y"}}, 0.1, record.Failed, "", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := config()
			c.Pool = nil
			for _, a := range tc.answers {
				c.Pool = append(c.Pool, a.model)
			}
			c.Rejected, c.MinMargin = tc.rejected, tc.margin
			r := stage(t, c).pair(env, in, "Do it.", tc.answers, tc.draw)
			if r.Status != tc.status || r.Meta["chosen_model"] != nilIfEmpty(tc.chosen) || r.Meta["rejected_model"] != nilIfEmpty(tc.rej) {
				t.Fatalf("pair = %s, chosen %v, rejected %v (%+v); want %s, %q, %q", r.Status, r.Meta["chosen_model"], r.Meta["rejected_model"], r.Decisions, tc.status, tc.chosen, tc.rej)
			}
			if tc.status == record.Kept && (r.Chosen != "answer of "+tc.chosen || r.Rejected != "answer of "+tc.rej || r.Scores["margin"] < tc.margin || len(r.Candidates) != len(tc.answers)) {
				t.Errorf("pair record %+v", r)
			}
		})
	}
}

func nilIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// pool serves every name with the scripted stand-in under that name, so
// the pool's personalities and the scripted judge apply; "broken" fails.
func pool(name string) (model.Backend, pipeline.ModelInfo, error) {
	info := pipeline.ModelInfo{Backend: "scripted", Model: name}
	if name == "broken" {
		return failing{}, info, nil
	}
	return &scripted.Backend{Seed: 1, Model: name}, info, nil
}

type failing struct{}

func (failing) Generate(context.Context, model.Request) (*model.Response, error) {
	return nil, errors.New("bad request")
}

func TestRun(t *testing.T) {
	st := pipelinetest.NewMemStore()
	var ins []*record.Record
	for i, p := range []string{"Plan a picnic for six.", "Explain how to water a fern.", "Write a note to a neighbour.", "Sort these books by size.", "Describe a morning routine.", "Summarise a meeting."} {
		ins = append(ins, &record.Record{ID: string(rune('a' + i)), Stage: "prompts", Seq: int64(i + 1), Status: record.Kept, Instruction: p})
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "prompts", Key: "k", Records: ins}); err != nil {
		t.Fatal(err)
	}
	c := config()
	c.Pool = append(c.Pool, "broken")
	c.Principles = []string{"Be brief.", "Be thorough."}
	env := &pipeline.Env{Name: "prefs", Input: "prompts", Store: st, Seed: 1, Concurrency: 2, Backend: pool,
		Clock: func() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }}
	if err := stage(t, c).Run(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	recs := st.All("prefs")
	if len(recs) != len(ins) {
		t.Fatalf("%d records", len(recs))
	}
	for _, r := range recs {
		if errs := fmt.Sprint(r.Meta["errors"]); !strings.Contains(errs, "broken:generate: bad request") || len(r.Candidates) != 4 || len(r.Prov.RequestKeys) == 0 {
			t.Fatalf("%s: errors %v, %d candidates", r.ID, r.Meta["errors"], len(r.Candidates))
		}
		if r.Status == record.Kept && (r.Chosen == r.Rejected || r.Scores["margin"] < c.MinMargin || r.Meta["chosen_principle"] == nil) {
			t.Errorf("%s: pair %+v", r.ID, r)
		}
	}
	sum, err := Summarize(context.Background(), st, "prefs")
	if err != nil || sum.Prompts != len(ins) || sum.Pairs == 0 || sum.Models[3].Rated != 0 || sum.Models[0].Chosen == 0 {
		t.Fatalf("Summarize = %+v, %v", sum, err)
	}
	if s := sum.String(); !strings.Contains(s, "large") || !strings.Contains(s, "chosen") {
		t.Errorf("String() = %q", s)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"one model", func(c *Config) { c.Pool = c.Pool[:1] }, "at least two"},
		{"twice", func(c *Config) { c.Pool = []string{"a", "a"} }, "named twice"},
		{"no judge", func(c *Config) { c.Config.Model = "" }, "judge_model or panel"},
		{"rubric", func(c *Config) { c.Rubric = judge.Rubric{Kind: judge.Scale} }, "aspects"},
		{"rejected", func(c *Config) { c.Rejected = "worst" }, `rejected "worst"`},
		{"margin", func(c *Config) { c.MinMargin = -1 }, "min_margin"},
		{"aspect", func(c *Config) { c.Aspects = []Aspect{{Name: "x"}} }, "aspects"},
	} {
		c := config()
		tc.edit(c)
		if _, err := New(c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New error %v, want %q", tc.name, err, tc.want)
		}
	}
}
