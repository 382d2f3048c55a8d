package stagetest

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/model/modeltest"
)

// How a request asked for structure, as SchemaServer sees it.
const (
	AskedNative = "native" // the schema went with the request
	AskedPrompt = "prompt" // the schema was written into the prompt
	AskedText   = "text"   // neither: the stage's own format
)

// SchemaServer is a model for the tests of a stage's structured setting:
// it answers each request by how it asked for structure, and keeps the
// schemas sent natively. With Refuse it fails every request that carries a
// schema with HTTP 400, as a backend without structured output does.
type SchemaServer struct {
	*modeltest.Server

	mu      sync.Mutex
	asked   map[string]int
	schemas []string
}

// NewSchemaServer starts the server; reply gives the text of each choice.
func NewSchemaServer(t testing.TB, refuse bool, reply func(req *modeltest.Request, asked string) string) *SchemaServer {
	s := &SchemaServer{asked: map[string]int{}}
	s.Server = modeltest.NewServer(func(req *modeltest.Request) modeltest.Reply {
		text := reply(req, Asked(req))
		var rep modeltest.Reply
		for range max(req.N, 1) {
			rep.Choices = append(rep.Choices, modeltest.Choice{Text: text})
		}
		return rep
	}, modeltest.WithFaults(func(req *modeltest.Request) modeltest.Fault {
		how := Asked(req)
		s.mu.Lock()
		s.asked[how]++
		if how == AskedNative {
			s.schemas = append(s.schemas, string(req.JSONSchema))
		}
		s.mu.Unlock()
		if refuse && how == AskedNative {
			return modeltest.HTTPStatus(400)
		}
		return modeltest.Fault{}
	}))
	t.Cleanup(s.Close)
	return s
}

// Asked reports how req asked for structure.
func Asked(req *modeltest.Request) string {
	switch {
	case len(req.JSONSchema) > 0:
		return AskedNative
	case strings.Contains(req.LastUser(), "JSON Schema"):
		return AskedPrompt
	}
	return AskedText
}

// Count is how many requests asked as how.
func (s *SchemaServer) Count(how string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.asked[how]
}

// Schemas are the schemas sent natively, in order.
func (s *SchemaServer) Schemas() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.schemas...)
}

// Backend opens the server as the OpenAI-compatible model name, without
// retries (a refusal is answered once).
func (s *SchemaServer) Backend(t testing.TB, name string) model.Backend {
	t.Helper()
	b, _, err := model.Open(context.Background(), name, model.Config{Ref: "openai-compatible/" + name, BaseURL: s.URL, MaxRetries: -1},
		model.Options{Sleep: func(context.Context, time.Duration) error { return nil }})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// FirstText adapts a responder to NewSchemaServer, for stages whose
// scripted model answers the same however it was asked: the text of its
// first choice ("" without one).
func FirstText(r modeltest.Responder) func(*modeltest.Request, string) string {
	return func(req *modeltest.Request, _ string) string {
		if rep := r(req); len(rep.Choices) > 0 {
			return rep.Choices[0].Text
		}
		return ""
	}
}
