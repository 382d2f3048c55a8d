// Package h1 is a lean HTTP/1.1 client transport for plain-http endpoints
// whose replies are read whole (a local model server's non-streamed
// answers).
//
// net/http's Transport runs a read loop and a write loop goroutine per
// connection and hands every request and reply between them and the
// caller through channels: at thousands of requests a second against a
// local server that machinery (three goroutine switches, selects, channel
// and header allocations per request) cost about as much CPU as the
// request's own encoding and decoding. This transport writes the request
// and reads the reply on the caller's goroutine, over a pool of kept-alive
// connections, and parses the reply with net/http's own http.ReadResponse.
// Anything it does not handle (https, a proxy, a body of unknown length)
// goes to the fallback transport.
package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Transport is an http.RoundTripper. It reads each reply's body whole
// before RoundTrip returns (the returned body is in memory), so it must not
// be used for streamed replies. It is safe for concurrent use.
type Transport struct {
	// Fallback carries the requests this transport does not: not plain
	// http, proxied, or with a body of unknown length.
	Fallback http.RoundTripper
	// Proxy, when set, is asked for every request, as http.Transport.Proxy
	// is; a request it proxies goes to Fallback.
	Proxy func(*http.Request) (*url.URL, error)
	// MaxIdlePerHost is how many idle connections to keep per host; 0
	// means 2, as net/http's default.
	MaxIdlePerHost int
	// IdleTimeout closes a connection idle this long; 0 means 90 s, as
	// http.DefaultTransport's IdleConnTimeout. A timer closes them even if
	// no request goes to that host again (a loop's model servers get a new
	// port every round). Before a connection idle for 50 ms or more is
	// reused it is peeked without blocking, and dropped if the server
	// closed it or sent something unasked.
	IdleTimeout time.Duration

	dialer net.Dialer
	mu     sync.Mutex
	idle   map[string][]*conn
	reaper *time.Timer // armed while idle holds a connection
}

type conn struct {
	nc     net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	idleAt time.Time // when it was put back in the pool
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.handles(req) {
		return t.Fallback.RoundTrip(req)
	}
	ctx := req.Context()
	host := hostPort(req.URL)
	for {
		c, reused, err := t.get(ctx, host)
		if err != nil {
			closeBody(req) // a RoundTripper closes the body, even on error
			return nil, err
		}
		res, err := t.roundTrip(ctx, c, req)
		if err == nil {
			return res, nil
		}
		c.nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// Only a request that could not be written whole is sent again
		// (on the next idle connection, then on a new one, whose failure
		// is final): the server cannot have acted on part of a request.
		// One written whole and then unanswered may have been carried
		// out, so its error goes back to the caller, as net/http does for
		// a POST; the model layer decides whether to retry.
		var se *sentError
		if !reused || !errors.As(err, &se) {
			return nil, err
		}
		if req.Body != nil {
			body, berr := req.GetBody()
			if berr != nil {
				return nil, err
			}
			r2 := *req
			r2.Body = body
			req = &r2
		}
	}
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// handles reports whether RoundTrip carries req itself.
func (t *Transport) handles(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && (req.GetBody == nil || req.ContentLength <= 0) {
		return false // no length to send, or no way to send it again
	}
	if len(req.TransferEncoding) > 0 || req.Close || req.Method == http.MethodHead {
		return false
	}
	for k, vs := range req.Header {
		if !validField(k) {
			return false
		}
		for _, v := range vs {
			if !validField(v) {
				return false
			}
		}
	}
	if t.Proxy != nil {
		if u, err := t.Proxy(req); err != nil || u != nil {
			return false // Fallback proxies it, or reports the error
		}
	}
	return true
}

// validField reports whether s can be written in a header line as it is;
// net/http refuses or rewrites the rest, so they go to Fallback.
func validField(s string) bool { return !strings.ContainsAny(s, "\r\n\x00") }

func hostPort(u *url.URL) string {
	if u.Port() != "" {
		return u.Host
	}
	return net.JoinHostPort(u.Hostname(), "80")
}

// peekAfter is how long a connection must have sat idle before it is peeked
// for a close or an unasked reply. Servers close idle connections, and send
// a 408 first, after seconds; a connection back in the pool for less has
// nothing to find, and at thousands of requests a second the peek's
// syscall cost about a tenth of the throughput. A server that drops a
// connection sooner fails that request, which the model layer retries.
const peekAfter = 50 * time.Millisecond

// get returns an idle connection to host, or a new one.
func (t *Transport) get(ctx context.Context, host string) (*conn, bool, error) {
	t.mu.Lock()
	cs := t.idle[host]
	n := expired(cs, t.idleTimeout(), time.Now()) // the reaper's timer may not have fired yet
	old, cs := cs[:n:n], cs[n:]
	var c *conn
	for len(cs) > 0 && c == nil {
		c = cs[len(cs)-1]
		cs = cs[:len(cs)-1]
		if c.br.Buffered() > 0 || (time.Since(c.idleAt) >= peekAfter && !alive(c.nc)) {
			old = append(old, c)
			c = nil
		}
	}
	if t.idle != nil {
		t.idle[host] = cs
	}
	t.mu.Unlock()
	for _, o := range old {
		o.nc.Close()
	}
	if c != nil {
		return c, true, nil
	}
	d := t.dialer
	if d.Timeout == 0 {
		d.Timeout, d.KeepAlive = 30*time.Second, 30*time.Second // as http.DefaultTransport
	}
	nc, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return nil, false, err
	}
	return &conn{nc: nc, br: bufio.NewReader(nc), bw: bufio.NewWriter(nc)}, false, nil
}

// put keeps c for the next request to host, or closes it.
func (t *Transport) put(host string, c *conn) {
	maxIdle := t.MaxIdlePerHost
	if maxIdle <= 0 {
		maxIdle = 2
	}
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[string][]*conn{}
	}
	if len(t.idle[host]) < maxIdle {
		c.idleAt = time.Now()
		t.idle[host] = append(t.idle[host], c)
		if t.reaper == nil {
			t.reaper = time.AfterFunc(t.idleTimeout(), t.reap)
		}
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	c.nc.Close()
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleTimeout > 0 {
		return t.IdleTimeout
	}
	return 90 * time.Second
}

// expired counts the connections at the front of cs, the oldest, that have
// been idle longer than timeout at now.
func expired(cs []*conn, timeout time.Duration, now time.Time) int {
	n := 0
	for n < len(cs) && now.Sub(cs[n].idleAt) > timeout {
		n++
	}
	return n
}

// reap closes the connections idle longer than IdleTimeout, and comes back
// when the next one is due while any are left. One clock reading serves
// both: with two, a connection could be kept as not yet expired by the
// first and be past due by the second, and a negative due left no timer.
func (t *Transport) reap() {
	timeout := t.idleTimeout()
	now := time.Now()
	var old []*conn
	t.mu.Lock()
	next, left := time.Duration(0), false
	for host, cs := range t.idle {
		n := expired(cs, timeout, now)
		old = append(old, cs[:n]...)
		if cs = cs[n:]; len(cs) == 0 {
			delete(t.idle, host)
			continue
		}
		t.idle[host] = cs
		if due := timeout - now.Sub(cs[0].idleAt); !left || due < next {
			next, left = due, true
		}
	}
	t.reaper = nil
	if left {
		t.reaper = time.AfterFunc(max(next, 0)+time.Millisecond, t.reap)
	}
	t.mu.Unlock()
	for _, c := range old {
		c.nc.Close()
	}
}

// CloseIdleConnections closes the connections kept for reuse, and the
// fallback's (http.Client.CloseIdleConnections calls it).
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.nc.Close()
		}
	}
	if ci, ok := t.Fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// sentError is a failure to write the whole request.
type sentError struct{ err error }

func (e *sentError) Error() string { return e.err.Error() }
func (e *sentError) Unwrap() error { return e.err }

var longAgo = time.Unix(1, 0)

// roundTrip sends req on c and reads the whole reply. On success c is back
// in the pool or closed; on error the caller closes it.
func (t *Transport) roundTrip(ctx context.Context, c *conn, req *http.Request) (*http.Response, error) {
	// Cancellation unblocks the read or write in progress; the connection
	// is then closed, never reused.
	stop := context.AfterFunc(ctx, func() { c.nc.SetDeadline(longAgo) })
	defer stop()
	if err := writeRequest(c.bw, req); err != nil {
		return nil, &sentError{err}
	}
	if _, err := c.br.Peek(1); err != nil {
		return nil, fmt.Errorf("h1: read reply: %w", err)
	}
	var res *http.Response
	for {
		var err error
		if res, err = http.ReadResponse(c.br, req); err != nil {
			return nil, fmt.Errorf("h1: read reply: %w", eofUnexpected(err))
		}
		if res.StatusCode >= 200 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		// An interim reply (100 Continue, 103 Early Hints): the final one follows.
	}
	data, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, fmt.Errorf("h1: read reply body: %w", eofUnexpected(err))
	}
	if !stop() {
		return nil, ctx.Err() // the deadline may have cut the reply short
	}
	res.Body = io.NopCloser(bytes.NewReader(data))
	res.ContentLength = int64(len(data))
	if res.Close || res.StatusCode == http.StatusSwitchingProtocols {
		c.nc.Close()
	} else {
		t.put(hostPort(req.URL), c)
	}
	return res, nil
}

// eofUnexpected reports a connection closed in the middle of a reply as
// io.ErrUnexpectedEOF, as net/http does.
func eofUnexpected(err error) error {
	if errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w (%w)", io.ErrUnexpectedEOF, err)
	}
	return err
}

// writeRequest writes req's head and body, and flushes.
func writeRequest(w *bufio.Writer, req *http.Request) error {
	uri := req.URL.RequestURI()
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	w.WriteString(req.Method)
	w.WriteByte(' ')
	w.WriteString(uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(host)
	w.WriteString("\r\n")
	if _, ok := req.Header["User-Agent"]; !ok {
		w.WriteString("User-Agent: Go-http-client/1.1\r\n")
	}
	for k, vs := range req.Header {
		if k == "Host" || k == "Content-Length" || k == "Transfer-Encoding" || k == "Connection" {
			continue // written here, or not at all
		}
		for _, v := range vs {
			w.WriteString(k)
			w.WriteString(": ")
			w.WriteString(v)
			w.WriteString("\r\n")
		}
	}
	if req.Body != nil && req.Body != http.NoBody {
		w.WriteString("Content-Length: ")
		w.WriteString(strconv.FormatInt(req.ContentLength, 10))
		w.WriteString("\r\n\r\n")
		n, err := io.Copy(w, req.Body)
		req.Body.Close()
		if err != nil {
			return err
		}
		if n != req.ContentLength {
			return fmt.Errorf("h1: request body of %d bytes, Content-Length %d", n, req.ContentLength)
		}
	} else {
		if req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch {
			w.WriteString("Content-Length: 0\r\n")
		}
		w.WriteString("\r\n")
	}
	return w.Flush()
}
