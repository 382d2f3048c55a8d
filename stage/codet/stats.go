package codet

import (
	"context"
	"fmt"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
)

// Summary is what `synthloop status` shows of a codet stage.
type Summary struct {
	Problems, Established, NoTests, NoConsensus, Failed int
	// Over the problems with established tests:
	MeanPassRate, MeanTests, MeanSetSize float64
}

// Summarize reads a codet stage's records from the store.
func Summarize(ctx context.Context, st pipeline.Store, stage string) (Summary, error) {
	var s Summary
	var rate, tests, size float64
	for r, err := range st.Records(ctx, stage, "") {
		if err != nil {
			return s, err
		}
		if r.Meta["kind"] != KindProblem {
			continue
		}
		s.Problems++
		switch {
		case r.Status == record.Failed:
			s.Failed++
			continue
		case len(r.Decisions) > 0 && r.Decisions[0].Filter == "tests":
			s.NoTests++
			continue
		case len(r.Decisions) > 0 && r.Decisions[0].Filter == "consensus":
			s.NoConsensus++
			continue
		}
		s.Established++
		rate += r.Scores["pass_rate"]
		if c, ok := r.Meta["consensus"].(map[string]any); ok {
			tests += num(c["tests"])
			size += num(c["solutions"])
		}
	}
	if s.Established > 0 {
		n := float64(s.Established)
		s.MeanPassRate, s.MeanTests, s.MeanSetSize = rate/n, tests/n, size/n
	}
	return s, nil
}

func num(v any) float64 {
	switch x := v.(type) {
	case float64:
		return x
	case int:
		return float64(x)
	}
	return 0
}

// String renders the summary in one line.
func (s Summary) String() string {
	return fmt.Sprintf("problems %d: tests established %d (mean %.1f tests, consensus set of %.1f solutions, mean pass rate %.2f); no usable tests %d, no consensus %d, failed %d",
		s.Problems, s.Established, s.MeanTests, s.MeanSetSize, s.MeanPassRate, s.NoTests, s.NoConsensus, s.Failed)
}
