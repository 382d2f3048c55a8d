package sample

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/stage/internal/stagetest"
)

var pathRe = regexp.MustCompile(`subtopics of the topic "([^"]+)"`)

// subtopicServer answers each request for subtopics natively with the
// last topic of its path and a number, plus a duplicate and a name with
// the path separator in it, which the stage cleans away.
func subtopicServer(t *testing.T) *modeltest.Server {
	srv := modeltest.NewServer(func(req *modeltest.Request) modeltest.Reply {
		m := pathRe.FindStringSubmatch(req.LastUser())
		if len(req.JSONSchema) == 0 || m == nil {
			return modeltest.Reply{Choices: []modeltest.Choice{{Text: "Here are some topics!"}}}
		}
		parts := strings.Split(m[1], PathSep)
		last := parts[len(parts)-1]
		return modeltest.Reply{Choices: []modeltest.Choice{{Text: fmt.Sprintf(`{"subtopics": ["%s>1", "%s>1", " %s 2 ", "%s 3"]}`, last, last, last, last)}}}
	})
	t.Cleanup(srv.Close)
	return srv
}

const grown = `
count: 40
model: teacher
columns:
  - name: area
    kind: topic
    grow: {root: Sea, depth: 2, width: 2}
`

// TestGrow: the tree is grown once, level by level, kept in the run store,
// and a rerun (a resume) reuses it without asking the model again.
func TestGrow(t *testing.T) {
	st := pipelinetest.NewMemStore()
	srv := subtopicServer(t)
	env := func(srv *modeltest.Server) func(*pipeline.Env) {
		return func(e *pipeline.Env) { e.Backend = stagetest.Backends(t, srv, st) }
	}
	recs, err := runStage(t, st, parse(t, grown), env(srv))
	if err != nil {
		t.Fatal(err)
	}
	if srv.Requests() != 3 {
		t.Errorf("%d requests, want 3 (the root, then its two subtopics)", srv.Requests())
	}
	leaves := map[string]bool{}
	for _, r := range recs {
		leaves[r.Meta["area"].(string)] = true
	}
	for l := range leaves {
		if !strings.HasPrefix(l, "Sea > Sea/1 > ") && !strings.HasPrefix(l, "Sea > Sea 2 > ") {
			t.Errorf("leaf %q", l)
		}
	}
	if len(leaves) != 4 {
		t.Errorf("%d leaves drawn from 4 in 40 records: %v", len(leaves), leaves)
	}
	tree, ok, _ := st.MetaValue(context.Background(), "sample/attrs/area/tree")
	if !ok || !strings.Contains(tree, `"Sea 2/1"`) {
		t.Errorf("the stored tree: %s", tree)
	}
	// A new stage over the same run store, with a model that would answer
	// differently: nothing is asked, the records are the same.
	st2 := st
	srv2 := modeltest.NewServer(modeltest.Echo)
	defer srv2.Close()
	again, err := runStage(t, st2, parse(t, grown), env(srv2))
	if err != nil || srv2.Requests() != 0 || len(again) != len(recs) {
		t.Errorf("rerun: %v, %d requests, %d records", err, srv2.Requests(), len(again))
	}
}

// TestGrowFails: a model that never answers with the list fails the stage
// (no record can be drawn without the tree) after the follow-ups, and the
// error says where.
func TestGrowFails(t *testing.T) {
	st := pipelinetest.NewMemStore()
	srv := modeltest.NewServer(modeltest.Texts("I like the sea."))
	defer srv.Close()
	c := parse(t, grown)
	c.Columns[0].Grow.Retries = 1
	_, err := runStage(t, st, c, func(e *pipeline.Env) { e.Backend = stagetest.Backends(t, srv, st) })
	if err == nil || !strings.Contains(err.Error(), `growing the tree under "Sea"`) || len(st.All("attrs")) != 0 {
		t.Errorf("error %v, %d records", err, len(st.All("attrs")))
	}
	if srv.Requests() != 2 {
		t.Errorf("%d requests, want 2 (one follow-up)", srv.Requests())
	}
}

// TestCoverage: the counts per value of a cross product are exact.
func TestCoverage(t *testing.T) {
	st := pipelinetest.NewMemStore()
	c := parse(t, `
cross: [lang]
repeat: 3
columns:
  - {name: lang, kind: category, values: [en, ja]}
  - {name: n, kind: int, min: 1, max: 1}
`)
	if _, err := runStage(t, st, c, nil); err != nil {
		t.Fatal(err)
	}
	cov, err := Summarize(context.Background(), st, "attrs")
	if err != nil {
		t.Fatal(err)
	}
	want := "coverage of 6 records:\n  lang  2/2 values, evenness 100%  en 3 (50%) · ja 3 (50%)\n  n     int: min 1 · mean 1 · max 1\n"
	if got := cov.String(); got != want {
		t.Errorf("coverage\n%s\nwant\n%s", got, want)
	}
}
