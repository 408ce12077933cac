package redis

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	redigo "github.com/gomodule/redigo/redis"
)

// DefaultCluster is the cluster name used when none is given.
const DefaultCluster = "default"

const (
	// connectTimeout bounds dialing a connection.
	connectTimeout = 2 * time.Second
	// ioTimeout bounds every read and write on a pooled connection. It
	// must stay above maxBlock, the longest server-side block (BRPOP).
	ioTimeout = 3 * time.Second
	// borrowPingAfter: idle connections older than this are PINGed before
	// reuse, so a Redis restart costs one failed PING, not a failed call.
	borrowPingAfter = 5 * time.Second
	// idleTimeout closes idle connections well before a typical server
	// timeout.
	idleTimeout = 4 * time.Minute
	maxIdle     = 32
)

var clusterName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,100}$`)

// KeyPrefix returns the prefix of every key of cluster: "tock:{cluster}:".
// The braces are a Redis Cluster hash tag, so all keys of one tock cluster
// live in one slot and the Lua scripts stay single-slot.
func KeyPrefix(cluster string) string {
	return "tock:{" + cluster + "}:"
}

func checkCluster(cluster string) (string, error) {
	if cluster == "" {
		return DefaultCluster, nil
	}
	if !clusterName.MatchString(cluster) {
		return "", fmt.Errorf("%w: %q", ErrBadCluster, cluster)
	}
	return cluster, nil
}

// Pool is a pool of connections to one Redis server, shared by the Lease and
// the Queue of a process. It is safe for concurrent use.
type Pool struct {
	url  string // redacted, for messages
	raw  string
	pool *redigo.Pool
	// sentinel, if set, finds the master for every new connection.
	sentinel *sentinel
}

// NewPool returns a pool for a URL of one of these forms; it does not
// connect (use Ping to check the server):
//
//	redis://[[user]:password@]host:port[/db]      (rediss:// for TLS)
//	redis+sentinel://[[user]:password@]host:port[,host:port…]/master[/db][?sentinel_user=…&sentinel_password=…]
//
// (rediss+sentinel:// for TLS to the master, with tls_server_name and
// tls_skip_verify parameters). A user and password are the server's ACL
// user (AUTH user password); a password alone authenticates as default.
// With Sentinel the master is asked of the sentinels, in turn, for every
// new connection, and only a server that answers ROLE master is used.
// Either way a connection whose server answers READONLY (it became a
// replica in a failover) is dropped rather than reused.
func NewPool(rawURL string) (*Pool, error) {
	p := &Pool{raw: rawURL}
	if scheme, _, _ := strings.Cut(rawURL, "://"); scheme == schemeSentinel || scheme == schemeSentinelTLS {
		s, redacted, err := parseSentinelURL(rawURL)
		if err != nil {
			return nil, err
		}
		p.url, p.sentinel = redacted, s
		p.init()
		return p, nil
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrBadURL, err)
	}
	redacted := u.Redacted()
	if u.Scheme != "redis" && u.Scheme != "rediss" {
		return nil, fmt.Errorf("%w: %s: scheme must be redis, rediss, redis+sentinel or rediss+sentinel", ErrBadURL, redacted)
	}
	if u.Hostname() == "" {
		return nil, fmt.Errorf("%w: %s: no host", ErrBadURL, redacted)
	}
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
			return nil, fmt.Errorf("%w: %s: bad port", ErrBadURL, redacted)
		}
	}
	if db := strings.TrimPrefix(u.Path, "/"); db != "" {
		if n, err := strconv.Atoi(db); err != nil || n < 0 {
			return nil, fmt.Errorf("%w: %s: database must be a number", ErrBadURL, redacted)
		}
	}
	p.url = redacted
	p.init()
	return p, nil
}

// init makes the connection pool.
func (p *Pool) init() {
	p.pool = &redigo.Pool{
		DialContext: func(ctx context.Context) (redigo.Conn, error) {
			return p.dial(ctx, ioTimeout)
		},
		TestOnBorrowContext: func(ctx context.Context, c redigo.Conn, lastUsed time.Time) error {
			if time.Since(lastUsed) < borrowPingAfter {
				return nil
			}
			_, err := redigo.DoContext(c, ctx, "PING")
			return err
		},
		MaxIdle:     maxIdle,
		IdleTimeout: idleTimeout,
	}
}

// dial opens a connection outside the pool; readTimeout 0 means reads have
// no deadline unless the call sets one.
func (p *Pool) dial(ctx context.Context, readTimeout time.Duration, opts ...redigo.DialOption) (redigo.Conn, error) {
	opts = append([]redigo.DialOption{
		redigo.DialConnectTimeout(connectTimeout),
		redigo.DialReadTimeout(readTimeout),
		redigo.DialWriteTimeout(ioTimeout),
	}, opts...)
	var c redigo.Conn
	var err error
	if p.sentinel != nil {
		c, err = p.sentinel.dial(ctx, opts)
	} else {
		c, err = redigo.DialURLContext(ctx, p.raw, opts...)
	}
	if err != nil {
		return nil, fmt.Errorf("connecting to %s: %w", p.url, err)
	}
	return &roleConn{Conn: c}, nil
}

// get borrows a pooled connection; the caller closes it.
func (p *Pool) get(ctx context.Context) (redigo.Conn, error) {
	c, err := p.pool.GetContext(ctx)
	if err != nil {
		return nil, fmt.Errorf("getting a connection to %s: %w", p.url, err)
	}
	return c, nil
}

// do runs one command on a pooled connection.
func (p *Pool) do(ctx context.Context, cmd string, args ...any) (any, error) {
	c, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return redigo.DoContext(c, ctx, cmd, args...)
}

// script runs a Lua script on a pooled connection.
func (p *Pool) script(ctx context.Context, s *redigo.Script, keysAndArgs ...any) (any, error) {
	c, err := p.get(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	return s.DoContext(ctx, c, keysAndArgs...)
}

// Ping checks that the server answers.
func (p *Pool) Ping(ctx context.Context) error {
	if _, err := p.do(ctx, "PING"); err != nil {
		return fmt.Errorf("pinging %s: %w", p.url, err)
	}
	return nil
}

// String returns the pool's URL with any password redacted.
func (p *Pool) String() string { return p.url }

// Close closes the idle connections and makes later borrows fail. Leases
// and queues on the pool must be closed first.
func (p *Pool) Close() error {
	if err := p.pool.Close(); err != nil {
		return fmt.Errorf("closing Redis pool %s: %w", p.url, err)
	}
	return nil
}

// backoff is a capped exponential delay for retrying after a Redis error.
type backoff struct {
	min, max, cur time.Duration
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else if b.cur *= 2; b.cur > b.max {
		b.cur = b.max
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
