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
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// server answers POSTs with "got:" and the body, in the way the case asks.
func server(t *testing.T, mode string, conns *atomic.Int64) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Test") != "yes" || r.Header.Get("User-Agent") == "" || r.ContentLength != int64(len(body)) {
			http.Error(w, "bad request head", 400)
			return
		}
		reply := "got:" + string(body)
		if r.URL.Path == "/slow" {
			time.Sleep(50 * time.Millisecond) // so that concurrent requests each take a connection
		}
		switch mode {
		case "chunked":
			w.WriteHeader(200)
			for _, c := range []byte(reply) {
				w.Write([]byte{c})
				w.(http.Flusher).Flush()
			}
			return
		case "close":
			w.Header().Set("Connection", "close")
		case "continue":
			w.WriteHeader(http.StatusEarlyHints)
		case "status":
			w.Header().Set("Retry-After", "3")
			http.Error(w, reply, http.StatusTooManyRequests)
			return
		}
		io.WriteString(w, reply)
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv
}

func post(ctx context.Context, t *testing.T, c *http.Client, u, body string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader([]byte(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Test", "yes")
	res, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	return res, string(data), err
}

func TestRoundTrip(t *testing.T) {
	for _, tc := range []struct {
		mode       string
		status     int
		wantConns  int64 // connections the server saw for 5 sequential requests
		wantPrefix string
	}{
		{"plain", 200, 1, "got:"},
		{"chunked", 200, 1, "got:"},
		{"continue", 200, 1, "got:"},
		{"close", 200, 5, "got:"},
		{"status", 429, 1, "got:"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var conns atomic.Int64
			srv := server(t, tc.mode, &conns)
			var fell atomic.Int64
			tr := &Transport{Fallback: roundTripFunc(func(r *http.Request) (*http.Response, error) {
				fell.Add(1)
				return nil, errors.New("fallback")
			})}
			c := &http.Client{Transport: tr}
			for i := range 5 {
				body := strings.Repeat("x", i*3000) + "end"
				res, got, err := post(context.Background(), t, c, srv.URL+"/v1/chat?q=1", body)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if res.StatusCode != tc.status || !strings.HasPrefix(got, tc.wantPrefix+body) {
					t.Fatalf("request %d: status %d, body %.40q; want %d, %q", i, res.StatusCode, got, tc.status, tc.wantPrefix)
				}
				if tc.status == 429 && res.Header.Get("Retry-After") != "3" {
					t.Fatalf("Retry-After = %q, want 3", res.Header.Get("Retry-After"))
				}
			}
			if n := conns.Load(); n != tc.wantConns {
				t.Errorf("server saw %d connections, want %d", n, tc.wantConns)
			}
			if fell.Load() != 0 {
				t.Errorf("%d requests went to the fallback", fell.Load())
			}
		})
	}
}

// Kept-alive connections the server closed while idle are replaced, and
// the request sent again, without an error.
func TestIdleClosedByServer(t *testing.T) {
	var conns atomic.Int64
	srv := server(t, "plain", &conns)
	c := &http.Client{Transport: &Transport{MaxIdlePerHost: 4}}
	// Four requests at once leave four idle connections.
	errs := make(chan error, 4)
	for i := range 4 {
		go func() {
			_, _, err := post(context.Background(), t, c, srv.URL+"/slow", fmt.Sprint(i))
			errs <- err
		}()
	}
	for range 4 {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	before := conns.Load()
	srv.CloseClientConnections()
	time.Sleep(peekAfter + 10*time.Millisecond) // idle long enough to be peeked
	_, got, err := post(context.Background(), t, c, srv.URL, "b")
	if err != nil || got != "got:b" {
		t.Fatalf("after the server closed the idle connections: %q, %v", got, err)
	}
	if n := conns.Load(); n != before+1 {
		t.Errorf("server saw %d connections after %d, want one more", n, before)
	}
}

// A connection idle longer than IdleTimeout is closed, not reused.
func TestIdleTimeout(t *testing.T) {
	var conns atomic.Int64
	srv := server(t, "plain", &conns)
	c := &http.Client{Transport: &Transport{IdleTimeout: 30 * time.Millisecond}}
	for _, pause := range []time.Duration{0, 0, 60 * time.Millisecond, 0} {
		time.Sleep(pause)
		if _, got, err := post(context.Background(), t, c, srv.URL, "a"); err != nil || got != "got:a" {
			t.Fatalf("%q, %v", got, err)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2 (a new one after the pause)", n)
	}
}

// Cancelling the context ends a request waiting for its reply with the
// context's error, and the connection is not reused.
func TestCancel(t *testing.T) {
	release := make(chan struct{})
	var conns atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()
	defer close(release)
	c := &http.Client{Transport: &Transport{}}
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, _, err := post(ctx, t, c, srv.URL+"/slow", "x")
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want context.DeadlineExceeded", err)
	}
	if _, got, err := post(context.Background(), t, c, srv.URL+"/fast", "y"); err != nil || got != "ok" {
		t.Fatalf("next request: %q, %v", got, err)
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("server saw %d connections, want 2: the cancelled request's is not reused", n)
	}
}

// A refused connection fails with an error that wraps the dial's, which
// the model layer classifies as an unreachable endpoint.
func TestRefused(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	c := &http.Client{Transport: &Transport{}}
	_, _, err = post(context.Background(), t, c, "http://"+addr, "x")
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "dial" {
		t.Fatalf("err = %v, want a dial *net.OpError", err)
	}
}

func TestFallback(t *testing.T) {
	proxy, _ := url.Parse("http://proxy.invalid:3128")
	tr := &Transport{Proxy: func(r *http.Request) (*url.URL, error) {
		if r.URL.Hostname() == "proxied.invalid" {
			return proxy, nil
		}
		return nil, nil
	}}
	for _, tc := range []struct {
		name    string
		req     func() *http.Request
		handles bool
	}{
		{"plain http", func() *http.Request {
			r, _ := http.NewRequest("POST", "http://127.0.0.1:1/x", strings.NewReader("b"))
			return r
		}, true},
		{"no body", func() *http.Request { r, _ := http.NewRequest("GET", "http://127.0.0.1:1/x", nil); return r }, true},
		{"https", func() *http.Request {
			r, _ := http.NewRequest("POST", "https://127.0.0.1:1/x", strings.NewReader("b"))
			return r
		}, false},
		{"proxied", func() *http.Request {
			r, _ := http.NewRequest("POST", "http://proxied.invalid/x", strings.NewReader("b"))
			return r
		}, false},
		{"body of unknown length", func() *http.Request {
			r, _ := http.NewRequest("POST", "http://127.0.0.1:1/x", io.NopCloser(strings.NewReader("b")))
			return r
		}, false},
		{"header with a newline", func() *http.Request {
			r, _ := http.NewRequest("POST", "http://127.0.0.1:1/x", strings.NewReader("b"))
			r.Header["X-Bad"] = []string{"a\r\nInjected: 1"}
			return r
		}, false},
	} {
		if got := tr.handles(tc.req()); got != tc.handles {
			t.Errorf("%s: handles = %v, want %v", tc.name, got, tc.handles)
		}
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// fill leaves n idle connections to srv in c's pool.
func fill(t *testing.T, c *http.Client, srv *httptest.Server, n int) {
	t.Helper()
	errs := make(chan error, n)
	for i := range n {
		go func() {
			_, _, err := post(context.Background(), t, c, srv.URL+"/slow", fmt.Sprint(i))
			errs <- err
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}

// A request the server read whole and then dropped unanswered may have
// been carried out: it is not sent again on the other idle connections.
func TestNoResendAfterWrite(t *testing.T) {
	var dropped atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		if r.URL.Path == "/slow" {
			time.Sleep(50 * time.Millisecond)
			io.WriteString(w, "ok")
			return
		}
		dropped.Add(1)
		nc, _, err := w.(http.Hijacker).Hijack()
		if err == nil {
			nc.Close()
		}
	}))
	t.Cleanup(srv.Close)
	c := &http.Client{Transport: &Transport{MaxIdlePerHost: 4}}
	fill(t, c, srv, 4)
	if _, _, err := post(context.Background(), t, c, srv.URL+"/drop", "x"); err == nil {
		t.Fatal("a dropped request succeeded")
	}
	if n := dropped.Load(); n != 1 {
		t.Errorf("the server got the request %d times, want 1", n)
	}
}

// A reply the server sends on an idle connection before closing it (a 408
// at its idle timeout) is not taken for the next request's reply.
func TestStrayReplyDropped(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer nc.Close()
				br := bufio.NewReader(nc)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.ReadAll(req.Body)
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				time.Sleep(20 * time.Millisecond)
				io.WriteString(nc, "HTTP/1.1 408 Request Timeout\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				time.Sleep(time.Second) // keep it open: only the stray reply tells
			}()
		}
	}()
	c := &http.Client{Transport: &Transport{}}
	u := "http://" + ln.Addr().String() + "/"
	for i := range 2 {
		res, got, err := post(context.Background(), t, c, u, "x")
		if err != nil || res.StatusCode != 200 || got != "ok" {
			t.Fatalf("request %d: %v, %q, %v", i, res, got, err)
		}
		time.Sleep(300 * time.Millisecond) // the 408 comes 20 ms after the reply, even on a loaded machine
	}
}

// Idle connections are closed after IdleTimeout even if no request goes to
// their host again.
func TestIdleReaped(t *testing.T) {
	var opened, closed atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		time.Sleep(50 * time.Millisecond) // so that the three requests each take a connection
		io.WriteString(w, "ok")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			opened.Add(1)
		case http.StateClosed:
			closed.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	tr := &Transport{IdleTimeout: 30 * time.Millisecond, MaxIdlePerHost: 4}
	fill(t, &http.Client{Transport: tr}, srv, 3)
	deadline := time.Now().Add(5 * time.Second)
	for closed.Load() < opened.Load() && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n, m := closed.Load(), opened.Load(); n != m || m == 0 {
		t.Errorf("the server saw %d of %d idle connections closed", n, m)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if len(tr.idle) != 0 || tr.reaper != nil {
		t.Errorf("after the reaper: %d hosts idle, timer %v", len(tr.idle), tr.reaper != nil)
	}
}
