package conversation

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"fmt"
	"regexp"

	"github.com/synthloop/synthloop/internal/prompt"
	"github.com/synthloop/synthloop/record"
)

// The user simulator's prompt and the document-mode system prompt of the
// assistant are files, so that each reads as the exact prompt sent and its
// hash, recorded on every record, changes exactly when it does. Topics,
// documents and earlier messages are data inside <topic>, <document> and
// <conversation> tags; the speaker labels are English in every language.
//
//go:embed templates/*.tmpl
var templateFS embed.FS

// userData is what the user simulator's prompt is made of.
type userData struct {
	Persona, Topic, Document string
	Transcript               []record.Turn // user and assistant turns so far
	Turn                     int           // the number of the message to write, from 1
	MaxTurns                 int           // the conversation's planned length
	MayEnd                   bool          // the user may end the conversation now
	End                      string        // the end token
}

// userView fills the user simulator's prompt: userData with every text
// defused, and the turns cut to what the prompt shows of them.
type userView struct {
	Persona    string     `doc:"who the simulated user is (may be empty)"`
	Topic      string     `doc:"what the user wants to talk about (may be empty)"`
	Document   string     `doc:"the document the questions are about, in document mode (else empty)"`
	Transcript []turnView `doc:"the user and assistant turns so far"`
	Turn       int        `doc:"the number of the message to write, from 1"`
	MaxTurns   int        `doc:"the conversation's planned length in user messages"`
	MayEnd     bool       `doc:"the user may end the conversation now"`
	End        string     `doc:"the reply that ends the conversation"`
}

type turnView struct {
	Role    string `doc:"user or assistant"`
	Content string `doc:"the message"`
}

// docData fills the assistant's system prompt in document mode.
type docData struct {
	System   string `doc:"the stage's system setting (may be empty)"`
	Document string `doc:"the document to answer from"`
}

// The prompts a user may replace under `prompts:`. Texts from records
// arrive with their <topic>, <document> and <conversation> tags defused.
var (
	kindUser = prompt.Kind{Name: "user",
		Doc: "The user simulator: writes the user's next message, or exactly .End to stop when .MayEnd.",
		Samples: []any{
			userView{Persona: "a nurse on night shifts", Topic: "sleeping in the day", Document: "Sleep needs darkness.",
				Transcript: []turnView{{Role: "user", Content: "How do I sleep by day?"}, {Role: "assistant", Content: "Darken the room."}},
				Turn:       2, MaxTurns: 3, MayEnd: true, End: "[END]"},
			userView{Turn: 1, MaxTurns: 3, End: "[END]"},
		}}
	kindAssistantDoc = prompt.Kind{Name: "assistant_doc",
		Doc: "Document mode: the assistant's system prompt, telling it to answer from the document.",
		Samples: []any{
			docData{System: "You are a support agent.", Document: "Returns are free within 30 days."},
			docData{Document: "Returns are free within 30 days."},
		}}
	kinds = []prompt.Kind{kindUser, kindAssistantDoc}
)

func init() { prompt.Declare("conversation", kinds...) }

// tags are the delimiters of data in the prompts, in any case and spacing
// a model might still read as one. A text that holds one would end its block
// early and smuggle what follows out of it as instructions, so inside data
// they are defused with a full-width "<".
var tags = regexp.MustCompile(`(?i)<(\s*/?\s*(?:document|topic|conversation)\s*>)`)

// data defuses the delimiters inside a text put into a prompt.
func data(s string) string { return tags.ReplaceAllString(s, "＜$1") }

type prompts struct {
	user, doc *prompt.Template
	hash      string // of both files: what the records' prompts depend on
}

func loadPrompts(files prompt.Files, lang string) (*prompts, error) {
	ps := &prompts{}
	if err := files.PickAll(templateFS, lang, prompt.Slot{Dst: &ps.user, Kind: kindUser}, prompt.Slot{Dst: &ps.doc, Kind: kindAssistantDoc}); err != nil {
		return nil, fmt.Errorf("conversation: %w", err)
	}
	h := sha256.Sum256([]byte(ps.user.Hash + ps.doc.Hash))
	ps.hash = hex.EncodeToString(h[:])
	return ps, nil
}

// userPrompt renders the user simulator's prompt, with every text as data.
func (ps *prompts) userPrompt(d userData) (string, error) {
	v := userView{Persona: data(d.Persona), Topic: data(d.Topic), Document: data(d.Document),
		Turn: d.Turn, MaxTurns: d.MaxTurns, MayEnd: d.MayEnd, End: d.End}
	for _, t := range d.Transcript {
		v.Transcript = append(v.Transcript, turnView{Role: t.Role, Content: data(t.Content)})
	}
	return ps.user.Render(v)
}

// systemPrompt is the assistant's system prompt: System in topic mode, the
// document instructions after it in document mode.
func (ps *prompts) systemPrompt(system, document string) (string, error) {
	if document == "" {
		return system, nil
	}
	return ps.doc.Render(docData{System: system, Document: data(document)})
}
