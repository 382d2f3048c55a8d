package store_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/store"
)

func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "run")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)

	s, err := store.Open(ctx, dir)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	// A stage commits each unit of work whole: records, usage and done-mark.
	err = s.Commit(ctx, pipeline.Unit{
		Stage: "instructions",
		Key:   "batch-000000",
		Usage: pipeline.UnitUsage{Requests: 1, PromptTokens: 812, CompletionTokens: 455},
		Records: []*record.Record{
			{ID: "instructions-0-0", Seq: 0, Status: record.Kept, Instruction: "Name three primary colors."},
			{ID: "instructions-0-1", Seq: 1, Status: record.Rejected, Instruction: "Draw a map.",
				Decisions: []record.Decision{{Filter: "blacklist", Reason: `contains "map"`}}},
		},
	})
	if err != nil {
		log.Fatal(err)
	}

	// A resumed run skips what is done.
	done, _ := s.DoneUnits(ctx, "instructions")
	fmt.Println("done:", done["batch-000000"])

	// The next stage reads the kept records in order.
	for r, err := range s.Records(ctx, "instructions", record.Kept) {
		if err != nil {
			log.Fatal(err)
		}
		fmt.Println("kept:", r.Instruction)
	}

	stats, _ := s.Stats(ctx)
	for _, st := range stats {
		fmt.Printf("%s: %d kept, %d rejected, %d prompt tokens\n", st.Stage, st.Kept, st.Rejected, st.PromptTokens)
		for _, f := range st.Rejections {
			fmt.Printf("  %s: %d (%s)\n", f.Filter, f.Count, f.Reasons[0].Kind)
		}
	}
	// Output:
	// done: true
	// kept: Name three primary colors.
	// instructions: 1 kept, 1 rejected, 812 prompt tokens
	//   blacklist: 1 (contains "map")
}
