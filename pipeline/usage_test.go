package pipeline

import (
	"errors"
	"testing"

	"github.com/synthloop/synthloop/model"
)

func TestUnitUsageCount(t *testing.T) {
	var u UnitUsage
	u.Count(&model.Response{Usage: model.Usage{PromptTokens: 3, CompletionTokens: 4}, CostUSD: 0.5}, nil)
	u.Count(&model.Response{Cached: true, Usage: model.Usage{PromptTokens: 1}}, nil)
	u.Count(nil, errors.New("503"))
	want := UnitUsage{Requests: 3, CachedRequests: 1, PromptTokens: 4, CompletionTokens: 4, CostUSD: 0.5}
	if u != want {
		t.Fatalf("got %+v, want %+v", u, want)
	}
	u.Add(UnitUsage{Requests: 1, Errors: 2})
	if u.Requests != 4 || u.Errors != 2 {
		t.Fatalf("Add: %+v", u)
	}
}
