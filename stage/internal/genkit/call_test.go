package genkit

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/synthloop/synthloop/internal/structured"
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

// schemaBackend refuses requests with a schema when refuse is set, and
// answers JSON to those with one, text to the others; it keeps the
// follow-up texts it was sent.
type schemaBackend struct {
	refuse    bool
	followUps []string
}

func (b *schemaBackend) Generate(_ context.Context, req model.Request) (*model.Response, error) {
	if len(req.Messages) > 1 {
		b.followUps = append(b.followUps, req.Messages[len(req.Messages)-1].Content)
	}
	text := "7"
	switch {
	case len(req.JSONSchema) > 0 && b.refuse:
		return nil, &model.HTTPError{Status: 400, Message: "response_format is not supported"}
	case len(req.JSONSchema) > 0 && len(req.Messages) == 1:
		text = `{"n":-1}`
	case len(req.JSONSchema) > 0:
		text = `{"n":8}`
	}
	return &model.Response{Choices: []model.Choice{{Text: text}}, Model: "m"}, nil
}

// TestShaped: off reads the text; native decodes the schema's JSON and
// restates with the schema's problem; a refusal falls back to the text,
// with the refused request's key kept.
func TestShaped(t *testing.T) {
	schema := structured.MustCompile(`{"type":"object","properties":{"n":{"type":"integer","minimum":0}},"required":["n"]}`, "n")
	for _, tc := range []struct {
		setting        string
		refuse         bool
		want           int
		how            structured.Mode
		keys           int
		schemaFollowUp bool
	}{
		{"off", false, 7, structured.Off, 1, false},
		{"native", false, 8, structured.Native, 2, true},
		{"auto", true, 7, structured.Off, 2, false},
	} {
		sh, err := structured.NewShaper(tc.setting, schema)
		if err != nil {
			t.Fatal(err)
		}
		b := &schemaBackend{refuse: tc.refuse}
		a := Ask[int]{
			Request: model.Request{Messages: []model.Message{{Role: "user", Content: "a number?"}}},
			Parse:   strconv.Atoi, Retries: 1, What: "number",
			Restate: func(problem string) string { return "again: " + problem },
		}
		var u pipeline.UnitUsage
		got, how, err := Shaped(context.Background(), Backend{Gen: b, Name: "m"}, &u, sh, a, func(v struct {
			N int `json:"n"`
		}) (int, error) {
			return v.N, nil
		})
		if err != nil || got.Value != tc.want || how != tc.how || len(got.Keys) != tc.keys {
			t.Errorf("%s: Shaped = %d, %q, %d keys, %v; want %d, %q, %d keys", tc.setting, got.Value, how, len(got.Keys), err, tc.want, tc.how, tc.keys)
		}
		if tc.schemaFollowUp && (len(b.followUps) != 1 || !strings.Contains(b.followUps[0], "does not validate") || !strings.Contains(b.followUps[0], "minimum")) {
			t.Errorf("%s: follow-ups %q", tc.setting, b.followUps)
		}
	}
}
