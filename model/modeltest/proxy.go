package modeltest

import (
	"io"
	"net"
	"strings"
	"sync"
)

// Proxy forwards TCP connections to a Server from an address of its own, and
// can be killed and revived on that same address: a server process that
// dies (connections reset, new ones refused) and comes back, for tests of
// clients that spread requests over several endpoints.
type Proxy struct {
	// URL is the target's URL with the proxy's address in place of its own.
	URL string

	addr, target string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

// NewProxy starts a proxy in front of srv. Close it when done.
func NewProxy(srv *Server) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	target := srv.hs.Listener.Addr().String()
	p := &Proxy{addr: ln.Addr().String(), target: target, conns: map[net.Conn]bool{}}
	p.URL = strings.Replace(srv.URL, target, p.addr, 1)
	p.serve(ln)
	return p, nil
}

func (p *Proxy) serve(ln net.Listener) {
	p.mu.Lock()
	p.ln = ln
	p.mu.Unlock()
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.pipe(c)
			}()
		}
	}()
}

func (p *Proxy) pipe(c net.Conn) {
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		c.Close()
		return
	}
	p.mu.Lock()
	if p.ln == nil { // killed while dialling
		p.mu.Unlock()
		c.Close()
		up.Close()
		return
	}
	p.conns[c], p.conns[up] = true, true
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, c); done <- struct{}{} }()
	go func() { io.Copy(c, up); done <- struct{}{} }()
	<-done
	c.Close()
	up.Close()
	<-done
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, up)
	p.mu.Unlock()
}

// Kill stops listening and resets every open connection: requests in flight
// fail and new ones are refused.
func (p *Proxy) Kill() {
	p.mu.Lock()
	ln := p.ln
	p.ln = nil
	for c := range p.conns {
		if tc, ok := c.(*net.TCPConn); ok {
			tc.SetLinger(0) // close with RST, not FIN
		}
		c.Close()
	}
	p.mu.Unlock()
	if ln != nil {
		ln.Close()
	}
}

// Revive listens again on the proxy's address.
func (p *Proxy) Revive() error {
	ln, err := net.Listen("tcp", p.addr)
	if err != nil {
		return err
	}
	p.serve(ln)
	return nil
}

// Close kills the proxy and waits for its goroutines.
func (p *Proxy) Close() {
	p.Kill()
	p.wg.Wait()
}
