package all_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/export"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/preference"
	"github.com/synthloop/synthloop/stage/problems"
	"github.com/synthloop/synthloop/stage/reasoning"
	"github.com/synthloop/synthloop/store"
)

// runAndKeep runs the pipeline example f with every model served at url,
// and returns the open store for the test to read and export.
func runAndKeep(t *testing.T, f, url string) *store.Store {
	t.Helper()
	cfg, err := pipeline.LoadConfig(f)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	err = pipeline.Run(context.Background(), cfg, pipeline.Options{Store: st, Cache: st,
		OpenModel: func(ctx context.Context, name string, mc model.Config, mo model.Options) (model.Backend, model.Info, error) {
			return model.Open(ctx, name, model.Config{Ref: "openai-compatible/" + name, BaseURL: url}, mo)
		}})
	if err != nil {
		t.Fatalf("%s: %v", f, err)
	}
	return st
}

// TestProblemsExampleRuns runs examples/problems.yaml against the scripted
// teacher: problems are invented from the seeds, some rejected as
// near-copies, their answers established by vote, and the kept ones
// export as RLVR prompts.
func TestProblemsExampleRuns(t *testing.T) {
	t.Chdir("..")
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	st := runAndKeep(t, "examples/problems.yaml", srv.URL)
	stats, err := st.Stats(context.Background())
	if err != nil || len(stats) != 3 {
		t.Fatalf("stats %+v, %v", stats, err)
	}
	inv, rl := stats[1], stats[2]
	t.Logf("invented %+v\nrl %+v", inv, rl)
	if inv.Kept != 30 || inv.Rejected == 0 {
		t.Errorf("invented: %+v; want 30 kept and some rejected (near-copies of seeds, too short)", inv)
	}
	if rl.Kept == 0 || rl.Rejected == 0 {
		t.Errorf("rl: %+v; want some problems kept (0 < pass < 1) and some rejected", rl)
	}
	var buf bytes.Buffer
	c, err := export.WriteTo(context.Background(), st, export.Options{Format: "trl-grpo"}, &buf)
	if err != nil || c.Written == 0 {
		t.Fatalf("trl-grpo export: %+v, %v", c, err)
	}
	for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
		var row struct {
			Prompt   []map[string]string `json:"prompt"`
			Solution string              `json:"solution"`
			PassRate *float64            `json:"pass_rate"`
		}
		if err := json.Unmarshal([]byte(line), &row); err != nil || len(row.Prompt) != 1 || row.Solution == "" || row.PassRate == nil || *row.PassRate <= 0 || *row.PassRate >= 1 {
			t.Fatalf("row %s: %+v, %v", line, row, err)
		}
	}
	if c, err := export.Write(context.Background(), st, export.Options{Format: "verl"}, t.TempDir()+"/rl.parquet"); err != nil || c.Written == 0 {
		t.Errorf("verl export: %+v, %v", c, err)
	}
}

// TestPreferencePoolExampleRuns runs examples/preference-pool.yaml against
// the scripted pool (personalities by model name) and judges: the large
// model wins most pairs and the small one loses most, some prompts tie,
// and the pairs export as DPO rows.
func TestPreferencePoolExampleRuns(t *testing.T) {
	t.Chdir("..")
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	st := runAndKeep(t, "examples/preference-pool.yaml", srv.URL)
	sum, err := preference.Summarize(context.Background(), st, "prefs")
	if err != nil {
		t.Fatal(err)
	}
	t.Log(sum)
	if sum.Prompts < 20 || sum.Pairs == 0 || sum.Failed != 0 || len(sum.Models) != 3 {
		t.Fatalf("summary %+v", sum)
	}
	large, small := sum.Models[0], sum.Models[2]
	if large.Model != "large" || small.Model != "small" || large.Chosen <= small.Chosen || small.Rejected <= large.Rejected || large.Mean <= small.Mean {
		t.Errorf("large %+v, small %+v; want the large model to win more and rate higher", large, small)
	}
	var buf bytes.Buffer
	c, err := export.WriteTo(context.Background(), st, export.Options{Format: "dpo"}, &buf)
	if err != nil || c.Written != sum.Pairs {
		t.Fatalf("dpo export: %+v, %v; want %d rows", c, err, sum.Pairs)
	}
	var row map[string]any
	line, _, _ := strings.Cut(buf.String(), "\n")
	if err := json.Unmarshal([]byte(line), &row); err != nil || row["chosen"] == nil || row["rejected"] == nil || row["prompt"] == nil {
		t.Errorf("dpo row %s: %v", line, err)
	}
}

// checkSeedProblems reads a seed file of the problems examples with the
// stage's own parser.
func checkSeedProblems(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	recs, err := problems.ParseSeeds(f)
	if err == nil && len(recs) == 0 {
		err = errors.New("no seed problems")
	}
	return err
}

// TestProblemsCodeExampleRuns runs examples/problems-code.yaml against the
// scripted teacher, whose solutions and tests are each wrong now and then,
// with the solutions run by the machine's python3, and exports the
// established problems for verl.
func TestProblemsCodeExampleRuns(t *testing.T) {
	if err := exec.Command("/usr/bin/env", "PATH=/usr/local/bin:/usr/bin:/bin", "python3", "-c", "pass").Run(); err != nil {
		t.Fatalf("no python3 on the sandbox's PATH (scripts/test.sh installs Debian's python3-minimal): %v", err)
	}
	t.Chdir("..")
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	st := runAndKeep(t, "examples/problems-code.yaml", srv.URL)
	stats, err := st.Stats(context.Background())
	if err != nil || len(stats) != 2 {
		t.Fatalf("stats %+v, %v", stats, err)
	}
	t.Logf("invented %d kept, %d rejected; established %d kept, %d rejected", stats[0].Kept, stats[0].Rejected, stats[1].Kept, stats[1].Rejected)
	if stats[0].Kept < 6 || stats[1].Kept == 0 || stats[1].Failed != 0 {
		t.Fatalf("stats %+v", stats)
	}
	var buf bytes.Buffer
	c, err := export.WriteTo(context.Background(), st, export.Options{Format: "openrlhf"}, &buf)
	if err != nil || c.Written != stats[1].Kept || !strings.Contains(buf.String(), `"kind":"command"`) || !strings.Contains(buf.String(), `assert `) {
		t.Fatalf("openrlhf export: %+v, %v\n%s", c, err, buf.String())
	}
	if c, err := export.Write(context.Background(), st, export.Options{Format: "verl"}, t.TempDir()+"/code.parquet"); err != nil || c.Written == 0 {
		t.Errorf("verl export: %+v, %v", c, err)
	}
}

// TestReasoningDiverseExampleRuns runs examples/reasoning-diverse.yaml
// against the scripted teacher: every prompt of the problems stage lists
// one sample record's attributes, every problem and trace carries them,
// and the pass rate the reasoning stage measures falls with the
// difficulty the prompt asked for (the scripted inventor writes more steps
// for harder problems, and its solver slips per step).
func TestReasoningDiverseExampleRuns(t *testing.T) {
	t.Chdir("..")
	srv := modeltest.NewServer(scripted.New(1).Responder())
	defer srv.Close()
	st := runAndKeep(t, "examples/reasoning-diverse.yaml", srv.URL)
	ctx := context.Background()
	sampled := map[string]bool{}
	for r, err := range st.Records(ctx, "attributes", record.Kept) {
		if err != nil {
			t.Fatal(err)
		}
		sampled[r.ID] = true
	}
	for _, stage := range []string{"invented", "rl"} {
		n := 0
		for r, err := range st.Records(ctx, stage, record.Kept) {
			if err != nil {
				t.Fatal(err)
			}
			from, _ := r.Meta["attributes_from"].(string)
			if !sampled[from] || r.Meta["topic"] == nil || r.Meta["difficulty"] == nil || r.Meta["persona"] == nil {
				t.Fatalf("%s: %s carries no attributes: %v", stage, r.ID, r.Meta)
			}
			n++
		}
		if n == 0 {
			t.Fatalf("%s kept nothing", stage)
		}
	}
	cov, err := problems.Coverage(ctx, st, "invented")
	if err != nil || cov.Records == 0 || len(cov.Columns) != 3 {
		t.Fatalf("coverage of the kept problems: %+v, %v", cov, err)
	}
	sum, err := reasoning.Summarize(ctx, st, "rl")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("kept problems' %s\n%s", cov, sum)
	rate := map[string]float64{}
	for _, a := range sum.ByAttribute {
		if a.Name == "difficulty" {
			for _, v := range a.Values {
				rate[v.Value] = v.MeanPassRate
			}
		}
	}
	if len(rate) != 3 || !(rate["easy"] > rate["medium"] && rate["medium"] > rate["hard"]) {
		t.Errorf("mean pass rate by difficulty %v; want easy > medium > hard", rate)
	}
	if sum.Coverage.Records != sum.Traces || sum.Traces == 0 {
		t.Errorf("coverage of %d traces, %d kept", sum.Coverage.Records, sum.Traces)
	}
}
