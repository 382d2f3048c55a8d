package judge

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
	_ "github.com/synthloop/synthloop/model/openai"
)

var answerRe = regexp.MustCompile(`(?s)<answer>\n(.*?)\n</answer>`)
var answerARe = regexp.MustCompile(`(?s)<answer_a>\n(.*?)\n</answer_a>`)

// judgeServer scripts a judge whose behaviour the answer under test asks for:
// GOOD wins pairwise comparisons, RANGE gets an out-of-range score, JA a
// Japanese reply with no score line, ALWAYSBAD never a usable reply, BIASED
// always prefers the first answer shown; others get 3, 4, 5 over the samples.
// A follow-up after an unusable reply gets "Score: 3" (or "Winner: B").
func judgeServer(t *testing.T) *modeltest.Server {
	t.Helper()
	srv := modeltest.NewServer(func(req *modeltest.Request) modeltest.Reply {
		first := req.Messages[0].Content
		var rep modeltest.Reply
		for i := range req.N {
			rep.Choices = append(rep.Choices, modeltest.Choice{Text: judgeReply(first, req, i)})
		}
		return rep
	})
	t.Cleanup(srv.Close)
	return srv
}

func judgeReply(first string, req *modeltest.Request, i int) string {
	pairwise := strings.Contains(first, "<answer_a>")
	switch {
	case strings.Contains(first, "ALWAYSBAD"):
		return "I would rather not grade this."
	case len(req.Messages) > 1 && pairwise:
		return "Restated.\nWinner: B"
	case len(req.Messages) > 1:
		return "Restated.\n**Score:** 3"
	case strings.Contains(first, "BIASED"):
		return "The first one reads better.\nWinner: A"
	case pairwise:
		m := answerARe.FindStringSubmatch(first)
		if m == nil {
			return "no answer a"
		}
		if strings.Contains(first, "NOVERDICT") {
			return "Both are fine."
		}
		if strings.Contains(m[1], "GOOD") {
			return "A is more accurate.\nWinner: A"
		}
		return "B is more accurate.\nWinner: B"
	case strings.Contains(first, "RANGE"):
		return "Excellent beyond measure.\nScore: 7"
	case strings.Contains(first, "JA"):
		return "この回答は質問に関連しており、役に立ちます。四点です。"
	}
	return fmt.Sprintf("Relevant and mostly complete.\nScore: %d", 3+i%3)
}

func openBackend(t *testing.T, srv *modeltest.Server, name string) Backend {
	t.Helper()
	b, info, err := model.Open(context.Background(), name, model.Config{Ref: "openai-compatible/" + name, BaseURL: srv.URL, MaxRetries: 1}, model.Options{
		Sleep: func(context.Context, time.Duration) error { return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	return Backend{Backend: b, Name: name, Provider: info.Provider, Model: info.Model}
}
