package model

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var (
	// ErrEmptyResponse means a 2xx answer carried no choices. It is retried.
	ErrEmptyResponse = errors.New("model: response has no choices")
	// ErrUnavailable matches (errors.Is) an *Error whose retries ran out on
	// transient failures: the backend is down or overloaded, not the request
	// wrong. A runner may stop the run on it (a rerun resumes) instead of
	// failing record after record.
	ErrUnavailable = errors.New("model: backend unavailable")
	// ErrMalformedResponse means a 2xx answer could not be decoded (truncated or
	// invalid JSON). It is retried.
	ErrMalformedResponse = errors.New("model: malformed response")
)

// HTTPError is a non-2xx answer. Providers build it with NewHTTPError so the
// layer can classify every provider's failures the same way.
type HTTPError struct {
	Status int
	// Code is the provider's error code or type when the body names one
	// (e.g. "insufficient_quota", "overloaded_error").
	Code string
	// Message is the provider's message, already redacted and shortened.
	Message string
	// RetryAfter and RetryAfterMs are the raw headers; the layer parses them
	// against its own clock so tests can inject time.
	RetryAfter   string
	RetryAfterMs string
}

func (e *HTTPError) Error() string {
	s := fmt.Sprintf("HTTP %d %s", e.Status, http.StatusText(e.Status))
	if e.Code != "" {
		s += " (" + e.Code + ")"
	}
	if e.Message != "" {
		s += ": " + e.Message
	}
	return strings.TrimSpace(s)
}

const maxErrorBody = 64 << 10

// StatusError is the step an SDK-based provider's HTTP middleware takes
// after the round trip: an answer with a status of 400 or more becomes an
// *HTTPError (with key redacted) before the SDK sees it, so status,
// Retry-After and the server's message survive whatever the body looks like
// (HTML from a proxy, {"error": "..."} from Ollama).
func StatusError(res *http.Response, err error, key string) (*http.Response, error) {
	if err != nil || res.StatusCode < 400 {
		return res, err
	}
	return nil, NewHTTPError(res, key)
}

// SDKError classifies the error of an SDK call whose HTTP answer was
// httpRes: an *HTTPError (see StatusError) or a cancelled ctx as it is, and
// a 2xx whose body could not be read or decoded (truncated, not JSON) as
// ErrMalformedResponse, which is retried.
func SDKError(ctx context.Context, provider string, err error, httpRes *http.Response) error {
	var he *HTTPError
	switch {
	case errors.As(err, &he), ctx.Err() != nil:
		return err
	case httpRes != nil && httpRes.StatusCode < 300:
		return fmt.Errorf("%s: %w: %w", provider, ErrMalformedResponse, err)
	}
	return err
}

// NewHTTPError reads (at most 64 KiB of) res's body, closes it, and builds an
// HTTPError whose message has every secret and bearer token removed.
func NewHTTPError(res *http.Response, secrets ...string) *HTTPError {
	body, _ := io.ReadAll(io.LimitReader(res.Body, maxErrorBody))
	res.Body.Close()
	e := &HTTPError{
		Status:       res.StatusCode,
		RetryAfter:   res.Header.Get("Retry-After"),
		RetryAfterMs: res.Header.Get("Retry-After-Ms"),
	}
	// Both OpenAI ({"error":{"message","type","code"}}) and Anthropic
	// ({"type":"error","error":{"type","message"}}) nest the detail under "error".
	var doc struct {
		Error json.RawMessage `json:"error"`
	}
	msg := ""
	if json.Unmarshal(body, &doc) == nil && len(doc.Error) > 0 {
		var inner struct {
			Message string `json:"message"`
			Type    string `json:"type"`
			Code    any    `json:"code"`
		}
		if json.Unmarshal(doc.Error, &inner) == nil {
			msg = inner.Message
			e.Code = inner.Type
			if c, ok := inner.Code.(string); ok && c != "" {
				e.Code = c
			}
		} else {
			var s string
			if json.Unmarshal(doc.Error, &s) == nil { // {"error": "text"} (Ollama, vLLM)
				msg = s
			}
		}
	}
	if msg == "" {
		msg = strings.Join(strings.Fields(string(body)), " ")
	}
	if len(msg) > 500 {
		msg = msg[:500] + "..."
	}
	e.Message = Redact(msg, secrets...)
	e.Code = Redact(e.Code, secrets...)
	return e
}

var tokenPatterns = regexp.MustCompile(`(?i)(bearer\s+)[^\s"',;]+|\bsk-[A-Za-z0-9_\-]{6,}|(x-api-key["':=\s]+)[^\s"',;]+`)

// Redact replaces every secret in s, and anything shaped like a bearer token or
// an "sk-" key, with "[REDACTED]".
func Redact(s string, secrets ...string) string {
	for _, k := range secrets {
		if len(k) >= 4 {
			s = strings.ReplaceAll(s, k, "[REDACTED]")
		}
	}
	return tokenPatterns.ReplaceAllStringFunc(s, func(m string) string {
		sub := tokenPatterns.FindStringSubmatch(m)
		switch {
		case sub[1] != "":
			return sub[1] + "[REDACTED]"
		case sub[2] != "":
			return sub[2] + "[REDACTED]"
		}
		return "[REDACTED]"
	})
}

// Error is the final failure of a Generate call after the layer gave up: a
// non-retryable answer, or retries exhausted. Its message names the backend,
// its base URL, the attempts made and the last cause, never the key.
type Error struct {
	Name     string // config name
	Ref      string // provider/model
	BaseURL  string
	Attempts int
	// Retryable reports that the last cause was a transient kind (the layer
	// gave up after max_retries); false means the request itself was refused.
	Retryable bool
	// Transient reports that the failure says nothing against the request
	// itself, so a later run may succeed with it (see IsTransient).
	Transient bool
	Status    int    // last HTTP status, 0 when there was none
	Hint      string // what to check, for the common permanent failures
	Err       error  // last cause

	// redact removes the key from the message as a last line of defence. A
	// func, not the key itself, so that %#v cannot print the key.
	redact func(string) string
}

// GoString keeps %#v to the redacted message.
func (e *Error) GoString() string { return e.Error() }

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "model: %s (%s at %s): ", e.Name, e.Ref, e.BaseURL)
	if e.Retryable && e.Attempts == 0 {
		b.WriteString("not answering (a call just ran out of retries), failing fast for a while: ")
	} else if e.Retryable {
		fmt.Fprintf(&b, "gave up after %d attempt%s: ", e.Attempts, plural(e.Attempts))
	} else if e.Attempts > 1 {
		fmt.Fprintf(&b, "failed on attempt %d (not retryable): ", e.Attempts)
	} else {
		b.WriteString("request refused (not retried): ")
	}
	b.WriteString(errText(e.Err))
	if e.Hint != "" {
		b.WriteString("; " + e.Hint)
	}
	if e.redact != nil {
		return e.redact(b.String())
	}
	return Redact(b.String())
}

func (e *Error) Unwrap() error { return e.Err }

// IsTransient reports whether err, the failure of a model call, says nothing
// against the request itself, so the same request may succeed on a later
// run: the server erred (5xx), was overloaded or rate-limited (429), timed
// out, could not be reached, or answered with an empty or broken body; or
// it refused every request, not this one (a rejected key, no access, no
// credit, an unknown model), which fixing the account or config cures.
//
// It is false for a permanent failure, one the server gave for this request
// (400, 413, 422: too long for the context, a parameter it refuses), for a
// cancelled call or a spent budget, and for errors the model layer does not
// know. A reply that arrived but cannot be used (unparsable content) is the
// caller's to judge and is permanent too.
//
// This is the one classification the run relies on: a unit whose failure is
// transient is left undone for a rerun rather than recorded as failed.
func IsTransient(err error) bool {
	var e *Error
	switch {
	case err == nil:
		return false
	case errors.As(err, &e):
		return e.Transient
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded), errors.Is(err, ErrBudgetExceeded):
		// The caller's own context or budget: the layer wraps a timed-out
		// attempt in an *Error.
		return false
	}
	// A backend used without the layer (a test's stand-in) returns raw
	// errors: they are classified as the layer would.
	return classify(err, time.Time{}, "").transient
}

// Is makes errors.Is(err, ErrUnavailable) true when retries ran out.
func (e *Error) Is(target error) bool { return target == ErrUnavailable && e.Retryable }

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}

// errText strips the "Post \"http://...\": " prefix of a *url.Error, which
// repeats what the Error message already says.
func errText(err error) string {
	if err == nil {
		return "unknown error"
	}
	if ue, ok := err.(*url.Error); ok && ue.Err != nil {
		return ue.Err.Error()
	}
	return err.Error()
}

// failure is how the layer sees one failed attempt.
type failure struct {
	retry bool // worth another attempt now
	// transient: not this request's fault, so a later run may succeed
	// with it (see IsTransient). Every retry is; so is a refusal of every
	// request (key, access, credit, model name), which is not retried now
	// because asking again at once cannot help.
	transient bool
	overload  bool // the server is saturated: shrink the concurrency window
	status    int
	wait      time.Duration // server-requested wait (Retry-After), 0 if none
	hint      string
	// unreachable: no connection was made (refused, no route, no such
	// host). Only this starts the fail-fast cooldown: a server that answered
	// badly (reset, truncated, timed out) is up and may answer the next call.
	unreachable bool
}

func retryableStatus(s int) bool {
	switch s {
	case 408, 409, 429, 500, 502, 503, 504, 529, 520, 521, 522, 523, 524:
		return true
	}
	return false
}

// classify decides what to do about err. now is the layer's clock, used to
// turn an HTTP-date Retry-After into a wait.
func classify(err error, now time.Time, keyEnv string) failure {
	var he *HTTPError
	if errors.As(err, &he) {
		return classifyHTTP(he, now, keyEnv)
	}
	f := classifyTransport(err)
	// No usable answer came back, so nothing is known against the request:
	// even a host name that does not resolve is the config's fault.
	f.transient = f.retry || f.unreachable
	return f
}

// classifyHTTP classifies an answer with an error status.
func classifyHTTP(he *HTTPError, now time.Time, keyEnv string) failure {
	f := failure{status: he.Status, retry: retryableStatus(he.Status)}
	f.transient = f.retry
	f.overload = he.Status == 429 || he.Status == 503 || he.Status == 529
	if w, ok := parseRetryAfter(he.RetryAfterMs, he.RetryAfter, now); ok {
		f.wait = w
	}
	// The refusals of every request below are transient for the run:
	// once the account or config is fixed, the same request succeeds,
	// so the records they hit must not be written off as failed.
	switch {
	case he.Status == 429 && (he.Code == "insufficient_quota" || he.Code == "billing_hard_limit_reached"):
		// Out of credit: waiting will not help, so say so at once.
		f.retry, f.overload = false, false
		f.hint = "the account is out of credit or quota"
	case he.Status == 401:
		f.transient = true
		f.hint = "the API key was rejected; check " + orDefault(keyEnv, "the key")
	case he.Status == 403:
		f.transient = true
		f.hint = "the key has no access to this model or endpoint"
	case he.Status == 404:
		f.transient = true
		f.hint = "check the model name and base_url (an OpenAI-compatible base_url usually ends in /v1)"
	case he.Status == 400 || he.Status == 422:
		f.hint = badRequestHint(he.Message)
	}
	return f
}

// classifyTransport classifies a failure without an error status: the
// connection, the timeout, or a 2xx answer that could not be used.
func classifyTransport(err error) failure {
	switch {
	case errors.Is(err, ErrEmptyResponse), errors.Is(err, ErrMalformedResponse):
		return failure{retry: true}
	case errors.Is(err, context.DeadlineExceeded):
		// The per-attempt timeout fired (the caller's own ctx is checked first).
		return failure{retry: true, overload: true}
	case errors.Is(err, syscall.ECONNREFUSED):
		return failure{retry: true, unreachable: true, hint: "is the server running at base_url?"}
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return failure{retry: true, unreachable: true, hint: "the host in base_url cannot be reached"}
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return failure{retry: true}
	}
	var se *json.SyntaxError
	var te *json.UnmarshalTypeError
	if errors.As(err, &se) || errors.As(err, &te) {
		return failure{retry: true}
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return failure{retry: dnsErr.IsTemporary || dnsErr.IsTimeout, unreachable: true, hint: "check the host name in base_url"}
	}
	var ne net.Error
	if errors.As(err, &ne) {
		return failure{retry: true, overload: ne.Timeout()}
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return failure{retry: true}
	}
	return failure{}
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// maxServerWait caps a Retry-After: a server asking for an hour is treated as
// asking for this long, and the request still fails after max_retries.
const maxServerWait = 5 * time.Minute

// parseRetryAfter reads Retry-After-Ms or Retry-After (delta seconds or an HTTP date).
func parseRetryAfter(ms, ra string, now time.Time) (time.Duration, bool) {
	if ms != "" {
		if v, err := strconv.ParseFloat(strings.TrimSpace(ms), 64); err == nil && v >= 0 {
			return min(time.Duration(v*float64(time.Millisecond)), maxServerWait), true
		}
	}
	ra = strings.TrimSpace(ra)
	if ra == "" {
		return 0, false
	}
	if v, err := strconv.ParseFloat(ra, 64); err == nil {
		if v < 0 || v != v {
			return 0, false
		}
		return min(time.Duration(v*float64(time.Second)), maxServerWait), true
	}
	if t, err := http.ParseTime(ra); err == nil {
		d := t.Sub(now)
		if d < 0 {
			d = 0
		}
		return min(d, maxServerWait), true
	}
	return 0, false
}

// badRequestHint says what to do about a rejected request, by what the
// server's message is about: a hint about drop_params on a prompt the
// model's tokenizer cannot encode would send the user the wrong way.
func badRequestHint(msg string) string {
	m := strings.ToLower(msg)
	switch {
	case strings.Contains(m, "tokenizer") || strings.Contains(m, "unknown symbol"):
		return "the prompt has text the model's tokenizer cannot encode (a char tokenizer knows only the characters of its training data; train with tokenizer: bpe)"
	case strings.Contains(m, "context") && (strings.Contains(m, "length") || strings.Contains(m, "longer")):
		return "the prompt and max_tokens do not fit the model's context"
	case strings.Contains(m, "param") || strings.Contains(m, "support") || strings.Contains(m, "unrecognized") || strings.Contains(m, "unknown field") || strings.Contains(m, "extra inputs"):
		return "the server rejected a request parameter; drop_params can leave out ones it does not support"
	}
	return "the server rejected the request; its message says why"
}
