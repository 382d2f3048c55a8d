package lab

import (
	"context"
	"fmt"
	"runtime"
	"sync"

	"github.com/synthloop/synthloop/engine/sample"
	"github.com/synthloop/synthloop/lab/task"
)

// Answer is one model answer to a problem.
type Answer struct {
	Text string `json:"text"`
	// Stopped reports that the model closed its answer with <|end|> rather
	// than running into the token limit or emitting another special token.
	Stopped bool `json:"stopped"`
}

// Decode controls answering.
type Decode struct {
	N           int     `json:"n,omitempty"` // answers per problem; 0 means 1
	Temperature float64 `json:"temperature,omitempty"`
	Seed        uint64  `json:"seed,omitempty"`
	// MaxTokens bounds each answer; 0 means the model's context. Callers
	// labelling problems set it from task.Shape.AnswerLen, never from the
	// unknown true answer.
	MaxTokens int `json:"max_tokens,omitempty"`
	// First numbers the answers from it: with First 8 and N 8, a problem's
	// answers are the ninth to the sixteenth of those N 16 would give, so
	// answers can be drawn a few at a time and stopped early.
	First int `json:"first,omitempty"`
}

// chunk is how many prompts one Generate call takes: small enough to
// notice a cancelled context and to spread over the cores, large enough to
// batch well.
const chunk = 128

// Answers returns opt.N answers to each problem, out[i][j] the j-th to
// problems[i]. Generation runs in batches spread over GOMAXPROCS
// goroutines; a problem's answers do not depend on its batch, so results
// are deterministic.
func Answers(ctx context.Context, m *Model, problems []task.Problem, opt Decode) ([][]Answer, error) {
	n := max(opt.N, 1)
	prompts := make([][]int32, len(problems))
	for i, p := range problems {
		var err error
		if prompts[i], err = m.prompt(p); err != nil {
			return nil, err
		}
	}
	out := make([][]Answer, len(problems))
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var first error
	for range min(runtime.GOMAXPROCS(0), (len(problems)+chunk-1)/chunk) {
		wg.Go(func() {
			for lo := range work {
				hi := min(lo+chunk, len(problems))
				cs, err := sample.Generate(m.LM, prompts[lo:hi], sample.Options{MaxTokens: opt.MaxTokens, Temperature: opt.Temperature,
					Seed: opt.Seed, N: n, FirstIndex: opt.First, MaxBatch: chunk * n, StopTokens: []int32{m.end}})
				if err != nil {
					mu.Lock()
					first = cmpErr(first, fmt.Errorf("lab: answer: %w", err))
					mu.Unlock()
					continue
				}
				for _, c := range cs {
					i := lo + c.Prompt
					if out[i] == nil {
						out[i] = make([]Answer, n)
					}
					out[i][c.Index] = m.answer(c.Tokens, c.Finish == "stop")
				}
			}
		})
	}
	var err error
	for lo := 0; lo < len(problems); lo += chunk {
		if err = ctx.Err(); err != nil {
			break
		}
		work <- lo
	}
	close(work)
	wg.Wait()
	if err != nil {
		return nil, err
	}
	return out, first
}

func cmpErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// answer cuts a completion at the first special token other than the
// <|end|> that stopped it (a model may emit <|eos|> or a role marker): the
// text before it is the answer, which did not end properly. So an answer is
// always plain text the tokenizer can encode again for training.
func (m *Model) answer(toks []int32, stopped bool) Answer {
	for i, t := range toks {
		if m.special[t] {
			return Answer{Text: m.decode(toks[:i])}
		}
	}
	return Answer{Text: m.decode(toks), Stopped: stopped}
}

func (m *Model) decode(toks []int32) string {
	ids := make([]int, len(toks))
	for i, t := range toks {
		ids[i] = int(t)
	}
	s, err := m.Tok.Decode(ids)
	if err != nil {
		return "" // ids come from the model's own vocabulary
	}
	return s
}
