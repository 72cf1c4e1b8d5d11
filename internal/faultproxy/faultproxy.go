// Package faultproxy is a TCP proxy for tests that makes a server fail on
// command, so a test can see how its client behaves when the database
// stops or freezes, without touching the real server that other tests share.
//
// The test points its client at the proxy instead of the server, then
// switches the proxy between three states:
//
//	p := faultproxy.New(t, "127.0.0.1:5432")
//	db, _ := sql.Open("postgres", "postgres://postgres@"+p.Addr()+"/postgres?sslmode=disable")
//	p.Down() // the server is gone: connections closed, new ones refused
//	p.Hang() // the server is frozen (SIGSTOP): connections open, silent
//	p.Up()   // the server is back
package faultproxy

import (
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"
)

// state is what the proxy does with connections.
type state int

const (
	up   state = iota // forward
	hung              // accept and hold, forward nothing
	down              // close everything, refuse
)

// dialTimeout bounds the proxy's own connection to the target.
const dialTimeout = 5 * time.Second

// relistenTimeout bounds how long Up and Hang retry to take the proxy's port
// back after Down released it.
const relistenTimeout = 5 * time.Second

// Proxy forwards TCP connections from [Proxy.Addr] to a target and fails on
// command: see [Proxy.Down], [Proxy.Hang] and [Proxy.Up]. Its methods are
// safe for concurrent use.
type Proxy struct {
	tb     testing.TB
	target string
	addr   string // fixed: Up listens on the same port again after Down

	op sync.Mutex // serialises Up, Down, Hang and Close

	mu     sync.Mutex
	state  state
	ln     net.Listener       // nil while down or closed
	resume chan struct{}      // closed when a Hang ends
	links  map[*link]struct{} // open client connections
	closed bool               // Close has run; no goroutine may start
	wg     sync.WaitGroup     // every goroutine the proxy started
}

// link is one client connection and, once dialled, its connection to the
// target.
type link struct {
	client net.Conn
	server net.Conn // nil until dialled; set once, under Proxy.mu, before any copy
	done   chan struct{}
	once   sync.Once
}

// close tears the link down: both connections are closed and every goroutine
// waiting on it returns.
func (l *link) close() {
	l.once.Do(func() {
		close(l.done)
		l.client.Close()
		if l.server != nil {
			l.server.Close()
		}
	})
}

// New starts a proxy on 127.0.0.1 (a free port) that forwards to target, a
// host:port. The proxy is closed when tb ends. New calls tb.Fatal if it
// cannot listen.
func New(tb testing.TB, target string) *Proxy {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("faultproxy: listen: %v", err)
	}
	p := &Proxy{
		tb:     tb,
		target: target,
		addr:   ln.Addr().String(),
		links:  make(map[*link]struct{}),
	}
	p.serve(ln)
	tb.Cleanup(p.Close)
	return p
}

// Addr is the host:port clients dial instead of the target's.
func (p *Proxy) Addr() string { return p.addr }

// Down makes the target look stopped: every open connection is closed on
// both sides at once, as when the server process dies, and new connections
// are refused, because the proxy stops listening. Down on a proxy that is
// already down does nothing.
func (p *Proxy) Down() {
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || p.state == down {
		return
	}
	p.endHang()
	p.state = down
	p.ln.Close()
	p.ln = nil
	for l := range p.links {
		l.close()
	}
}

// Hang makes the target look frozen, as a server stopped with SIGSTOP: open
// connections stay open but no byte is forwarded either way, and new
// connections are accepted (the kernel would accept them into the listen
// backlog) but get no byte either. Bytes sent meanwhile are held, and so is a
// client's close: [Proxy.Up] delivers them, as SIGCONT would.
//
// Hang on a proxy that is down listens again on the same port; it calls
// tb.Fatal if it cannot, so call it from the goroutine running the test.
func (p *Proxy) Hang() { p.set(hung) }

// Up makes the target reachable again. After [Proxy.Down] the proxy listens
// again on the same port; connections it closed stay closed. After
// [Proxy.Hang] the frozen connections resume: the bytes held are delivered
// and the connections accepted meanwhile reach the target.
//
// Up calls tb.Fatal if it cannot listen on the port again, so call it from
// the goroutine running the test.
func (p *Proxy) Up() { p.set(up) }

// Close stops the proxy: the listener and every connection are closed, and
// Close returns once all the proxy's goroutines have ended. New registers it
// with tb.Cleanup; calling it again does nothing.
func (p *Proxy) Close() {
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.Lock()
	if !p.closed {
		p.closed = true
		p.endHang()
		if p.ln != nil {
			p.ln.Close()
			p.ln = nil
		}
		for l := range p.links {
			l.close()
		}
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// set moves the proxy to next, up or hung, listening again first if it is
// down.
func (p *Proxy) set(next state) {
	p.op.Lock()
	defer p.op.Unlock()
	p.mu.Lock()
	prev, closed := p.state, p.closed
	p.mu.Unlock()
	// p.op keeps Close and the other transitions out until we are done.
	if closed || prev == next {
		return
	}
	var ln net.Listener
	if prev == down {
		ln = p.relisten()
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.endHang()
	p.state = next
	if next == hung {
		p.resume = make(chan struct{})
	}
	if ln != nil {
		// Accept only now, so no connection sees the down state.
		p.serve(ln)
	}
}

// endHang wakes the connections held by Hang. The caller holds p.mu.
func (p *Proxy) endHang() {
	if p.state == hung {
		close(p.resume)
		p.resume = nil
	}
}

// relisten listens on p.addr again, after Down released it. It calls
// tb.Fatal if it cannot.
//
// Another socket may have taken the port in between: an outgoing connection
// can get it as its local port. relisten retries for a while; Go sets
// SO_REUSEADDR, so the connections Down closed, left in TIME_WAIT, do not
// block it.
func (p *Proxy) relisten() net.Listener {
	deadline := time.Now().Add(relistenTimeout)
	for {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			return ln
		}
		if time.Now().After(deadline) {
			p.tb.Fatalf("faultproxy: listen again on %s: %v", p.addr, err)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// serve makes ln the proxy's listener and starts accepting on it. The
// caller holds p.mu, or is New.
func (p *Proxy) serve(ln net.Listener) {
	p.ln = ln
	p.wg.Add(1)
	go p.accept(ln)
}

// accept takes connections from ln until it is closed.
func (p *Proxy) accept(ln net.Listener) {
	defer p.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				p.tb.Logf("faultproxy: accept: %v", err)
			}
			return
		}
		p.mu.Lock()
		if p.closed || p.ln != ln {
			// Down or Close ran between Accept and here.
			p.mu.Unlock()
			c.Close()
			continue
		}
		l := &link{client: c, done: make(chan struct{})}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go p.forward(l)
	}
}

// forward connects l to the target, once the proxy is not hung, and copies
// bytes both ways until both sides have closed or the link is torn down.
func (p *Proxy) forward(l *link) {
	defer p.wg.Done()
	defer p.drop(l)
	if !p.pass(l) {
		return
	}
	server, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		p.tb.Logf("faultproxy: dial %s: %v", p.target, err)
		return
	}
	p.mu.Lock()
	select {
	case <-l.done:
		p.mu.Unlock()
		server.Close()
		return
	default:
		l.server = server
	}
	p.wg.Add(1)
	p.mu.Unlock()
	sent := make(chan struct{})
	go func() {
		defer p.wg.Done()
		defer close(sent)
		p.copy(l, server, l.client)
	}()
	p.copy(l, l.client, server)
	select {
	case <-sent:
	case <-l.done:
	}
}

// drop tears l down and forgets it.
func (p *Proxy) drop(l *link) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l.close()
	delete(p.links, l)
}

// copy copies src to dst until src ends, then closes dst for writing, as
// TCP proxies do: the other direction goes on until its own end. An error
// tears the whole link down. What copy has read, an end of stream included,
// it holds while the proxy is hung.
func (p *Proxy) copy(l *link, dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if !p.pass(l) {
			return
		}
		if n > 0 {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				l.close()
				return
			}
		}
		if errors.Is(err, io.EOF) {
			if cw, ok := dst.(interface{ CloseWrite() error }); ok && cw.CloseWrite() == nil {
				return
			}
			l.close()
			return
		}
		if err != nil {
			l.close()
			return
		}
	}
}

// pass waits while the proxy is hung. It reports whether l may go on: false
// once l is torn down.
func (p *Proxy) pass(l *link) bool {
	for {
		p.mu.Lock()
		st, resume := p.state, p.resume
		p.mu.Unlock()
		if st != hung {
			select {
			case <-l.done:
				return false
			default:
				return true
			}
		}
		select {
		case <-resume:
		case <-l.done:
			return false
		}
	}
}
