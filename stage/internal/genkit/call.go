package genkit

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
)

// ErrNoChoices is the error of a response without a choice.
var ErrNoChoices = errors.New("the model returned no choices")

// Call sends req, adding its cache keys to *keys and what it cost to u, and
// returns the first choice and the model that answered. A response without
// choices is ErrNoChoices.
func (b Backend) Call(ctx context.Context, req model.Request, keys *[]string, u *pipeline.UnitUsage) (model.Choice, string, error) {
	*keys = append(*keys, model.CacheKeys(b.Info.Backend, b.Info.Model, req)...)
	resp, err := b.Gen.Generate(ctx, req)
	u.Count(resp, err)
	if err != nil {
		return model.Choice{}, "", err
	}
	if len(resp.Choices) == 0 {
		return model.Choice{}, resp.Model, ErrNoChoices
	}
	return resp.Choices[0], resp.Model, nil
}

// ErrUnparsed marks a reply that did not parse, after the follow-ups.
var ErrUnparsed = errors.New("not the JSON asked for")

// Ask is a request whose reply must parse (as the JSON its prompt asks
// for), with the follow-ups that ask the model to restate one that does not.
type Ask[T any] struct {
	Request model.Request
	Parse   func(reply string) (T, error)
	Retries int                         // follow-ups at most; negative means none
	Restate func(problem string) string // the follow-up's text
	What    string                      // names the reply in errors ("reply")
	CutHint string                      // follows the error of a reply cut at max_tokens
}

// Asked is what an Ask got.
type Asked[T any] struct {
	Value T
	Reply string   // the last reply, for the record when it did not parse ("" after a failed call)
	Keys  []string // the request keys of every call
	Model string   // the model that answered last
}

// Failed settles err, the error of the Do that got a, for the unit's
// record: it reports whether the unit must return err (pipeline.MustReturn:
// it stops the stage, or is transient and leaves the unit for a rerun);
// otherwise, a permanent failure, it puts the last reply, if any, in meta
// and counts a failed call in u (an unparsed reply was counted when it came).
func (a Asked[T]) Failed(ctx context.Context, err error, meta map[string]any, u *pipeline.UnitUsage) (mustReturn bool) {
	if pipeline.MustReturn(ctx, err) {
		return true
	}
	if a.Reply != "" {
		meta["reply"] = a.Reply
	}
	if !errors.Is(err, ErrUnparsed) {
		u.Errors++
	}
	return false
}

// Do sends the request on b until a reply parses or the follow-ups are
// spent. Every unusable reply counts in u.Errors. A reply cut at max_tokens
// is not asked again (it would be cut at the same place), nor an empty one
// (an empty assistant turn cannot be quoted back); a response without
// choices is an empty reply. The error wraps ErrUnparsed, or is the model's.
func (a Ask[T]) Do(ctx context.Context, b Backend, u *pipeline.UnitUsage) (Asked[T], error) {
	var out Asked[T]
	req := a.Request
	retries := max(a.Retries, 0)
	for {
		choice, served, err := b.Call(ctx, req, &out.Keys, u)
		if err != nil && !errors.Is(err, ErrNoChoices) {
			out.Reply = ""
			return out, fmt.Errorf("generate: %w", err)
		}
		out.Model, out.Reply = served, choice.Text
		v, perr := a.Parse(choice.Text)
		if perr == nil {
			out.Value = v
			return out, nil
		}
		u.Errors++
		if choice.FinishReason == model.FinishLength {
			return out, fmt.Errorf("the %s is %w: the reply was cut at max_tokens %d (%v)%s", a.What, ErrUnparsed, req.MaxTokens, perr, a.CutHint)
		}
		if retries == 0 || strings.TrimSpace(choice.Text) == "" {
			return out, fmt.Errorf("the %s is %w: %v", a.What, ErrUnparsed, perr)
		}
		retries--
		req.Messages = append(append([]model.Message(nil), req.Messages...),
			model.Message{Role: "assistant", Content: choice.Text},
			model.Message{Role: "user", Content: a.Restate(perr.Error())})
	}
}

// Shaped does a through sh, the stage's structured setting: the request as
// the setting asks for it (unchanged when off), each reply read by the
// stage's text parser a.Parse or, when the schema was asked for, validated
// against it and decoded into a J that from turns into a T, and restated
// in the same terms. In auto mode a backend's refusal of the schema falls
// back to the text format. It returns how the last request asked, for
// sh.Note, with the request keys of every call, refused ones included.
func Shaped[J, T any](ctx context.Context, b Backend, u *pipeline.UnitUsage, sh *structured.Shaper, a Ask[T], from func(J) (T, error)) (Asked[T], structured.Mode, error) {
	var out Asked[T]
	var unparsed error
	how, err := sh.Do(ctx, a.Request, func(ctx context.Context, req model.Request, how structured.Mode) error {
		x := a
		x.Request, x.Parse, x.Restate = req, structured.Parser(sh, how, a.Parse, from), sh.Restate(how, a.Restate)
		got, err := x.Do(ctx, b, u)
		got.Keys = append(out.Keys, got.Keys...)
		out = got
		if errors.Is(err, ErrUnparsed) {
			// The backend took the request: that settles the gate, even if
			// this reply is unusable.
			unparsed, err = err, nil
		}
		return err
	})
	if err == nil {
		err = unparsed
	}
	return out, how, err
}
