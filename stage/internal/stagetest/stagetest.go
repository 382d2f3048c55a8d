// Package stagetest holds what the stage tests share: a scripted teacher and judge on a modeltest server, a model that answers by how a request asked for structure, and an untrained built-in model.
package stagetest

import (
	"context"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	_ "github.com/synthloop/synthloop/model/openai" // the openai-compatible provider the tests open
	"github.com/synthloop/synthloop/model/scripted"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/pipeline/pipelinetest"
	"github.com/synthloop/synthloop/record"
)

// Clock is the fixed time the tests stamp records with.
func Clock() time.Time { return time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC) }

var (
	qualityRe = regexp.MustCompile(`\[q=(\d)\]`)
	plan      = regexp.MustCompile(`qualities ([0-9,]+)`)
	answerRe  = regexp.MustCompile(`(?s)<answer>\n(.*?)\n</answer>`)
	answerA   = regexp.MustCompile(`(?s)<answer_a>\n(.*?)\n</answer_a>`)
	answerB   = regexp.MustCompile(`(?s)<answer_b>\n(.*?)\n</answer_b>`)
	scaleRe   = regexp.MustCompile(`from (\d+) to (\d+)\.$`)
)

// Candidate is the scripted teacher's i-th answer to prompt, of quality q:
// the judge reads q back from the "[q=N]" mark, and better answers are
// longer, as length-hacking models' are.
func Candidate(prompt string, i, q int) string {
	first, _, _ := strings.Cut(prompt, "\n")
	return fmt.Sprintf("Answer %d to %q [q=%d]%s", i, first, q, strings.Repeat(" more", q*3))
}

// qualities is the plan for a prompt: "qualities 5,3,3,1" in the prompt, or
// 2, 5, 3, 4 cycling.
func qualities(prompt string, n int) []int {
	qs := []int{2, 5, 3, 4}
	if m := plan.FindStringSubmatch(prompt); m != nil {
		qs = nil
		for _, f := range strings.Split(m[1], ",") {
			q, _ := strconv.Atoi(f)
			qs = append(qs, q)
		}
	}
	out := make([]int, n)
	for i := range out {
		out[i] = qs[i%len(qs)]
	}
	return out
}

// Responder answers generation, judge and Self-Instruct prompts:
//   - Self-Instruct prompts go to model/scripted, so a whole pipeline runs;
//   - pointwise judge prompts get "Score: q" for an answer marked [q=N];
//     an answer marked [q=8] gets an out-of-range 8 and [q=9] a Japanese
//     reply without a score line, both on every attempt;
//   - pairwise prompts prefer the answer of higher quality, or tie;
//   - anything else is a generation request answered with Candidate.
func Responder(req *modeltest.Request) modeltest.Reply {
	first := scripted.FirstUser(req.Messages)
	var rep modeltest.Reply
	add := func(s string) { rep.Choices = append(rep.Choices, modeltest.Choice{Text: s}) }
	switch {
	case scripted.Kind(req.Messages) != scripted.KindOther:
		msgs := append([]model.Message(nil), req.Messages...)
		resp, err := (&scripted.Backend{Seed: 1}).Generate(context.Background(), model.Request{
			Messages: msgs, N: req.N, Temperature: req.Temperature, TopP: req.TopP, MaxTokens: req.MaxTokens,
			Stop: req.Stop, PresencePenalty: req.PresencePenalty,
		})
		if err != nil {
			return rep
		}
		for _, c := range resp.Choices {
			rep.Choices = append(rep.Choices, modeltest.Choice{Text: c.Text, FinishReason: c.FinishReason})
		}
	case strings.HasPrefix(first, "You are grading an answer"):
		q := quality(answerRe, first)
		marked := q != 0
		if !marked {
			q = unmarked(first)
		}
		for range req.N {
			switch {
			case marked && q == 8:
				add("Beyond excellent.\nScore: 8")
			case marked && q == 9:
				add("この回答はとても良いです。五点です。")
			default:
				add(fmt.Sprintf("The answer meets %d of the criteria.\nScore: %d", q, q))
			}
		}
	case strings.HasPrefix(first, "You are comparing two answers"):
		a, b := quality(answerA, first), quality(answerB, first)
		for range req.N {
			switch {
			case a > b:
				add("A is better.\nWinner: A")
			case b > a:
				add("B is better.\nWinner: B")
			default:
				add("They are equally good.\nWinner: tie")
			}
		}
	default:
		for i, q := range qualities(first, req.N) {
			add(Candidate(first, i, q))
		}
	}
	return rep
}

// unmarked scores an answer without a quality mark (one another stage
// wrote) by a hash of its text, within the range the prompt states.
func unmarked(prompt string) int {
	lo, hi := 0, 5
	if m := scaleRe.FindStringSubmatch(prompt); m != nil {
		lo, _ = strconv.Atoi(m[1])
		hi, _ = strconv.Atoi(m[2])
	}
	a := ""
	if m := answerRe.FindStringSubmatch(prompt); m != nil {
		a = m[1]
	}
	h := fnv.New32a()
	h.Write([]byte(a))
	return lo + int(h.Sum32()%uint32(hi-lo+1))
}

func quality(re *regexp.Regexp, prompt string) int {
	m := re.FindStringSubmatch(prompt)
	if m == nil {
		return 0
	}
	q := qualityRe.FindStringSubmatch(m[1])
	if q == nil {
		return 0
	}
	n, _ := strconv.Atoi(q[1])
	return n
}

// Server starts the scripted server for the test.
func Server(t testing.TB, opts ...modeltest.Option) *modeltest.Server {
	srv := modeltest.NewServer(Responder, opts...)
	t.Cleanup(srv.Close)
	return srv
}

// Backends opens models by name on srv, once each, caching responses in st.
func Backends(t testing.TB, srv *modeltest.Server, st *pipelinetest.MemStore) func(string) (model.Backend, pipeline.ModelInfo, error) {
	var mu sync.Mutex
	opened := map[string]model.Backend{}
	return func(name string) (model.Backend, pipeline.ModelInfo, error) {
		mu.Lock()
		defer mu.Unlock()
		info := pipeline.ModelInfo{Backend: "openai-compatible", Model: name}
		if b, ok := opened[name]; ok {
			return b, info, nil
		}
		b, _, err := model.Open(context.Background(), name, model.Config{Ref: "openai-compatible/" + name, BaseURL: srv.URL, MaxRetries: -1},
			model.Options{Cache: st, Sleep: func(context.Context, time.Duration) error { return nil }})
		if err != nil {
			return nil, info, err
		}
		opened[name] = b
		return b, info, nil
	}
}

// Env returns the environment of stage name reading from input, on Clock.
func Env(t testing.TB, srv *modeltest.Server, st *pipelinetest.MemStore, name, input string) *pipeline.Env {
	return &pipeline.Env{Name: name, Input: input, Store: st, Backend: Backends(t, srv, st), Seed: 7, Concurrency: 3, Round: 1, Clock: Clock}
}

// Seed commits kept input records with the given instructions to stage, one unit.
func Seed(t testing.TB, st *pipelinetest.MemStore, stage string, instructions ...string) []*record.Record {
	var recs []*record.Record
	for i, in := range instructions {
		recs = append(recs, &record.Record{ID: fmt.Sprintf("%s-%03d", stage, i), Stage: stage, Seq: int64(i + 1), Status: record.Kept, Instruction: in})
	}
	if err := st.Commit(context.Background(), pipeline.Unit{Stage: stage, Key: "seed", Records: recs}); err != nil {
		t.Fatal(err)
	}
	return recs
}
