package estimate

import (
	"fmt"
	"io"
	"math"
	"strings"
	"text/tabwriter"
	"time"
	"unicode/utf8"

	"github.com/synthloop/synthloop/model"
)

// Row tallies one model's calls in one stage.
type Row struct {
	Stage, Model string
	// Calls are the stage's Generate calls; ResponseCacheHits those a
	// repeated request answers from the run's response cache.
	Calls, ResponseCacheHits int
	// Requests are those the provider would receive (n samples go as n
	// requests to providers that return one per request), Samples the
	// samples asked for.
	Requests, Samples int
	InputTokens       int
	// CachedInputTokens and CacheWriteTokens are the parts of InputTokens
	// the provider's prompt cache would serve and write.
	CachedInputTokens, CacheWriteTokens int
	// OutputTokens is the placeholder replies' length; OutputBound what
	// max_tokens allows.
	OutputTokens, OutputBound int
}

func (r *Row) add(o Row) {
	r.Calls += o.Calls
	r.ResponseCacheHits += o.ResponseCacheHits
	r.Requests += o.Requests
	r.Samples += o.Samples
	r.InputTokens += o.InputTokens
	r.CachedInputTokens += o.CachedInputTokens
	r.CacheWriteTokens += o.CacheWriteTokens
	r.OutputTokens += o.OutputTokens
	r.OutputBound += o.OutputBound
}

// Costs are a row's prices in USD.
type Costs struct {
	Standard float64 // list prices, no discounts
	Cached   float64 // with the prompt cache's reads and writes
	Batch    float64 // through the provider's batch API
	Both     float64 // batch and prompt cache
	High     float64 // standard, with every reply as long as max_tokens allows
	// Batchable reports whether the provider has a batch API at Batch's discount.
	Batchable bool
}

// Line is a row with what it costs and takes.
type Line struct {
	Row
	Tokenizer string
	Costs     Costs
	Time      time.Duration
	// PriceKnown is false when neither the table nor the config prices the model.
	PriceKnown bool
}

// Report is the estimate of a whole run.
type Report struct {
	Lines   []Line
	Total   Line
	Samples map[string][]Sample // by stage
	Stages  []string            // in run order
}

// Latency assumed per request: a fixed part plus a rate of output.
const (
	latencyBase     = time.Second
	latencyPerToken = 20 * time.Millisecond
)

// Report returns the estimate of what was recorded.
func (e *Estimator) Report() Report {
	e.mu.Lock()
	defer e.mu.Unlock()
	rep := Report{Samples: map[string][]Sample{}, Stages: append([]string(nil), e.stages...)}
	for _, st := range e.stages {
		for name := range e.infos {
			row := e.rows[rowKey{st, name}]
			if row == nil {
				continue
			}
			info := e.infos[name]
			l := Line{Row: *row, Tokenizer: e.counts[name].name, PriceKnown: info.PriceKnown}
			l.Costs = costs(info, *row)
			l.Time = duration(info, *row)
			rep.Lines = append(rep.Lines, l)
		}
		rep.Samples[st] = e.example[st]
	}
	// Lines of a stage in model-name order, for stable output.
	for i := 1; i < len(rep.Lines); i++ {
		for j := i; j > 0 && rep.Lines[j].Stage == rep.Lines[j-1].Stage && rep.Lines[j].Model < rep.Lines[j-1].Model; j-- {
			rep.Lines[j], rep.Lines[j-1] = rep.Lines[j-1], rep.Lines[j]
		}
	}
	t := &rep.Total
	t.Stage, t.PriceKnown, t.Costs.Batchable = "total", true, true
	for _, l := range rep.Lines {
		t.Row.add(l.Row)
		t.Costs.Standard += l.Costs.Standard
		t.Costs.Cached += l.Costs.Cached
		t.Costs.Batch += l.Costs.Batch
		t.Costs.Both += l.Costs.Both
		t.Costs.High += l.Costs.High
		t.Time += l.Time
		t.PriceKnown = t.PriceKnown && l.PriceKnown
		t.Costs.Batchable = t.Costs.Batchable && l.Costs.Batchable
	}
	return rep
}

func costs(info model.Info, r Row) Costs {
	p := info.Price
	u := model.Usage{PromptTokens: r.InputTokens, CompletionTokens: r.OutputTokens}
	c := Costs{Standard: p.Cost(u)}
	u.CachedPromptTokens, u.CacheWriteTokens = r.CachedInputTokens, r.CacheWriteTokens
	c.Cached = p.Cost(u)
	c.High = p.Cost(model.Usage{PromptTokens: r.InputTokens, CompletionTokens: r.OutputBound})
	c.Batch, c.Both = c.Standard, c.Cached
	if info.Provider == "openai" || info.Provider == "anthropic" {
		c.Batchable = true
		c.Batch, c.Both = c.Standard*model.Batch, c.Cached*model.Batch
	}
	if info.Free {
		c.Batchable = true // nothing to discount
	}
	return c
}

func duration(info model.Info, r Row) time.Duration {
	if r.Requests == 0 {
		return 0
	}
	perReq := latencyBase + time.Duration(r.OutputTokens/r.Requests)*latencyPerToken
	conc := max(info.MaxConcurrency, 1)
	d := time.Duration(math.Ceil(float64(r.Requests)/float64(conc))) * perReq
	if info.RPM > 0 {
		d = max(d, time.Duration(float64(r.Requests)/float64(info.RPM)*float64(time.Minute)))
	}
	if info.TPM > 0 {
		d = max(d, time.Duration(float64(r.InputTokens+r.OutputTokens)/float64(info.TPM)*float64(time.Minute)))
	}
	return d
}

// Write prints the report: a table of requests, tokens, costs and time per
// stage and model, then the sample prompts.
func (rep Report) Write(w io.Writer, showSamples bool) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "stage\tmodel\trequests\tin tok\tcached in\tout tok\tout tok max\tcost $\tcached $\tbatch $\tbatch+cached $\tmax $\ttime\ttokenizer\t")
	line := func(l Line) {
		money := func(v float64, ok bool) string {
			switch {
			case !l.PriceKnown:
				return "?"
			case !ok:
				return "n/a"
			}
			return fmt.Sprintf("%.4f", v)
		}
		c := l.Costs
		fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\t%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", l.Stage, l.Model, l.Requests, l.InputTokens,
			l.CachedInputTokens, l.OutputTokens, l.OutputBound, money(c.Standard, true), money(c.Cached, true),
			money(c.Batch, c.Batchable), money(c.Both, c.Batchable), money(c.High, true), roundDuration(l.Time), l.Tokenizer)
	}
	for _, l := range rep.Lines {
		line(l)
	}
	line(rep.Total)
	tw.Flush()
	fmt.Fprintln(w, `
Assumptions: requests are those the stages make with placeholder replies (exact for stages that
ask a fixed number per input; stages that go on until a target or retry unusable replies may need
more or fewer with a real model); "out tok" counts the placeholder replies, "max" assumes every
reply reaches max_tokens (1,024 when unset); "cached" assumes the provider keeps every prefix
for the whole run; batch prices are half the standard ones; time is each model at its
concurrency ceiling with 1 s + 20 ms per output token per request, or its rpm/tpm caps;
"?" marks a model with no known price (set price_input and price_output).`)
	if !showSamples {
		return
	}
	for _, st := range rep.Stages {
		for i, s := range rep.Samples[st] {
			fmt.Fprintf(w, "\n--- %s: request %d to %s\n", st, i+1, s.Model)
			for _, m := range s.Messages {
				fmt.Fprintf(w, "[%s]\n%s\n", m.Role, clip(m.Content, 1500))
			}
		}
	}
}

func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := strings.LastIndex(s[:n], "\n")
	if cut < n/2 {
		cut = n
		for cut > 0 && !utf8.RuneStart(s[cut]) {
			cut--
		}
	}
	return fmt.Sprintf("%s\n… (%d more bytes)", s[:cut], len(s)-cut)
}

func roundDuration(d time.Duration) string {
	switch {
	case d == 0:
		return "0s"
	case d < time.Minute:
		return d.Round(time.Second).String()
	default:
		return d.Round(time.Minute).String()
	}
}
