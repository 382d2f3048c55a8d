package evaluate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"

	"golang.org/x/sync/errgroup"

	"github.com/synthloop/synthloop/loop"
	"github.com/synthloop/synthloop/model"
)

// Decode is how the evaluated models answer; shared by both evaluators.
type Decode struct {
	// Data is the held-out JSONL file (relative to the loop config); Items
	// lists held-out items inline instead.
	Data      string `yaml:"data" doc:"Held-out JSONL file, relative to the loop config"`
	Items     []Item `yaml:"items" doc:"Held-out items inline, instead of data"`
	Limit     int    `yaml:"limit" doc:"Evaluates the first limit items only (0: all)"`
	System    string `yaml:"system" doc:"System prompt for every item without its own"`
	MaxTokens int    `yaml:"max_tokens" doc:"Bounds each answer (0: 256)"`
	// Temperature of the answers (default 0: greedy, so that a resumed
	// evaluation gets the same answers from the response cache).
	Temperature float64 `yaml:"temperature" doc:"Temperature of the answers (0: greedy, so a resume hits the cache)"`
	Concurrency int     `yaml:"concurrency" doc:"Items answered at once (0: 8)"`

	dir string
}

// SetLoop implements the loop's config hook.
func (d *Decode) SetLoop(c *loop.Config) { d.dir = c.Dir() }

func (d *Decode) validate() error {
	if (d.Data == "") == (len(d.Items) == 0) {
		return errors.New("set data (a held-out JSONL file of {\"prompt\", \"answer\"} lines) or items (a list of {prompt, answer}), one of them")
	}
	for i, it := range d.Items {
		if strings.TrimSpace(it.Prompt) == "" || it.Difficulty < 0 {
			return fmt.Errorf("items[%d]: a prompt is required and difficulty must not be negative", i)
		}
	}
	if d.Limit < 0 || d.MaxTokens < 0 || d.Concurrency < 0 || d.Temperature < 0 {
		return errors.New("limit, max_tokens, concurrency and temperature must not be negative")
	}
	return nil
}

func (d *Decode) path() string {
	if filepath.IsAbs(d.Data) || d.dir == "" {
		return d.Data
	}
	return filepath.Join(d.dir, d.Data)
}

func (d *Decode) items(needAnswer bool) ([]Item, error) {
	items := d.Items
	if d.Data != "" {
		var err error
		if items, err = ReadItems(d.path(), needAnswer); err != nil {
			return nil, err
		}
	} else if needAnswer {
		for i, it := range items {
			if it.Answer == "" {
				return nil, fmt.Errorf("evaluate: items[%d]: no answer to verify against", i)
			}
		}
	}
	if d.Limit > 0 && len(items) > d.Limit {
		items = items[:d.Limit]
	}
	return items, nil
}

// answer is one model's answer to one item.
type answer struct {
	Text string  `json:"text"`
	Err  string  `json:"error,omitempty"`
	Cost float64 `json:"-"`
}

// answerAll asks m every item. A failed request is recorded on its answer;
// only a stop (cancelled ctx, budget spent) or a failure of every request is
// an error.
func (d *Decode) answerAll(ctx context.Context, r *loop.Round, m loop.Model, items []Item, who string) ([]answer, error) {
	b, _, err := r.Open(ctx, m)
	if err != nil {
		return nil, err
	}
	out := make([]answer, len(items))
	maxTok := d.MaxTokens
	if maxTok == 0 {
		maxTok = 256
	}
	temp := d.Temperature
	conc := d.Concurrency
	if conc == 0 {
		conc = 8
	}
	var done, failed atomic.Int64
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(conc)
	for i, it := range items {
		g.Go(func() error {
			var msgs []model.Message
			sys := it.System
			if sys == "" {
				sys = d.System
			}
			if sys != "" {
				msgs = append(msgs, model.Message{Role: "system", Content: sys})
			}
			msgs = append(msgs, model.Message{Role: "user", Content: it.Prompt})
			req := model.Request{Messages: msgs, Temperature: &temp, MaxTokens: maxTok}
			if temp > 0 {
				seed := r.Seed + int64(i)
				req.Seed = &seed
			}
			resp, err := b.Generate(gctx, req)
			switch {
			case err != nil && (gctx.Err() != nil || errors.Is(err, model.ErrBudgetExceeded)):
				return err
			case err != nil:
				out[i].Err = err.Error()
				failed.Add(1)
			case len(resp.Choices) == 0:
				out[i].Err = "no choices in the reply"
				out[i].Cost = resp.CostUSD
				failed.Add(1)
			default:
				out[i] = answer{Text: resp.Choices[0].Text, Cost: resp.CostUSD}
			}
			r.Progress(int(done.Add(1)), len(items), who)
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	if int(failed.Load()) == len(items) {
		return nil, fmt.Errorf("evaluate: every request to %s failed, e.g.: %s", m.Ref(), out[0].Err)
	}
	return out, nil
}

// writeJSONL writes rows to path, one JSON object per line, atomically
// enough for a report: a partial file is replaced on the next run.
func writeJSONL(path string, rows []any) error {
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("evaluate: %w", err)
	}
	enc := json.NewEncoder(f)
	for _, row := range rows {
		if err := enc.Encode(row); err != nil {
			f.Close()
			return fmt.Errorf("evaluate: %s: %w", path, err)
		}
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("evaluate: %s: %w", path, err)
	}
	return nil
}
