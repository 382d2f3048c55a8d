package judge

import (
	"context"
	"strings"

	"github.com/synthloop/synthloop/internal/structured"
	"github.com/synthloop/synthloop/model"
)

// Scoring is one pointwise scoring request and how its replies are read;
// the rubric judge and the grounding judge differ only in these.
type Scoring struct {
	Request  model.Request // asks for Request.N ratings of one answer
	Min, Max float64       // the valid scores
	Integral bool          // scores must be whole
	// Retries bounds the follow-ups, across all replies, that ask the judge
	// to restate a reply without a valid score.
	Retries int
	// Retry makes such a follow-up from the request, the unusable reply and
	// its problem.
	Retry func(req model.Request, reply, problem string) model.Request
	// Shape, when set, asks for replies that fit its schema (the structured
	// setting); its schema must be scoreSchema's shape. Nil: the text format.
	Shape *structured.Shaper
}

// Run sends the request on b and averages the valid ratings into res,
// recording every reply as a Sample; with none, res.Err says why (never a
// made-up score). The error is a failed model call, unwrapped for the
// caller to name, or a cancelled ctx.
func (sc Scoring) Run(ctx context.Context, b Backend, res *Result) error {
	var replies []string
	req := sc.Request
	how, err := sc.Shape.Do(ctx, sc.Request, func(ctx context.Context, shaped model.Request, _ structured.Mode) error {
		var err error
		req = shaped
		replies, err = send(ctx, b, shaped, res)
		return err
	})
	if err != nil {
		return err
	}
	res.Structured = sc.Shape.Label(how)
	parse, retry := sc.parse, sc.Retry
	if sc.Shape != nil && how != structured.Off {
		parse = sc.parseShaped
		retry = func(req model.Request, reply, problem string) model.Request {
			return FollowUp(req, reply, structured.Restate(problem))
		}
	}
	retries := sc.Retries
	for _, reply := range replies {
		s := parse(reply)
		// An empty reply cannot be quoted back (some APIs refuse an empty
		// assistant turn), so it is an error without a follow-up.
		for !s.Valid && retries > 0 && strings.TrimSpace(reply) != "" {
			retries--
			res.Usage.Errors++
			res.Samples = append(res.Samples, s)
			out, err := send(ctx, b, retry(req, reply, s.Reason), res)
			if err != nil {
				return err
			}
			reply = out[0]
			s = parse(reply)
		}
		if !s.Valid {
			res.Usage.Errors++
		}
		res.Samples = append(res.Samples, s)
	}
	var sum float64
	n := 0
	last := ""
	for _, s := range res.Samples {
		if s.Valid {
			sum += s.Score
			n++
		} else {
			last = s.Reason
		}
	}
	if n == 0 {
		res.Err = last
		return nil
	}
	res.Score = sum / float64(n)
	return nil
}

func (sc Scoring) parse(reply string) Sample {
	s, reason, err := ParseScore(reply, sc.Min, sc.Max, sc.Integral)
	if err != nil {
		return Sample{Reason: err.Error()}
	}
	return Sample{Score: s, Valid: true, Reason: reason}
}

func (sc Scoring) parseShaped(reply string) Sample {
	s, reason, err := ParseStructuredScore(sc.Shape.Schema, reply)
	if err != nil {
		return Sample{Reason: err.Error()}
	}
	return Sample{Score: s, Valid: true, Reason: reason}
}

// send sends req on b, adding its cache keys and usage to res.
func send(ctx context.Context, b Backend, req model.Request, res *Result) ([]string, error) {
	res.RequestKeys = append(res.RequestKeys, model.CacheKeys(b.Provider, b.Model, req)...)
	resp, err := b.Generate(ctx, req)
	res.Usage.Count(resp, err)
	if err != nil {
		return nil, err
	}
	return texts(resp, req.N), nil
}
