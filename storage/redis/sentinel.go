package redis

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	redigo "github.com/gomodule/redigo/redis"
)

// Sentinel URL schemes: the master's address is asked of Redis Sentinel
// at every new connection; rediss+sentinel speaks TLS to the master.
const (
	schemeSentinel    = "redis+sentinel"
	schemeSentinelTLS = "rediss+sentinel"
)

// sentinel finds the current master of a Sentinel-monitored Redis and
// dials it. A connection is only handed out after the server it reached
// says ROLE master, so a sentinel that has not yet seen a failover cannot
// send tock to a replica for long: the next sentinel is asked instead.
type sentinel struct {
	master string
	addrs  []string
	// user and password authenticate to the sentinels
	// (sentinel_user/sentinel_password query parameters).
	user, password string
	// masterOpts authenticate to the master and select its database.
	masterOpts []redigo.DialOption

	mu sync.Mutex
	// first is the index of the sentinel that answered last; it is asked
	// first next time.
	first int
}

// parseSentinelURL reads
//
//	redis+sentinel://[user:password@]host:port[,host:port…]/master[/db][?sentinel_user=…&sentinel_password=…]
//
// (rediss+sentinel for TLS to the master). The user and password in the
// authority are the master's (AUTH, ACL users included); the sentinels'
// own are the query parameters.
func parseSentinelURL(raw string) (*sentinel, string, error) {
	scheme, rest, _ := strings.Cut(raw, "://")
	useTLS := scheme == schemeSentinelTLS
	rest, query, _ := strings.Cut(rest, "?")
	authority, path, _ := strings.Cut(rest, "/")
	var userinfo *url.Userinfo
	hosts := authority
	if at := strings.LastIndex(authority, "@"); at >= 0 {
		ui, err := url.Parse("redis://" + authority[:at] + "@x")
		if err != nil {
			return nil, "", fmt.Errorf("%w: %s: bad user or password: %v", ErrBadURL, scheme+"://…", err)
		}
		userinfo, hosts = ui.User, authority[at+1:]
	}
	redacted := scheme + "://"
	if userinfo != nil {
		redacted += (&url.URL{User: userinfo}).Redacted()[2:]
	}
	redacted += hosts + "/" + path
	fail := func(format string, args ...any) (*sentinel, string, error) {
		return nil, "", fmt.Errorf("%w: %s: %s", ErrBadURL, redacted, fmt.Sprintf(format, args...))
	}

	s := &sentinel{}
	for _, h := range strings.Split(hosts, ",") {
		host, port, err := net.SplitHostPort(h)
		if err != nil || host == "" {
			return fail("sentinel address %q is not host:port", h)
		}
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return fail("sentinel address %q: bad port", h)
		}
		s.addrs = append(s.addrs, h)
	}
	master, db, _ := strings.Cut(path, "/")
	if master == "" {
		return fail("no master name: want %s://host:port[,host:port…]/MASTER[/DB]", scheme)
	}
	s.master = master
	opts := []redigo.DialOption{redigo.DialUseTLS(useTLS)}
	if db != "" {
		n, err := strconv.Atoi(db)
		if err != nil || n < 0 {
			return fail("database must be a number")
		}
		opts = append(opts, redigo.DialDatabase(n))
	}
	if userinfo != nil {
		if pw, ok := userinfo.Password(); ok {
			opts = append(opts, redigo.DialPassword(pw))
			if u := userinfo.Username(); u != "" {
				opts = append(opts, redigo.DialUsername(u))
			}
		} else if u := userinfo.Username(); u != "" {
			// redis://password@host, as redigo reads a lone userinfo.
			opts = append(opts, redigo.DialPassword(u))
		}
	}
	q, err := url.ParseQuery(query)
	if err != nil {
		return fail("bad query: %v", err)
	}
	var tlsConf tls.Config
	for k, v := range q {
		switch k {
		case "sentinel_user":
			s.user = v[0]
		case "sentinel_password":
			s.password = v[0]
		case "tls_server_name":
			// The master's address comes from a sentinel, often an IP
			// its certificate does not name: verify against this name.
			tlsConf.ServerName = v[0]
		case "tls_skip_verify":
			b, err := strconv.ParseBool(v[0])
			if err != nil {
				return fail("tls_skip_verify: want true or false")
			}
			opts = append(opts, redigo.DialTLSSkipVerify(b))
		default:
			return fail("unknown parameter %q (want sentinel_user, sentinel_password, tls_server_name, tls_skip_verify)", k)
		}
	}
	if tlsConf.ServerName != "" {
		if !useTLS {
			return fail("tls_server_name needs the rediss+sentinel scheme")
		}
		opts = append(opts, redigo.DialTLSConfig(&tlsConf))
	}
	s.masterOpts = opts
	return s, redacted, nil
}

// errNotMaster: the server a sentinel named is not (or no longer) a master.
var errNotMaster = errors.New("not a master")

// dial asks the sentinels, in turn, for the master's address and connects
// to it, returning the first connection to a server that says it is the
// master.
func (s *sentinel) dial(ctx context.Context, opts []redigo.DialOption) (redigo.Conn, error) {
	s.mu.Lock()
	first := s.first
	s.mu.Unlock()
	var errs []error
	for k := range s.addrs {
		i := (first + k) % len(s.addrs)
		addr, err := s.ask(ctx, s.addrs[i])
		if err != nil {
			errs = append(errs, fmt.Errorf("sentinel %s: %w", s.addrs[i], err))
			continue
		}
		c, err := redigo.DialContext(ctx, "tcp", addr, append(append([]redigo.DialOption{}, s.masterOpts...), opts...)...)
		if err != nil {
			errs = append(errs, fmt.Errorf("master %s (from sentinel %s): %w", addr, s.addrs[i], err))
			continue
		}
		if err := checkMaster(ctx, c); err != nil {
			c.Close()
			errs = append(errs, fmt.Errorf("master %s (from sentinel %s): %w", addr, s.addrs[i], err))
			continue
		}
		s.mu.Lock()
		s.first = i
		s.mu.Unlock()
		return c, nil
	}
	return nil, fmt.Errorf("no sentinel of %q named a reachable master: %w", s.master, errors.Join(errs...))
}

// ask returns the master's host:port as one sentinel knows it.
func (s *sentinel) ask(ctx context.Context, addr string) (string, error) {
	opts := []redigo.DialOption{
		redigo.DialConnectTimeout(connectTimeout),
		redigo.DialReadTimeout(ioTimeout),
		redigo.DialWriteTimeout(ioTimeout),
	}
	if s.password != "" {
		opts = append(opts, redigo.DialPassword(s.password))
		if s.user != "" {
			opts = append(opts, redigo.DialUsername(s.user))
		}
	}
	c, err := redigo.DialContext(ctx, "tcp", addr, opts...)
	if err != nil {
		return "", err
	}
	defer c.Close()
	reply, err := redigo.Strings(redigo.DoContext(c, ctx, "SENTINEL", "get-master-addr-by-name", s.master))
	if errors.Is(err, redigo.ErrNil) {
		return "", fmt.Errorf("monitors no master named %q", s.master)
	}
	if err != nil {
		return "", err
	}
	if len(reply) != 2 {
		return "", fmt.Errorf("unexpected answer %q", reply)
	}
	return net.JoinHostPort(reply[0], reply[1]), nil
}

// checkMaster asks the server its role.
func checkMaster(ctx context.Context, c redigo.Conn) error {
	reply, err := redigo.Values(redigo.DoContext(c, ctx, "ROLE"))
	if err != nil {
		return err
	}
	if len(reply) == 0 {
		return fmt.Errorf("%w: empty ROLE answer", errNotMaster)
	}
	role, _ := redigo.String(reply[0], nil)
	if role != "master" {
		return fmt.Errorf("%w: ROLE says %q", errNotMaster, role)
	}
	return nil
}

// roleConn is a connection that stops being reused once the server answers
// READONLY: after a failover (Sentinel, or a managed Redis moving its DNS
// name) a connection to the old master may stay open to what is now a
// replica; the pool then drops it and dials the new master.
type roleConn struct {
	redigo.Conn
	mu  sync.Mutex
	err error
}

// readonly records a READONLY error reply.
func (c *roleConn) readonly(reply any, err error) (any, error) {
	var re redigo.Error
	if errors.As(err, &re) && strings.HasPrefix(string(re), "READONLY") {
		c.mu.Lock()
		c.err = fmt.Errorf("server is a replica now: %w", err)
		c.mu.Unlock()
	}
	return reply, err
}

var (
	_ redigo.ConnWithContext = (*roleConn)(nil)
	_ redigo.ConnWithTimeout = (*roleConn)(nil)
)

func (c *roleConn) Err() error {
	c.mu.Lock()
	err := c.err
	c.mu.Unlock()
	if err != nil {
		return err
	}
	return c.Conn.Err()
}

func (c *roleConn) Do(cmd string, args ...any) (any, error) {
	return c.readonly(c.Conn.Do(cmd, args...))
}

func (c *roleConn) Receive() (any, error) { return c.readonly(c.Conn.Receive()) }

func (c *roleConn) DoContext(ctx context.Context, cmd string, args ...any) (any, error) {
	return c.readonly(redigo.DoContext(c.Conn, ctx, cmd, args...))
}

func (c *roleConn) ReceiveContext(ctx context.Context) (any, error) {
	return c.readonly(redigo.ReceiveContext(c.Conn, ctx))
}

func (c *roleConn) DoWithTimeout(timeout time.Duration, cmd string, args ...any) (any, error) {
	return c.readonly(redigo.DoWithTimeout(c.Conn, timeout, cmd, args...))
}

func (c *roleConn) ReceiveWithTimeout(timeout time.Duration) (any, error) {
	return c.readonly(redigo.ReceiveWithTimeout(c.Conn, timeout))
}
