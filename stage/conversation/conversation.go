// Package conversation is the multi-turn conversation stage: a user model plays the user and a separate assistant model answers, from topics or documents, with every failed conversation kept and its reason recorded.
package conversation

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
	"github.com/synthloop/synthloop/pipeline"
	"github.com/synthloop/synthloop/record"
	"github.com/synthloop/synthloop/stage/internal/genkit"
)

// Ways a conversation ends, in Meta["ended_by"].
const (
	EndedByUser     = "user"      // the user model sent the end token
	EndedByMaxTurns = "max_turns" // the conversation reached its drawn length
)

// Stage is the conversation stage.
type Stage struct {
	s    *settings
	ps   *prompts
	turn *structured.Shaper // the user simulator's turns; nil: text
}

// New checks cfg and returns the stage.
func New(cfg *Config) (*Stage, error) {
	s, err := cfg.resolve()
	if err != nil {
		return nil, err
	}
	ps, err := loadPrompts(s.Prompts, s.Language)
	if err != nil {
		return nil, err
	}
	turn, err := structured.NewShaper(s.Structured, userTurnSchema)
	if err != nil {
		return nil, fmt.Errorf("conversation: %w", err)
	}
	return &Stage{s: s, ps: ps, turn: turn}, nil
}

// Streams implements pipeline.Streaming when the topics are the previous
// stage's kept records (no seeds, topics or limit): a conversation depends
// on its topic alone.
func (st *Stage) Streams() bool { return st.s.Seeds == "" && len(st.s.Topics) == 0 && st.s.Limit == 0 }

// Run makes one conversation per input: each kept record of the previous
// stage, each seed or each inline topic.
func (st *Stage) Run(ctx context.Context, env *pipeline.Env) error {
	var seedRecs []*record.Record
	switch {
	case st.s.Seeds != "":
		var err error
		if seedRecs, err = loadSeeds(st.s.Seeds); err != nil {
			return err
		}
	case len(st.s.Topics) > 0:
		seedRecs = topicRecords(st.s.Topics)
	}
	each, err := genkit.Each(env, seedRecs, st.s.Limit, "conversation: no topics: set seeds or topics, or put the stage after one that makes records")
	if err != nil {
		return err
	}
	open := func(name string) (genkit.Backend, error) { return genkit.Open(env, "conversation", name) }
	asst, err := open(st.s.Model)
	if err != nil {
		return err
	}
	user, err := open(st.s.UserModel)
	if err != nil {
		return err
	}
	return each(ctx, func(ctx context.Context, rec *record.Record) ([]*record.Record, pipeline.UnitUsage, error) {
		c := &convo{st: st, env: env, in: rec, user: user, asst: asst, rng: genkit.UnitRand("conversation", st.s.Seed, env, rec.ID)}
		r, err := c.run(ctx)
		if err != nil {
			return nil, c.usage, err
		}
		return []*record.Record{r}, c.usage, nil
	})
}

// convo is the work of one unit.
type convo struct {
	st         *Stage
	env        *pipeline.Env
	in         *record.Record
	user, asst genkit.Backend
	rng        *rand.Rand
	usage      pipeline.UnitUsage

	r      *record.Record
	system string
	turns  []record.Turn // user and assistant messages, alternating
}

// metaKeys are the input's Meta entries a conversation keeps: where its
// document came from.
var metaKeys = []string{"source", "chunk_id", "chunk_index"}

func (c *convo) run(ctx context.Context) (*record.Record, error) {
	s := c.st.s
	target := s.MinTurns + c.rng.IntN(s.MaxTurns-s.MinTurns+1)
	params := map[string]any{
		"model": s.Model, "user_model": s.UserModel, "mode": s.Mode,
		"temperature": *orDefault(s.Temperature, 0.7), "max_tokens": s.MaxTokens,
		"user_temperature": *orDefault(s.UserTemperature, 1), "user_max_tokens": s.UserMaxTokens,
	}
	if s.TopP != nil {
		params["top_p"] = *s.TopP
	}
	if s.UserTopP != nil {
		params["user_top_p"] = *s.UserTopP
	}
	c.r = &record.Record{
		ID: c.env.Name + ":" + c.in.ID, Status: record.Kept,
		Meta: map[string]any{
			"target_turns": target,
			"user_model":   map[string]any{"name": c.user.Name, "backend": c.user.Info.Backend, "model": c.user.Info.Model},
		},
		Prov: c.env.Provenance("conversation", c.asst.Info, c.in.ID),
	}
	c.r.Prov.TemplateHash, c.r.Prov.Params = c.st.ps.hash, params
	if s.UserPersona != "" {
		c.r.Meta["persona"] = s.UserPersona
	}
	topic, doc := genkit.TaskText(c.in), ""
	if s.Mode == ModeDocument {
		doc = strings.TrimSpace(document(c.in, s.DocumentField))
		// The instruction, when it is not the document itself, says what to ask about.
		if topic = strings.TrimSpace(c.in.Instruction); topic == doc {
			topic = ""
		}
		c.r.Meta["document_id"] = c.in.ID
		for _, k := range metaKeys {
			if v, ok := c.in.Meta[k]; ok {
				c.r.Meta[k] = v
			}
		}
		if doc == "" {
			c.r.Status, c.r.Error = record.Failed, fmt.Sprintf("conversation: the input has no document (document_field %s)", s.DocumentField)
			return c.r, nil
		}
	} else if topic == "" {
		c.r.Status, c.r.Error = record.Failed, "conversation: the input has no topic"
		return c.r, nil
	}
	if topic != "" {
		c.r.Meta["topic"] = topic
	}
	var err error
	if c.system, err = c.st.ps.systemPrompt(s.System, doc); err != nil {
		return nil, err
	}
	ended := EndedByMaxTurns
	for t := 1; t <= target; t++ {
		var msg string
		if t == 1 && s.OpenWithSeed && topic != "" {
			msg = topic
		} else {
			reply, end, ok, err := c.userTurn(ctx, t, target, topic, doc)
			if err != nil || !ok {
				return c.r, err
			}
			if end {
				ended = EndedByUser
				break
			}
			msg = reply
		}
		c.turns = append(c.turns, record.Turn{Role: "user", Content: msg})
		if ok, err := c.assistantTurn(ctx, t); err != nil || !ok {
			return c.r, err
		}
	}
	c.finish()
	c.r.Meta["ended_by"] = ended
	for _, f := range Filters {
		v := 0.0
		if f == FilterMinTurns {
			v = float64(len(c.turns) / 2)
		}
		c.r.Decisions = append(c.r.Decisions, record.Decision{Filter: f, Passed: true, Value: v})
	}
	return c.r, nil
}

// finish puts the messages on the record.
func (c *convo) finish() {
	var msgs []record.Turn
	if c.st.s.IncludeSystem && c.system != "" {
		msgs = append(msgs, record.Turn{Role: "system", Content: c.system})
	}
	c.r.Messages = append(msgs, c.turns...)
	for _, t := range c.turns {
		if t.Role == "user" {
			c.r.Instruction = t.Content
			break
		}
	}
	c.r.Meta["turns"] = countRole(c.turns, "assistant")
}

func countRole(ts []record.Turn, role string) int {
	n := 0
	for _, t := range ts {
		if t.Role == role {
			n++
		}
	}
	return n
}

// reject ends the conversation as rejected by filter, keeping the messages
// so far (the offending one included) for audit.
func (c *convo) reject(filter, reason string) {
	c.finish()
	c.r.Status = record.Rejected
	c.r.Decisions = append(c.r.Decisions, record.Decision{Filter: filter, Reason: reason})
}

// userTurn asks the user model for message t. It returns the message, or
// end when the user ended the conversation; ok is false when the
// conversation was rejected or failed (recorded on c.r).
func (c *convo) userTurn(ctx context.Context, t, target int, topic, doc string) (msg string, end, ok bool, err error) {
	s := c.st.s
	done := len(c.turns) / 2
	p, err := c.st.ps.userPrompt(userData{
		Persona: s.UserPersona, Topic: topic, Document: doc, Transcript: c.turns,
		Turn: t, MaxTurns: target, MayEnd: done >= s.MinTurns, End: s.EndToken,
	})
	if err != nil {
		return "", false, false, err
	}
	req := model.Request{
		Messages:    []model.Message{{Role: "user", Content: p}},
		Temperature: orDefault(s.UserTemperature, 1), TopP: s.UserTopP, MaxTokens: s.UserMaxTokens,
	}
	var choice model.Choice
	how, err := c.st.turn.Do(ctx, req, func(ctx context.Context, req model.Request, _ structured.Mode) error {
		var err error
		choice, _, err = c.user.Call(ctx, req, &c.r.Prov.RequestKeys, &c.usage)
		return err
	})
	c.st.turn.Note(c.r.Prov.Params, how)
	if err != nil {
		return "", false, false, c.failed(ctx, "user model", t, err)
	}
	if c.st.turn != nil && how != structured.Off {
		return c.shapedUserTurn(t, choice, done)
	}
	if hasEnd(choice.Text, s.EndToken) {
		if done >= s.MinTurns {
			return "", true, true, nil
		}
		c.reject(FilterMinTurns, fmt.Sprintf("the user model ended the conversation after %d exchanges; min_turns is %d", done, s.MinTurns))
		return "", false, false, nil
	}
	msg = stripLabel(choice.Text, userLabels)
	if bad := c.check(t, "user", msg, choice.FinishReason); bad {
		return "", false, false, nil
	}
	return msg, false, true, nil
}

// shapedUserTurn is userTurn's reading of a reply asked for with
// userTurnSchema; a reply that does not validate rejects the conversation.
func (c *convo) shapedUserTurn(t int, choice model.Choice, done int) (msg string, end, ok bool, err error) {
	s := c.st.s
	v, perr := parseUserTurn(choice.Text)
	switch {
	case perr != nil && choice.FinishReason == model.FinishLength:
		c.turns = append(c.turns, record.Turn{Role: "user", Content: choice.Text})
		c.reject(FilterTruncated, fmt.Sprintf("turn %d: the user model's message was cut off at max_tokens", t))
		return "", false, false, nil
	case perr != nil:
		c.turns = append(c.turns, record.Turn{Role: "user", Content: choice.Text})
		c.reject(FilterStructured, fmt.Sprintf("turn %d: the user model's reply does not fit the schema: %v", t, perr))
		return "", false, false, nil
	case v.End && done >= s.MinTurns:
		return "", true, true, nil
	case v.End:
		c.reject(FilterMinTurns, fmt.Sprintf("the user model ended the conversation after %d exchanges; min_turns is %d", done, s.MinTurns))
		return "", false, false, nil
	}
	msg = stripLabel(v.Message, userLabels)
	if bad := c.check(t, "user", msg, choice.FinishReason); bad {
		return "", false, false, nil
	}
	return msg, false, true, nil
}

// assistantTurn asks the assistant for its reply to message t; ok is false
// when the conversation was rejected or failed (recorded on c.r).
func (c *convo) assistantTurn(ctx context.Context, t int) (ok bool, err error) {
	s := c.st.s
	var msgs []model.Message
	if c.system != "" {
		msgs = append(msgs, model.Message{Role: "system", Content: c.system})
	}
	for _, m := range c.turns {
		msgs = append(msgs, model.Message{Role: m.Role, Content: m.Content})
	}
	req := model.Request{Messages: msgs, Temperature: orDefault(s.Temperature, 0.7), TopP: s.TopP, MaxTokens: s.MaxTokens,
		CacheBreakpoints: model.ConversationBreakpoints(msgs)}
	choice, _, err := c.asst.Call(ctx, req, &c.r.Prov.RequestKeys, &c.usage)
	if err != nil {
		return false, c.failed(ctx, "assistant", t, err)
	}
	reply := stripLabel(choice.Text, assistantLabels)
	if bad := c.check(t, "assistant", reply, choice.FinishReason); bad {
		return false, nil
	}
	c.turns = append(c.turns, record.Turn{Role: "assistant", Content: reply})
	return true, nil
}

// check applies the per-message filters to msg, said by role at turn t.
// A failing message is appended for audit and the conversation rejected.
func (c *convo) check(t int, role, msg, finish string) (bad bool) {
	s := c.st.s
	who := "the user model"
	own, other := userLabels, "assistant"
	if role == "assistant" {
		who, own, other = "the assistant", assistantLabels, "user"
	}
	var filter, reason string
	switch {
	case strings.TrimSpace(msg) == "":
		filter, reason = FilterEmpty, fmt.Sprintf("turn %d: %s replied with nothing", t, who)
	case finish == model.FinishLength:
		filter, reason = FilterTruncated, fmt.Sprintf("turn %d: %s's message was cut off at max_tokens", t, who)
	case otherLabel(msg, own) != "":
		filter, reason = FilterRole, fmt.Sprintf("turn %d: %s wrote the %s's lines (%q)", t, who, other, otherLabel(msg, own))
	case role == "user" && assistantPhrase(msg) != "":
		filter, reason = FilterRole, fmt.Sprintf("turn %d: the user model answered as the assistant (%q)", t, assistantPhrase(msg))
	default:
		for i := len(c.turns) - 1; i >= 0; i-- {
			prev := c.turns[i]
			sim := similarity(prev.Content, msg)
			if sim < s.MaxSimilarity {
				continue
			}
			if prev.Role == role {
				filter, reason = FilterRepeat, fmt.Sprintf("turn %d: %s repeated its message of turn %d (ROUGE-L %.2f)", t, who, i/2+1, sim)
				break
			}
			if i == len(c.turns)-1 {
				filter, reason = FilterRepeat, fmt.Sprintf("turn %d: %s echoed the message it replies to (ROUGE-L %.2f)", t, who, sim)
				break
			}
			// Like an older message of the other side: a quote, not a repeat.
		}
	}
	if filter == "" {
		return false
	}
	c.turns = append(c.turns, record.Turn{Role: role, Content: msg})
	c.reject(filter, reason)
	return true
}

// failed records a permanent model failure on the record, or returns a
// failure that must not be recorded (pipeline.MustReturn).
func (c *convo) failed(ctx context.Context, who string, t int, err error) error {
	if pipeline.MustReturn(ctx, err) {
		return err
	}
	c.usage.Errors++
	c.finish()
	c.r.Status, c.r.Error = record.Failed, fmt.Sprintf("conversation: turn %d: %s: %v", t, who, err)
	return nil
}

func orDefault(p *float64, def float64) *float64 {
	if p != nil {
		return p
	}
	return &def
}

var _ pipeline.Stage = (*Stage)(nil)
