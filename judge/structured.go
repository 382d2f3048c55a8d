package judge

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
)

// The replies a structured judge asks for: the justification first, so a
// model writes its reasons before it commits to a verdict (a constrained
// decoder fills properties in the schema's order), bounded so a reply that
// rambles still ends within judge_max_tokens.
const (
	scoreSchemaDoc  = `{"type":"object","properties":{"rationale":{"type":"string","maxLength":600},"score":{"type":%q,"minimum":%s,"maximum":%s}},"required":["rationale","score"],"additionalProperties":false}`
	winnerSchemaDoc = `{"type":"object","properties":{"rationale":{"type":"string","maxLength":600},"winner":{"enum":["A","B","tie"]}},"required":["rationale","winner"],"additionalProperties":false}`
)

var winnerSchema = structured.MustCompile(winnerSchemaDoc, "verdict")

// scoreSchema is the schema of a pointwise reply on r's scale: whole
// points for an additive rubric.
func scoreSchema(r Rubric) *structured.Schema {
	return scaleSchema(r.Min, r.Max, r.Kind == Additive)
}

func scaleSchema(lo, hi float64, integral bool) *structured.Schema {
	typ := "number"
	if integral {
		typ = "integer"
	}
	return structured.MustCompile(fmt.Sprintf(scoreSchemaDoc, typ, fmtNum(lo), fmtNum(hi)), "score")
}

// ScoreShaper is the shaper of a structured setting for a judge that
// scores from lo to hi through Scoring (Scoring.Shape), as the pointwise
// judge does; nil when the setting is off.
func ScoreShaper(setting string, lo, hi float64, integral bool) (*structured.Shaper, error) {
	if s, err := structured.ParseSetting(setting); err != nil || s == structured.Off {
		return nil, err
	}
	return structured.NewShaper(setting, scaleSchema(lo, hi, integral))
}

type scoreReply struct {
	Rationale string  `json:"rationale"`
	Score     float64 `json:"score"`
}

type winnerReply struct {
	Rationale string `json:"rationale"`
	Winner    string `json:"winner"`
}

// ParseStructuredScore reads a pointwise reply asked for with schema s
// (scoreSchema): its score and rationale, or an ErrNoScore that says why
// the reply does not validate.
func ParseStructuredScore(s *structured.Schema, reply string) (float64, string, error) {
	v, err := structured.Decode[scoreReply](s, reply)
	if err != nil {
		return 0, "", fmt.Errorf("%w: %v", ErrNoScore, err)
	}
	return v.Score, v.Rationale, nil
}

// ParseStructuredWinner reads a pairwise reply asked for with the verdict
// schema.
func ParseStructuredWinner(reply string) (Winner, string, error) {
	v, err := structured.Decode[winnerReply](winnerSchema, reply)
	if err != nil {
		return "", "", fmt.Errorf("%w: %v", ErrNoScore, err)
	}
	return Winner(v.Winner), v.Rationale, nil
}

// shapedHash is the hash a structured judge records as its template: the
// prompt's and the schema's together, so it changes when either does.
// Without a shaper it is the prompt's alone, as before structured output.
func shapedHash(promptHash string, sh *structured.Shaper) string {
	if sh == nil {
		return promptHash
	}
	h := sha256.Sum256([]byte(promptHash + "\x00" + sh.Schema.Hash))
	return hex.EncodeToString(h[:])
}

// FollowUp continues req's conversation: the unusable reply, then text
// asking for it again. It is a distinct request (its own cache key), so a
// resumed run replays it from the cache like any other.
func FollowUp(req model.Request, reply, text string) model.Request {
	fix := req
	fix.Messages = append(append([]model.Message(nil), req.Messages...),
		model.Message{Role: "assistant", Content: reply},
		model.Message{Role: "user", Content: text})
	fix.N = 1
	return fix
}
