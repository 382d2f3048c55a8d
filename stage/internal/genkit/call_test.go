package genkit

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
)

// replies answers the i-th request with the i-th choice; a nil choice is a
// response without choices.
type replies []*model.Choice

func (r *replies) Generate(_ context.Context, req model.Request) (*model.Response, error) {
	c := (*r)[0]
	*r = (*r)[1:]
	if c == nil {
		return &model.Response{Model: "m"}, nil
	}
	return &model.Response{Choices: []model.Choice{*c}, Model: "m"}, nil
}

func TestAskDo(t *testing.T) {
	num := func(s string) *model.Choice { return &model.Choice{Text: s} }
	for _, tc := range []struct {
		name    string
		replies replies
		retries int
		want    int
		err     string // "" means no error
		errors  int    // u.Errors
	}{
		{"first parses", replies{num("7")}, 1, 7, "", 0},
		{"restated", replies{num("x"), num("8")}, 1, 8, "", 1},
		{"retries spent", replies{num("x"), num("y")}, 1, 0, "the number is not the JSON asked for: ", 2},
		{"no retries", replies{num("x")}, -1, 0, "the number is not the JSON asked for: ", 1},
		{"empty is not restated", replies{num(" ")}, 3, 0, "the number is not the JSON asked for: ", 1},
		{"no choices", replies{nil}, 3, 0, "the number is not the JSON asked for: ", 1},
		{"cut", replies{{Text: "12", FinishReason: model.FinishLength}}, 3, 0, "the reply was cut at max_tokens 5", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := Ask[int]{
				Request: model.Request{Messages: []model.Message{{Role: "user", Content: "a number?"}}, MaxTokens: 5},
				Parse: func(s string) (int, error) {
					if s == "12" {
						return 0, errors.New("too long")
					}
					return strconv.Atoi(s)
				},
				Retries: tc.retries,
				Restate: func(problem string) string { return "again: " + problem },
				What:    "number",
			}
			var u pipeline.UnitUsage
			got, err := a.Do(context.Background(), Backend{Gen: &tc.replies, Name: "m"}, &u)
			switch {
			case tc.err == "" && err != nil, tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("Do error = %v, want %q", err, tc.err)
			case tc.err != "" && !errors.Is(err, ErrUnparsed):
				t.Errorf("Do error %v is not ErrUnparsed", err)
			}
			if got.Value != tc.want || u.Errors != tc.errors || len(got.Keys) != u.Requests || got.Model != "m" {
				t.Errorf("Do = %+v, usage %+v; want value %d, %d errors, a key per request", got, u, tc.want, tc.errors)
			}
			if len(tc.replies) != 0 {
				t.Errorf("%d replies left unasked", len(tc.replies))
			}
		})
	}
}
