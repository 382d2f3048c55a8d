// Package judge scores model answers with LLM judges: rubric-based pointwise scores, pairwise comparison in both orders, and panels of judges.
package judge

import (
	"context"
	"errors"
	"fmt"

	"github.com/synthloop/synthloop/model"
)

// ErrNoScore marks a judge reply without a parsable, in-range score (or
// verdict). It is a fact about one answer, recorded on its record; the run goes on.
var ErrNoScore = errors.New("judge: no valid score in the reply")

// Item is what a judge looks at: the user's request and one answer to it.
type Item struct {
	Prompt string
	Answer string
}

// Sample is one judge reply.
type Sample struct {
	Score  float64 `json:"score"`
	Valid  bool    `json:"valid"`
	Reason string  `json:"reason,omitempty"` // the justification, or why the reply was not usable
}

// Usage is what judging cost, in the terms a stage's unit counts it (its
// Errors are replies without a valid score).
type Usage = model.Calls

// Result is a judge's verdict on one answer. When Err is set no score exists
// and Score is 0: a caller must check OK before using Score.
type Result struct {
	Score   float64  `json:"score"`
	Samples []Sample `json:"samples,omitempty"` // every reply, valid or not, in order
	Err     string   `json:"error,omitempty"`
	// Judge names the judge (its model name), or "panel".
	Judge string `json:"judge,omitempty"`
	// Members and Agreement are set for panels: each member's result, and the
	// share of members whose rounded score equals the panel's modal score.
	// Spread is the highest member score minus the lowest: how far the
	// panel disagrees, in the rubric's units (the review queue sorts by it).
	Members   []Result `json:"members,omitempty"`
	Agreement float64  `json:"agreement,omitempty"`
	Spread    float64  `json:"spread,omitempty"`
	// Structured is how the replies were asked for with the structured
	// setting on: native, prompt, or text (the backend refused the schema).
	Structured string `json:"structured,omitempty"`
	// Template is the hash of the prompt template used (and of the reply
	// schema, with the structured setting on), for provenance.
	Template string `json:"-"`
	// RequestKeys are the cache keys of the requests made, for provenance.
	RequestKeys []string `json:"-"`
	Usage       Usage    `json:"-"`
}

// OK reports whether the result holds a score.
func (r Result) OK() bool { return r.Err == "" }

// Reasons returns the justifications of the valid samples.
func (r Result) Reasons() []string {
	var out []string
	for _, s := range r.Samples {
		if s.Valid {
			out = append(out, s.Reason)
		}
	}
	return out
}

// Judge scores one answer. Implementations are safe for concurrent use and
// block until the judge has answered. A reply without a valid score is not an
// error: it is recorded in the Result (Err, Samples). The error is reserved
// for a failed model call (after the model layer's retries) or a cancelled
// ctx; the caller decides whether that stops its run.
type Judge interface {
	Score(ctx context.Context, it Item) (Result, error)
}

// Winner is a pairwise verdict.
type Winner string

const (
	WinnerA   Winner = "A"
	WinnerB   Winner = "B"
	WinnerTie Winner = "tie"
)

// Preference is the result of comparing answers A and B in both orders. A win
// counts only when both orders agree; any disagreement is a tie, which is how
// position bias is cancelled.
type Preference struct {
	Winner Winner `json:"winner"`
	// Forward is the verdict with A shown first, Backward with B shown first,
	// both expressed in terms of the original A and B; "" when no verdict.
	Forward  Winner   `json:"forward"`
	Backward Winner   `json:"backward"`
	Reasons  []string `json:"reasons,omitempty"`
	Err      string   `json:"error,omitempty"`
	// Agreement is set for panels: the share of members that gave Winner.
	Agreement float64 `json:"agreement,omitempty"`
	// Structured is as in Result.
	Structured string `json:"structured,omitempty"`

	Template    string   `json:"-"`
	RequestKeys []string `json:"-"`
	Usage       Usage    `json:"-"`
}

// OK reports whether both orders gave a verdict.
func (p Preference) OK() bool { return p.Err == "" }

// Comparer compares two answers to one prompt. Safe for concurrent use; the
// error contract is Judge's.
type Comparer interface {
	Compare(ctx context.Context, prompt, a, b string) (Preference, error)
}

// generate sends req and returns the texts of its choices; a missing choice
// is "" (and so fails to parse, which is the honest outcome).
func generate(ctx context.Context, b model.Backend, req model.Request, u *Usage) ([]string, error) {
	resp, err := b.Generate(ctx, req)
	u.Count(resp, err)
	if err != nil {
		return nil, fmt.Errorf("judge: %w", err)
	}
	return texts(resp, req.N), nil
}

// texts returns the texts of the n choices asked for; a missing choice is
// "" (and so fails to parse, which is the honest outcome).
func texts(resp *model.Response, n int) []string {
	out := make([]string, max(n, 1))
	for i, c := range resp.Choices {
		if i < len(out) {
			out[i] = c.Text
		}
	}
	return out
}
