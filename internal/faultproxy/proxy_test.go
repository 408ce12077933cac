package faultproxy

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	// quiet is how long a read must see nothing to count as blackholed.
	quiet = 200 * time.Millisecond
	// prompt bounds how long anything that should happen at once may take.
	prompt = 2 * time.Second
)

// echo is an upstream echo server that counts what reaches it.
type echo struct {
	ln       net.Listener
	wg       sync.WaitGroup
	mu       sync.Mutex
	conns    []net.Conn
	accepted atomic.Int64
	received atomic.Int64
}

func newEcho(t *testing.T) *echo {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	e := &echo{ln: ln}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			e.accepted.Add(1)
			e.mu.Lock()
			e.conns = append(e.conns, c)
			e.mu.Unlock()
			e.wg.Add(1)
			go func() {
				defer e.wg.Done()
				defer c.Close()
				buf := make([]byte, 4096)
				for {
					n, err := c.Read(buf)
					if n > 0 {
						e.received.Add(int64(n))
						if _, err := c.Write(buf[:n]); err != nil {
							return
						}
					}
					if err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		e.mu.Lock()
		for _, c := range e.conns {
			c.Close()
		}
		e.mu.Unlock()
		e.wg.Wait()
	})
	return e
}

func newProxy(t *testing.T, target string) *Proxy {
	t.Helper()
	p, err := New(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("closing the proxy: %v", err)
		}
	})
	return p
}

func dial(t *testing.T, p *Proxy) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", p.Addr(), prompt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// roundTrip writes msg and reads it back within prompt.
func roundTrip(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	if _, err := c.Write([]byte(msg)); err != nil {
		t.Fatalf("writing %q: %v", msg, err)
	}
	expectRead(t, c, msg)
}

func expectRead(t *testing.T, c net.Conn, msg string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(prompt))
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatalf("reading %q back: %v", msg, err)
	}
	if string(buf) != msg {
		t.Fatalf("read %q, want %q", buf, msg)
	}
}

// expectSilence checks that a read sees neither data nor EOF nor a reset
// for quiet: the connection is blackholed.
func expectSilence(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(quiet))
	buf := make([]byte, 16)
	n, err := c.Read(buf)
	if n > 0 || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("blackholed read returned %d bytes %q, error %v; want a timeout", n, buf[:n], err)
	}
}

// expectReset checks that a read ends at once with an error that is not a
// timeout (a reset, or EOF for a close that raced the RST).
func expectReset(t *testing.T, c net.Conn) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(prompt))
	buf := make([]byte, 16)
	start := time.Now()
	for {
		n, err := c.Read(buf)
		if n > 0 {
			continue // bytes that were in flight
		}
		if err == nil {
			continue
		}
		if errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("read timed out after %s; want a reset at once", time.Since(start))
		}
		if !errors.Is(err, syscall.ECONNRESET) && !errors.Is(err, io.EOF) {
			t.Logf("read ended with %v", err)
		}
		return
	}
}

func TestPass(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c := dial(t, p)
	roundTrip(t, c, "hello")
	roundTrip(t, c, "again")
	// A half-close travels to the target, whose close travels back.
	if err := c.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(prompt))
	if n, err := c.Read(make([]byte, 1)); n != 0 || !errors.Is(err, io.EOF) {
		t.Fatalf("after a half-close, read %d bytes, error %v; want EOF", n, err)
	}
	st := p.Stats()
	if st.Accepted != 1 || st.BytesUp != 10 || st.BytesDown != 10 {
		t.Errorf("stats %+v; want 1 accepted, 10 bytes each way", st)
	}
	if p.Mode() != Pass || p.Target() != e.ln.Addr().String() || p.Port() == 0 {
		t.Errorf("mode %s, target %s, port %d", p.Mode(), p.Target(), p.Port())
	}
}

func TestRefuseResetsOpenConnections(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c := dial(t, p)
	roundTrip(t, c, "before")
	p.SetMode(Refuse)
	expectReset(t, c)
	if st := p.Stats(); st.Resets != 1 || st.Active != 0 {
		t.Errorf("stats %+v; want 1 reset, none active", st)
	}
}

func TestRefuseResetsNewConnections(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	p.SetMode(Refuse)
	for range 3 {
		c, err := net.DialTimeout("tcp", p.Addr(), prompt)
		if err != nil {
			continue // refused outright is fine too
		}
		_, _ = c.Write([]byte("x"))
		expectReset(t, c)
		c.Close()
	}
	if n := e.accepted.Load(); n != 0 {
		t.Errorf("the target accepted %d connections through a refusing proxy", n)
	}
	// Back to Pass: new connections work.
	p.SetMode(Pass)
	roundTrip(t, dial(t, p), "after")
}

func TestBlackholeHoldsOpenConnections(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c := dial(t, p)
	roundTrip(t, c, "before")
	got := e.received.Load()
	p.SetMode(Blackhole)
	if _, err := c.Write([]byte("held")); err != nil {
		t.Fatalf("a write into a blackhole fails: %v", err)
	}
	expectSilence(t, c)
	if n := e.received.Load(); n != got {
		t.Fatalf("the target received %d bytes through a blackhole", n-got)
	}
	// Healed: what was held arrives, in order, and the connection lives on.
	p.SetMode(Pass)
	expectRead(t, c, "held")
	roundTrip(t, c, "after")
}

func TestBlackholeHoldsNewConnections(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	p.SetMode(Blackhole)
	c := dial(t, p)
	if _, err := c.Write([]byte("early")); err != nil {
		t.Fatal(err)
	}
	expectSilence(t, c)
	if n := e.accepted.Load(); n != 0 {
		t.Fatalf("the target accepted %d connections through a blackhole", n)
	}
	p.SetMode(Pass)
	expectRead(t, c, "early")
	if n := e.accepted.Load(); n != 1 {
		t.Errorf("the target accepted %d connections after the heal, want 1", n)
	}
}

func TestBlackholeHoldsTheClose(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c := dial(t, p)
	roundTrip(t, c, "x")
	p.SetMode(Blackhole)
	c.Close() // the client gives up; its FIN is dropped with everything else
	time.Sleep(50 * time.Millisecond)
	if st := p.Stats(); st.Active != 1 {
		t.Fatalf("the client's close went through the blackhole: %d active", st.Active)
	}
	p.SetMode(Pass)
	deadline := time.Now().Add(prompt)
	for p.Stats().Active != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the connection is still open after the heal")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestRefuseEndsABlackhole(t *testing.T) {
	e := newEcho(t)
	p := newProxy(t, e.ln.Addr().String())
	c := dial(t, p)
	roundTrip(t, c, "x")
	p.SetMode(Blackhole)
	_, _ = c.Write([]byte("held"))
	p.SetMode(Refuse)
	expectReset(t, c)
}

func TestUnreachableTargetResets(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ln.Addr().String()
	ln.Close() // nothing listens there now
	p := newProxy(t, target)
	c, err := net.DialTimeout("tcp", p.Addr(), prompt)
	if err != nil {
		return // reset before connect returned: as good
	}
	defer c.Close()
	expectReset(t, c)
}

func TestCloseEndsEverything(t *testing.T) {
	e := newEcho(t)
	p, err := New(e.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	open := dial(t, p)
	roundTrip(t, open, "x")
	p.SetMode(Blackhole)
	held := dial(t, p)
	_, _ = held.Write([]byte("y"))
	done := make(chan error, 1)
	go func() { done <- p.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(prompt):
		t.Fatal("Close hangs")
	}
	if err := p.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := net.DialTimeout("tcp", p.Addr(), prompt); err == nil {
		t.Error("a closed proxy accepts connections")
	}
	p.SetMode(Pass) // after Close: a no-op
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{Pass, Refuse, Blackhole} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m, got, err)
		}
	}
	if _, err := ParseMode("drop"); err == nil {
		t.Error("ParseMode accepts drop")
	}
}
