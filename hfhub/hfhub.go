// Package hfhub uploads a dataset folder to the Hugging Face Hub through its HTTP commit API.
package hfhub

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"time"
)

// DefaultEndpoint is the public Hub; HF_ENDPOINT overrides it (a mirror, or a
// local stand-in in tests).
const DefaultEndpoint = "https://huggingface.co"

// Client talks to one Hub endpoint with one token. It is safe for concurrent
// use once built. The token is sent only in the Authorization header of
// requests to Endpoint and is redacted from every error the client returns.
type Client struct {
	Endpoint string       // without a trailing slash
	Token    string       // a Hub access token with write scope
	HTTP     *http.Client // nil means http.DefaultClient
	// Retries is how many times a request is retried after a 429, a 5xx or a
	// network error; Backoff is the first wait, doubled each time.
	Retries int
	Backoff time.Duration
}

// New returns a client for endpoint (DefaultEndpoint when empty) with three
// retries starting at half a second.
func New(endpoint, token string) *Client {
	if endpoint == "" {
		endpoint = DefaultEndpoint
	}
	return &Client{Endpoint: strings.TrimRight(endpoint, "/"), Token: token, Retries: 3, Backoff: 500 * time.Millisecond}
}

// Error is a request the Hub answered with an error status. Message is what
// the Hub said (its X-Error-Message header or the error field of its body).
type Error struct {
	Op      string // what the client was doing, e.g. "create repo"
	Status  int
	Message string
}

func (e *Error) Error() string {
	msg := fmt.Sprintf("hfhub: %s: HTTP %d %s", e.Op, e.Status, http.StatusText(e.Status))
	if e.Message != "" {
		msg += ": " + e.Message
	}
	switch e.Status {
	case http.StatusUnauthorized:
		msg += " (is HF_TOKEN a valid token?)"
	case http.StatusForbidden:
		msg += " (does the token have write access to this namespace?)"
	}
	return msg
}

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	var e *Error
	if errors.As(err, &e) {
		return e.Status
	}
	return 0
}

var repoIDRe = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*/[A-Za-z0-9][A-Za-z0-9._-]*$`)

// CheckRepoID reports whether id is a namespaced repo id, "ORG/NAME", as the
// Hub accepts them: the client never creates a repo under an implied user.
func CheckRepoID(id string) error {
	if !repoIDRe.MatchString(id) || strings.Contains(id, "..") || strings.Contains(id, "--") ||
		strings.HasSuffix(id, ".git") || len(id) > 96+1+96 {
		return fmt.Errorf("hfhub: repo id %q: want ORG/NAME of letters, digits, '-', '_' and '.'", id)
	}
	return nil
}

// CreateRepo creates the dataset repo id ("ORG/NAME"), private unless
// public. A repo that already exists (HTTP 409) is not an error: a push
// then adds a commit to it, and its visibility is left as it is.
func (c *Client) CreateRepo(ctx context.Context, id string, public bool) error {
	if err := CheckRepoID(id); err != nil {
		return err
	}
	ns, name, _ := strings.Cut(id, "/")
	body, _ := json.Marshal(map[string]any{"name": name, "organization": ns, "private": !public, "type": "dataset"})
	_, err := c.do(ctx, "create repo "+id, request{method: http.MethodPost, url: c.Endpoint + "/api/repos/create",
		contentType: "application/json", body: body, auth: true})
	if StatusOf(err) == http.StatusConflict {
		return nil
	}
	return err
}

// request is one HTTP call; its body is a byte slice or reopened by open so
// that a retry can send it again.
type request struct {
	method, url, contentType, accept string
	body                             []byte
	open                             func() (io.ReadCloser, int64, error)
	header                           map[string]string
	auth                             bool         // send the token; never to a URL off the endpoint
	replyHeader                      *http.Header // if set, receives the 2xx reply's headers
}

// do sends req, retrying 429, 5xx and network errors with exponential
// backoff and jitter, and returns the body of a 2xx reply.
func (c *Client) do(ctx context.Context, op string, req request) ([]byte, error) {
	wait := c.Backoff
	for attempt := 0; ; attempt++ {
		body, retry, err := c.once(ctx, op, req)
		if err == nil || !retry || attempt >= c.Retries {
			return body, c.redact(err)
		}
		d := wait + time.Duration(rand.Int64N(int64(wait)/4+1))
		wait *= 2
		select {
		case <-ctx.Done():
			return nil, c.redact(fmt.Errorf("%w (last error: %w)", ctx.Err(), err))
		case <-time.After(d):
		}
	}
}

func (c *Client) once(ctx context.Context, op string, req request) (body []byte, retry bool, err error) {
	var rd io.Reader
	size := int64(len(req.body))
	if req.open != nil {
		f, n, err := req.open()
		if err != nil {
			return nil, false, fmt.Errorf("hfhub: %s: %w", op, err)
		}
		defer f.Close()
		rd, size = f, n
	} else if req.body != nil {
		rd = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, req.url, rd)
	if err != nil {
		return nil, false, fmt.Errorf("hfhub: %s: %w", op, err)
	}
	if rd != nil {
		hr.ContentLength = size
	}
	if req.contentType != "" {
		hr.Header.Set("Content-Type", req.contentType)
	}
	if req.accept != "" {
		hr.Header.Set("Accept", req.accept)
	}
	for k, v := range req.header {
		hr.Header.Set(k, v)
	}
	hr.Header.Set("User-Agent", "synthloop-hfhub/1")
	if req.auth {
		if !c.onEndpoint(req.url) {
			return nil, false, fmt.Errorf("hfhub: %s: refusing to send the token to %s, off the endpoint", op, hostOf(req.url))
		}
		hr.Header.Set("Authorization", "Bearer "+c.Token)
	}
	hc := c.HTTP
	if hc == nil {
		hc = http.DefaultClient
	}
	resp, err := hc.Do(hr)
	if err != nil {
		if ctx.Err() != nil {
			return nil, false, fmt.Errorf("hfhub: %s: %w", op, ctx.Err())
		}
		// *url.Error carries the URL; strip it to the host so that no query
		// string (a presigned upload URL's signature) lands in an error.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = fmt.Errorf("%s %s: %w", ue.Op, hostOf(ue.URL), ue.Err)
		}
		return nil, true, fmt.Errorf("hfhub: %s: %w", op, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, true, fmt.Errorf("hfhub: %s: read reply: %w", op, err)
	}
	if resp.StatusCode/100 == 2 {
		if req.replyHeader != nil {
			*req.replyHeader = resp.Header
		}
		return data, false, nil
	}
	retry = resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500
	return nil, retry, &Error{Op: op, Status: resp.StatusCode, Message: hubMessage(resp.Header, data)}
}

func (c *Client) onEndpoint(u string) bool {
	return u == c.Endpoint || strings.HasPrefix(u, c.Endpoint+"/")
}

func hostOf(u string) string {
	p, err := url.Parse(u)
	if err != nil || p.Host == "" {
		return "(unparsable URL)"
	}
	return p.Scheme + "://" + p.Host
}

// redact replaces the token wherever it might appear in err's text (a Hub
// that echoes the Authorization header, say), keeping err's chain for
// errors.Is/As.
func (c *Client) redact(err error) error {
	if err == nil || c.Token == "" || !strings.Contains(err.Error(), c.Token) {
		return err
	}
	return &redacted{msg: strings.ReplaceAll(err.Error(), c.Token, "[REDACTED]"), err: err}
}

type redacted struct {
	msg string
	err error
}

func (r *redacted) Error() string { return r.msg }
func (r *redacted) Unwrap() error { return r.err }

// hubMessage extracts what the Hub said about an error: the X-Error-Message
// header, then the body's "error" (a string or a list), "error_description"
// or "errors[].message", else the body itself when it is short plain text.
func hubMessage(h http.Header, body []byte) string {
	var msgs []string
	if m := strings.TrimSpace(h.Get("X-Error-Message")); m != "" {
		msgs = append(msgs, m)
	}
	var v struct {
		Error       json.RawMessage `json:"error"`
		Description string          `json:"error_description"`
		Errors      []struct {
			Message string `json:"message"`
		} `json:"errors"`
	}
	if json.Unmarshal(body, &v) == nil {
		var one string
		var list []string
		if json.Unmarshal(v.Error, &one) == nil {
			msgs = append(msgs, one)
		} else if json.Unmarshal(v.Error, &list) == nil {
			msgs = append(msgs, list...)
		}
		msgs = append(msgs, v.Description)
		for _, e := range v.Errors {
			msgs = append(msgs, e.Message)
		}
	} else if !strings.Contains(strings.ToLower(h.Get("Content-Type")), "html") {
		msgs = append(msgs, string(body))
	}
	var out []string
	seen := map[string]bool{}
	for _, m := range msgs {
		m = strings.TrimSpace(m)
		if m != "" && !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	s := strings.Join(out, "; ")
	if len(s) > 500 {
		s = s[:500] + "..."
	}
	return s
}
