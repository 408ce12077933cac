// Package faultproxy is a TCP proxy on loopback whose behaviour can be
// switched at run time, so that a test can cut one process off from a
// service (Redis, MariaDB) without touching the service or the other
// processes that use it. It is the fault kit's network partition.
//
// Modes:
//
//   - Pass forwards bytes both ways.
//   - Refuse resets every open connection (RST to both ends) and resets every
//     new one as soon as it is accepted, as a host whose service is down (or
//     a firewall answering with RST) would: the client sees "connection
//     reset" at once, never a timeout.
//   - Blackhole delivers nothing and tells nobody, as a partition that
//     drops packets would: new connections are accepted but the target is
//     not dialed; on open connections every byte (and every FIN) in either
//     direction is held back; no RST is sent. The sender's writes succeed
//     (they fill socket buffers, as with an unacknowledged TCP window) and
//     its reads time out. When the blackhole ends, the held bytes are
//     delivered in order, as TCP retransmission would deliver them after a
//     partition heals; a connection an endpoint gave up on meanwhile is
//     closed then, as its retransmitted FIN or RST would arrive.
//
// Every goroutine belongs to the Proxy and ends in Close.
package faultproxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is what a Proxy does with traffic.
type Mode int32

// Modes; see the package documentation.
const (
	Pass Mode = iota
	Refuse
	Blackhole
)

func (m Mode) String() string {
	switch m {
	case Pass:
		return "pass"
	case Refuse:
		return "refuse"
	case Blackhole:
		return "blackhole"
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// ParseMode parses "pass", "refuse" or "blackhole".
func ParseMode(s string) (Mode, error) {
	for _, m := range []Mode{Pass, Refuse, Blackhole} {
		if m.String() == s {
			return m, nil
		}
	}
	return 0, fmt.Errorf("faultproxy: unknown mode %q (want pass, refuse or blackhole)", s)
}

const (
	// dialTimeout bounds dialing the target (a loopback service).
	dialTimeout = 2 * time.Second
	// bufSize is the chunk one pump moves at a time.
	bufSize = 32 << 10
)

// Stats are a proxy's counters since New.
type Stats struct {
	// Accepted counts connections accepted from clients, Refused those of
	// them reset at once in Refuse mode.
	Accepted, Refused int64
	// Active is the number of connections open now.
	Active int
	// Resets counts open connections reset by a switch to Refuse.
	Resets int64
	// BytesUp and BytesDown count bytes delivered to the target and to
	// clients.
	BytesUp, BytesDown int64
}

// Proxy forwards connections made to Addr to its target.
type Proxy struct {
	target string
	ln     net.Listener

	mu     sync.Mutex
	mode   Mode
	heal   chan struct{} // closed while not in Blackhole; a new one each blackhole
	links  map[*link]struct{}
	closed bool

	wg sync.WaitGroup

	accepted, refused, resets atomic.Int64
	bytesUp, bytesDown        atomic.Int64
}

// link is one proxied connection.
type link struct {
	client net.Conn
	up     net.Conn // the target side, once dialed; guarded by Proxy.mu
	dead   chan struct{}
	once   sync.Once
}

func (l *link) isDead() bool {
	select {
	case <-l.dead:
		return true
	default:
		return false
	}
}

// New listens on a free port of 127.0.0.1 and forwards to target
// (host:port), in mode Pass.
func New(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listening: %w", err)
	}
	heal := make(chan struct{})
	close(heal)
	p := &Proxy{target: target, ln: ln, heal: heal, links: map[*link]struct{}{}}
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.acceptLoop()
	}()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Port is the proxy's port.
func (p *Proxy) Port() int { return p.ln.Addr().(*net.TCPAddr).Port }

// Target is the host:port the proxy forwards to.
func (p *Proxy) Target() string { return p.target }

// Mode returns the current mode.
func (p *Proxy) Mode() Mode {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode
}

// SetMode switches the mode; it takes effect on open connections at once.
// Switching to Refuse resets every open connection before it returns.
func (p *Proxy) SetMode(m Mode) {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	old := p.mode
	p.mode = m
	if old != Blackhole && m == Blackhole {
		p.heal = make(chan struct{})
	}
	if old == Blackhole && m != Blackhole {
		close(p.heal)
	}
	var victims []*link
	if m == Refuse {
		for l := range p.links {
			victims = append(victims, l)
		}
	}
	p.mu.Unlock()
	for _, l := range victims {
		if p.kill(l, true) {
			p.resets.Add(1)
		}
	}
}

// Stats returns the counters.
func (p *Proxy) Stats() Stats {
	p.mu.Lock()
	active := len(p.links)
	p.mu.Unlock()
	return Stats{
		Accepted: p.accepted.Load(), Refused: p.refused.Load(), Active: active, Resets: p.resets.Load(),
		BytesUp: p.bytesUp.Load(), BytesDown: p.bytesDown.Load(),
	}
}

// Close stops listening, closes every connection and waits for every
// goroutine of the proxy. Idempotent.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	err := p.ln.Close()
	for _, l := range links {
		p.kill(l, false)
	}
	p.wg.Wait()
	return err
}

func (p *Proxy) acceptLoop() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and the like: wait a little and go on.
			time.Sleep(5 * time.Millisecond)
			continue
		}
		p.accepted.Add(1)
		p.mu.Lock()
		switch {
		case p.closed:
			p.mu.Unlock()
			reset(c)
			return
		case p.mode == Refuse:
			p.mu.Unlock()
			p.refused.Add(1)
			reset(c)
			continue
		}
		l := &link{client: c, dead: make(chan struct{})}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go func() {
			defer p.wg.Done()
			p.serve(l)
		}()
	}
}

// serve dials the target once traffic may pass and pumps both ways until
// both directions ended or the link is killed.
func (p *Proxy) serve(l *link) {
	defer func() {
		p.mu.Lock()
		delete(p.links, l)
		p.mu.Unlock()
	}()
	// During a blackhole nothing reaches the target, not even the SYN.
	if !p.waitPass(l) {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		p.kill(l, true) // as the target's host would: reset
		return
	}
	p.mu.Lock()
	if l.isDead() {
		p.mu.Unlock()
		up.Close()
		return
	}
	l.up = up
	p.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		p.pump(l, up, l.client, &p.bytesUp)
	}()
	go func() {
		defer wg.Done()
		p.pump(l, l.client, up, &p.bytesDown)
	}()
	wg.Wait()
	p.kill(l, false)
}

// pump copies src to dst, holding each chunk (and the final FIN) while the
// proxy is in Blackhole. A read or write error other than EOF resets the
// link; EOF is passed on as a half-close.
func (p *Proxy) pump(l *link, dst, src net.Conn, count *atomic.Int64) {
	buf := make([]byte, bufSize)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !p.waitPass(l) {
				return
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				p.kill(l, true)
				return
			}
			count.Add(int64(n))
		}
		if err == nil {
			continue
		}
		if l.isDead() {
			return
		}
		if errors.Is(err, io.EOF) {
			if !p.waitPass(l) {
				return
			}
			if tc, ok := dst.(*net.TCPConn); ok {
				_ = tc.CloseWrite()
			}
			return
		}
		p.kill(l, true)
		return
	}
}

// waitPass returns true once traffic may pass (the mode is not Blackhole)
// and false if the link was killed first.
func (p *Proxy) waitPass(l *link) bool {
	for {
		p.mu.Lock()
		m, heal := p.mode, p.heal
		p.mu.Unlock()
		if m != Blackhole {
			return !l.isDead()
		}
		select {
		case <-heal:
		case <-l.dead:
			return false
		}
	}
}

// kill closes both ends of l, with RST if rst; it reports whether this
// call did it.
func (p *Proxy) kill(l *link, rst bool) bool {
	did := false
	l.once.Do(func() {
		did = true
		close(l.dead)
		p.mu.Lock()
		up := l.up
		delete(p.links, l)
		p.mu.Unlock()
		if rst {
			reset(l.client)
			if up != nil {
				reset(up)
			}
			return
		}
		l.client.Close()
		if up != nil {
			up.Close()
		}
	})
	return did
}

// reset closes c with an RST instead of a FIN.
func reset(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}
