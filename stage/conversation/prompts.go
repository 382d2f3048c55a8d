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

func loadPrompt(kind, lang string) (*prompt.Template, error) {
	p, err := prompt.ForLanguage(templateFS, kind, lang, nil)
	if err != nil {
		return nil, fmt.Errorf("conversation: %w", err)
	}
	return p, nil
}

// userData fills the user simulator's prompt.
type userData struct {
	Persona    string
	Topic      string
	Document   string
	Transcript []record.Turn // user and assistant turns so far
	Turn       int           // the number of the message to write, from 1
	MaxTurns   int           // the conversation's planned length
	MayEnd     bool          // the user may end the conversation now
	End        string        // the end token
}

// docData fills the assistant's system prompt in document mode.
type docData struct {
	System   string
	Document string
}

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

func loadPrompts(lang string) (*prompts, error) {
	u, err := loadPrompt("user", lang)
	if err != nil {
		return nil, err
	}
	d, err := loadPrompt("assistant_doc", lang)
	if err != nil {
		return nil, err
	}
	h := sha256.Sum256([]byte(u.Hash + d.Hash))
	return &prompts{user: u, doc: d, hash: hex.EncodeToString(h[:])}, nil
}

// userPrompt renders the user simulator's prompt, with every text as data.
func (ps *prompts) userPrompt(d userData) (string, error) {
	d.Persona, d.Topic, d.Document = data(d.Persona), data(d.Topic), data(d.Document)
	tr := make([]record.Turn, len(d.Transcript))
	for i, t := range d.Transcript {
		tr[i] = record.Turn{Role: t.Role, Content: data(t.Content)}
	}
	d.Transcript = tr
	return ps.user.Render(d)
}

// systemPrompt is the assistant's system prompt: System in topic mode, the
// document instructions after it in document mode.
func (ps *prompts) systemPrompt(system, document string) (string, error) {
	if document == "" {
		return system, nil
	}
	return ps.doc.Render(docData{System: system, Document: data(document)})
}
