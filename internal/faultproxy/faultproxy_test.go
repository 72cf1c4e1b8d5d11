package faultproxy_test

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/keylin/keylin/internal/faultproxy"
)

// silence is how long a test waits to conclude that no byte comes.
const silence = 200 * time.Millisecond

// echoServer starts a TCP server that sends back what it receives, and
// returns its address. It stops when tb ends.
func echoServer(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns []net.Conn
	)
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Go(func() {
				defer c.Close()
				io.Copy(c, c)
			})
		}
	})
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// dial connects to addr; the connection is closed when tb ends.
func dial(tb testing.TB, addr string) net.Conn {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		tb.Fatalf("dial %s: %v", addr, err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// send writes s to c.
func send(tb testing.TB, c net.Conn, s string) {
	tb.Helper()
	c.SetWriteDeadline(time.Now().Add(time.Second))
	if _, err := io.WriteString(c, s); err != nil {
		tb.Fatalf("write: %v", err)
	}
}

// expect reads len(want) bytes from c and checks them.
func expect(tb testing.TB, c net.Conn, want string) {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	got := make([]byte, len(want))
	if _, err := io.ReadFull(c, got); err != nil {
		tb.Fatalf("read %q: %v", want, err)
	}
	if string(got) != want {
		tb.Fatalf("read %q, want %q", got, want)
	}
}

// expectSilence checks that no byte arrives on c for a while.
func expectSilence(tb testing.TB, c net.Conn) {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(silence))
	n, err := c.Read(make([]byte, 1))
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		tb.Fatalf("read = %d, %v; want no byte and a timeout", n, err)
	}
}

// expectClosed checks that c is closed by the other end promptly.
func expectClosed(tb testing.TB, c net.Conn) {
	tb.Helper()
	c.SetReadDeadline(time.Now().Add(2 * time.Second))
	n, err := c.Read(make([]byte, 1))
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		tb.Fatalf("read = %d, %v; want the connection closed", n, err)
	}
}

// expectRefused checks that dialling addr is refused.
func expectRefused(tb testing.TB, addr string) {
	tb.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		c.Close()
		tb.Fatalf("dial %s succeeded, want connection refused", addr)
	}
	if !errors.Is(err, syscall.ECONNREFUSED) {
		tb.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
}

// checkNoLeak fails tb if a goroutine of the proxy is still running. A
// goroutine may take a moment to exit after it has signalled its end, so
// the check retries for a while, as goleak does.
func checkNoLeak(tb testing.TB) {
	tb.Helper()
	const frame = "internal/faultproxy.(*Proxy)."
	var stacks []byte
	for deadline := time.Now().Add(time.Second); ; {
		stacks = make([]byte, 1<<20)
		stacks = stacks[:runtime.Stack(stacks, true)]
		if !bytes.Contains(stacks, []byte(frame)) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	var leaked []string
	for g := range strings.SplitSeq(string(stacks), "\n\n") {
		if strings.Contains(g, frame) {
			leaked = append(leaked, g)
		}
	}
	tb.Fatalf("%d proxy goroutines still running after Close:\n%s", len(leaked), strings.Join(leaked, "\n\n"))
}

func TestProxy(t *testing.T) {
	t.Run("Forward", func(t *testing.T) {
		p := faultproxy.New(t, echoServer(t))
		c := dial(t, p.Addr())
		send(t, c, "hello")
		expect(t, c, "hello")
	})

	t.Run("Down", func(t *testing.T) {
		p := faultproxy.New(t, echoServer(t))
		c := dial(t, p.Addr())
		send(t, c, "hello")
		expect(t, c, "hello")

		p.Down()
		expectClosed(t, c)
		expectRefused(t, p.Addr())
		p.Down() // again: nothing changes
		expectRefused(t, p.Addr())

		p.Up()
		c = dial(t, p.Addr())
		send(t, c, "back")
		expect(t, c, "back")
	})

	t.Run("Hang", func(t *testing.T) {
		p := faultproxy.New(t, echoServer(t))
		open := dial(t, p.Addr())
		send(t, open, "one")
		expect(t, open, "one")

		p.Hang()
		send(t, open, "two")
		expectSilence(t, open)
		fresh := dial(t, p.Addr()) // accepted, as by a stopped server's kernel
		send(t, fresh, "three")
		expectSilence(t, fresh)

		p.Up()
		expect(t, open, "two")
		expect(t, fresh, "three")
		send(t, open, "four")
		expect(t, open, "four")
	})

	t.Run("HangHoldsClose", func(t *testing.T) {
		// A client that gives up while the server is frozen: the server
		// sees its bytes and then its close when it resumes.
		p := faultproxy.New(t, echoServer(t))
		c := dial(t, p.Addr())
		p.Hang()
		send(t, c, "bye")
		c.(*net.TCPConn).CloseWrite()
		expectSilence(t, c)
		p.Up()
		expect(t, c, "bye")
		expectClosed(t, c)
	})

	t.Run("HangThenDown", func(t *testing.T) {
		p := faultproxy.New(t, echoServer(t))
		open := dial(t, p.Addr())
		send(t, open, "one")
		expect(t, open, "one")
		p.Hang()
		fresh := dial(t, p.Addr())
		send(t, open, "two")

		p.Down()
		expectClosed(t, open)
		expectClosed(t, fresh)
		expectRefused(t, p.Addr())
	})

	t.Run("DownThenHang", func(t *testing.T) {
		p := faultproxy.New(t, echoServer(t))
		p.Down()
		expectRefused(t, p.Addr())

		p.Hang()
		c := dial(t, p.Addr())
		send(t, c, "held")
		expectSilence(t, c)

		p.Up()
		expect(t, c, "held")
	})

	t.Run("TargetDown", func(t *testing.T) {
		// Nothing listens on the target: the proxy closes the client.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		target := ln.Addr().String()
		ln.Close()
		p := faultproxy.New(t, target)
		expectClosed(t, dial(t, p.Addr()))
	})

	t.Run("Concurrent", func(t *testing.T) {
		// Clients echo while another goroutine switches states: the race
		// detector checks the proxy; a client may fail, never hang.
		p := faultproxy.New(t, echoServer(t))
		stop := make(chan struct{})
		var wg sync.WaitGroup
		for range 4 {
			wg.Go(func() {
				for {
					select {
					case <-stop:
						return
					default:
					}
					c, err := net.DialTimeout("tcp", p.Addr(), time.Second)
					if err != nil {
						continue
					}
					c.SetDeadline(time.Now().Add(50 * time.Millisecond))
					c.Write([]byte("x"))
					c.Read(make([]byte, 1))
					c.Close()
				}
			})
		}
		for range 5 {
			for _, f := range []func(){p.Hang, p.Up, p.Down, p.Hang, p.Down, p.Up} {
				f()
				time.Sleep(5 * time.Millisecond)
			}
		}
		close(stop)
		wg.Wait()
		c := dial(t, p.Addr())
		send(t, c, "still works")
		expect(t, c, "still works")
	})

	t.Run("Close", func(t *testing.T) {
		// Close ends every goroutine, in whatever state the proxy is.
		target := echoServer(t)
		for _, fault := range []struct {
			name string
			set  func(*faultproxy.Proxy)
		}{
			{"Up", func(p *faultproxy.Proxy) { p.Up() }},
			{"Hang", (*faultproxy.Proxy).Hang},
			{"Down", (*faultproxy.Proxy).Down},
		} {
			t.Run(fault.name, func(t *testing.T) {
				p := faultproxy.New(t, target)
				c := dial(t, p.Addr())
				send(t, c, "x")
				expect(t, c, "x")
				fault.set(p)
				if fault.name == "Hang" {
					dial(t, p.Addr())
					send(t, c, "held")
				}
				p.Close()
				checkNoLeak(t)
				p.Close() // again: nothing happens
				p.Up()    // after Close: nothing happens
			})
		}
	})
}
