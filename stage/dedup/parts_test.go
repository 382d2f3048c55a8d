package dedup

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/internal/golden"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

// manyInputs returns n generated prompts with what every filter of the
// stage looks for: exact copies up to case and punctuation, near copies
// (a word appended or changed), emails and phone numbers, texts too short
// and texts whose words all normalise away.
func manyInputs(n int) []*record.Record {
	rng := rand.New(rand.NewPCG(11, 12))
	vocab := strings.Fields("write explain list describe a the poem story robot sea night river tree five why how " +
		"mountain winter city light paint learn friend letter song history planet")
	recs := make([]*record.Record, n)
	for i := range recs {
		var s string
		switch k := rng.IntN(20); {
		case i > 0 && k < 3:
			s = strings.ToUpper(recs[rng.IntN(i)].Instruction) + "!"
		case i > 0 && k < 7:
			w := strings.Fields(recs[rng.IntN(i)].Instruction)
			if k < 5 {
				w = append(w, vocab[rng.IntN(len(vocab))])
			} else {
				w[rng.IntN(len(w))] = vocab[rng.IntN(len(vocab))]
			}
			s = strings.Join(w, " ")
		case k == 7:
			s = fmt.Sprintf("Reply to user%d@example.com or call +1 415 555 %04d about order %d", i, i%10000, i)
		case k == 8:
			s = "?!"
		default:
			w := make([]string, 4+rng.IntN(12))
			for j := range w {
				w[j] = vocab[rng.IntN(len(vocab))]
			}
			s = strings.Join(w, " ")
		}
		recs[i] = &record.Record{ID: fmt.Sprintf("gen:%d", i), Stage: "gen", Seq: int64(i), Status: record.Kept, Instruction: s}
	}
	return recs
}

// digest is what the golden file holds of a stage's records: the hash of
// all of them, byte for byte, and one line per rejected record.
func digest(t *testing.T, st pipeline.Store, stage string) []byte {
	t.Helper()
	h := sha256.New()
	var rejected strings.Builder
	n := 0
	for r, err := range st.Records(context.Background(), stage, "") {
		if err != nil {
			t.Fatal(err)
		}
		b, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		h.Write(append(b, '\n'))
		n++
		if r.Status != record.Kept {
			fmt.Fprintf(&rejected, "%s: %s\n", r.ID, strings.Join(r.Reasons(), "; "))
		}
	}
	return fmt.Appendf(nil, "%d records, sha256 %x\n%s", n, h.Sum(nil), rejected.String())
}

// partsCases are the configurations the golden files were made with, by
// the stage as it was before it decided in parts (one unit for the whole
// input), so the tests below check that parts change no decision.
var partsCases = []struct {
	name string
	n    int
	cfg  func(*Config)
}{
	{"minhash-pii", 2000, func(c *Config) { c.PII = PIIScrub; c.MinChars = 3 }},
	{"exact-rouge", 400, func(c *Config) { c.Method = MethodExact; c.RougeL = 0.7; c.PII = PIIReject }},
}

func seedMany(t *testing.T, st pipeline.Store, recs []*record.Record) {
	t.Helper()
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "gen", Key: "seed", Records: recs}); err != nil {
		t.Fatal(err)
	}
}

func runEnv(st pipeline.Store, units int) *pipeline.Env {
	env := &pipeline.Env{Name: "clean", Input: "gen", Store: st, Clock: func() time.Time { return time.Unix(0, 0) }}
	if units > 0 {
		env.Units = pipeline.NewUnitCap(units)
	}
	return env
}

// TestPartsMatchWholeStage runs the stage in parts of several sizes, and
// stopped after some parts and resumed, against golden files made by the
// stage before it had parts.
func TestPartsMatchWholeStage(t *testing.T) {
	for _, tc := range partsCases {
		for _, chunk := range []int{DefaultChunk, 137, 1} {
			for _, stopAfter := range []int{0, 1, 3} {
				if chunk == 1 && (tc.n > 500 || stopAfter != 3) {
					continue // one record a part is slow on the in-memory store
				}
				t.Run(fmt.Sprintf("%s/chunk=%d/stop=%d", tc.name, chunk, stopAfter), func(t *testing.T) {
					cfg := DefaultConfig()
					tc.cfg(cfg)
					cfg.Chunk = chunk
					cfg.SpillDir = t.TempDir()
					s, err := New(cfg)
					if err != nil {
						t.Fatal(err)
					}
					st := pipelinetest.NewMemStore()
					seedMany(t, st, manyInputs(tc.n))
					if stopAfter > 0 {
						if err := s.Run(context.Background(), runEnv(st, stopAfter)); err != nil {
							t.Fatal(err)
						}
					}
					if err := s.Run(context.Background(), runEnv(st, 0)); err != nil {
						t.Fatal(err)
					}
					golden.File(t, filepath.Join("testdata", "parts-"+tc.name+".golden"), digest(t, st, "clean"))
				})
			}
		}
	}
}

// TestWholeUnitOfOlderBuildIsDone: a stage that an older build finished as
// one unit, keyed "all", is not done again in parts.
func TestWholeUnitOfOlderBuildIsDone(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seedMany(t, st, manyInputs(50))
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: "clean", Key: wholeKey}); err != nil {
		t.Fatal(err)
	}
	commits := st.Commits
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), runEnv(st, 0)); err != nil {
		t.Fatal(err)
	}
	if st.Commits != commits {
		t.Errorf("%d units committed, want none", st.Commits-commits)
	}
}

// TestEmptyInputIsDone: over no records the stage still commits a part,
// whose done-mark says it ran.
func TestEmptyInputIsDone(t *testing.T) {
	st := pipelinetest.NewMemStore()
	seedMany(t, st, nil)
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(context.Background(), runEnv(st, 0)); err != nil {
		t.Fatal(err)
	}
	done, err := st.DoneUnits(context.Background(), "clean")
	if err != nil || len(done) != 1 {
		t.Errorf("done units %v, %v; want one", done, err)
	}
}
