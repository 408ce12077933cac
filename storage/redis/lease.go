package redis

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	redigo "github.com/gomodule/redigo/redis"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

const (
	// DefaultLeaseTTL is the lease's time to live when none is given.
	DefaultLeaseTTL = 6 * time.Second
	// MinLeaseMargin is the smallest safety margin between the local
	// deadline and the key's expiry in Redis.
	MinLeaseMargin = 100 * time.Millisecond

	// subPingEvery is how often the release subscription checks that its
	// connection is alive; a silent one is replaced after subPingEvery +
	// ioTimeout.
	subPingEvery  = 10 * time.Second
	subBackoffMin = 100 * time.Millisecond
	subBackoffMax = 5 * time.Second
	maxTokenLen   = 200
)

var (
	// renewScript extends the key only while it still holds our token.
	renewScript = redigo.NewScript(1, `
if redis.call('get', KEYS[1]) == ARGV[1] then
  return redis.call('pexpire', KEYS[1], ARGV[2])
else
  return 0
end`)
	// releaseScript deletes the key only while it holds our token, and
	// tells the standbys in the same step (ARGV[2] is the channel).
	releaseScript = redigo.NewScript(1, `
if redis.call('get', KEYS[1]) == ARGV[1] then
  redis.call('del', KEYS[1])
  redis.call('publish', ARGV[2], ARGV[1])
  return 1
else
  return 0
end`)
	// holderScript reads the token and its remaining time atomically.
	holderScript = redigo.NewScript(1, `
local v = redis.call('get', KEYS[1])
if not v then
  return false
end
return {v, redis.call('pttl', KEYS[1])}`)
)

// LeaseOptions configure a Lease.
type LeaseOptions struct {
	// Cluster names the tock cluster; the key is KeyPrefix(Cluster) +
	// "leader". Default DefaultCluster.
	Cluster string
	// Token identifies this holder in Redis. Start it with the node id so
	// that `tock cluster` can show who leads; it must differ between
	// processes. Default NewToken(hostname).
	Token string
	// TTL is the key's time to live in Redis. Default DefaultLeaseTTL.
	TTL time.Duration
	// Margin is subtracted from TTL for the local deadline, so the holder
	// stops leading before any other node can win the key, even with some
	// clock rate drift. At least MinLeaseMargin and below TTL. Default
	// TTL/6, raised to MinLeaseMargin.
	Margin time.Duration
	// Clock measures the local deadline; pass the scheduler's clock.
	// Default clock.Real.
	Clock clock.Clock
	// Logger receives subscription outages. Default discards.
	Logger *slog.Logger
}

// NewToken returns node followed by a random suffix, a lease token unique
// to this process.
func NewToken(node string) string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		// crypto/rand does not fail on supported platforms.
		panic(fmt.Sprintf("redis: reading random token: %v", err))
	}
	return node + "/" + hex.EncodeToString(b[:])
}

// Lease is the leader lease on Redis (I3). It implements storage.Lease and
// is safe for concurrent use.
type Lease struct {
	pool    *Pool
	key     string
	channel string
	subName string
	token   string
	ttl     time.Duration
	margin  time.Duration
	clock   clock.Clock
	log     *slog.Logger

	closeCtx context.Context
	closeFn  context.CancelFunc
	mu       sync.Mutex // guards closed and wg.Add
	closed   bool
	wg       sync.WaitGroup

	// onSubscribed, if set (tests), is called each time a Released
	// subscription is confirmed by the server.
	onSubscribed func()
}

var (
	_ storage.Lease       = (*Lease)(nil)
	_ storage.LeaseExpiry = (*Lease)(nil)
)

// NewLease returns the leader lease of opts.Cluster on pool.
func NewLease(pool *Pool, opts LeaseOptions) (*Lease, error) {
	if pool == nil {
		return nil, fmt.Errorf("%w: nil pool", ErrBadLeaseOptions)
	}
	cluster, err := checkCluster(opts.Cluster)
	if err != nil {
		return nil, fmt.Errorf("redis: NewLease: %w", err)
	}
	if opts.TTL == 0 {
		opts.TTL = DefaultLeaseTTL
	}
	if opts.TTL < 2*MinLeaseMargin || opts.TTL%time.Millisecond != 0 {
		return nil, fmt.Errorf("%w: TTL %s must be whole milliseconds and at least %s", ErrBadLeaseOptions, opts.TTL, 2*MinLeaseMargin)
	}
	if opts.Margin == 0 {
		opts.Margin = max(opts.TTL/6, MinLeaseMargin)
	}
	if opts.Margin < MinLeaseMargin || opts.Margin >= opts.TTL {
		return nil, fmt.Errorf("%w: Margin %s must be at least %s and below TTL %s", ErrBadLeaseOptions, opts.Margin, MinLeaseMargin, opts.TTL)
	}
	if opts.Token == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			host = "tock"
		}
		opts.Token = NewToken(host)
	}
	if len(opts.Token) > maxTokenLen {
		return nil, fmt.Errorf("%w: Token longer than %d bytes", ErrBadLeaseOptions, maxTokenLen)
	}
	if opts.Clock == nil {
		opts.Clock = clock.Real{}
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	prefix := KeyPrefix(cluster)
	l := &Lease{
		pool:    pool,
		key:     prefix + "leader",
		channel: prefix + "leader:released",
		subName: "tock:" + cluster + ":released",
		token:   opts.Token,
		ttl:     opts.TTL,
		margin:  opts.Margin,
		clock:   opts.Clock,
		log:     opts.Logger.With(slog.String("component", "redis_lease"), slog.String("key", prefix+"leader")),
	}
	l.closeCtx, l.closeFn = context.WithCancel(context.Background())
	return l, nil
}

// deadline is the local end of a term whose request was sent at sent. The
// clock's monotonic reading makes it immune to wall clock steps.
func (l *Lease) deadline(sent time.Time) time.Time {
	return sent.Add(l.ttl - l.margin)
}

// Acquire tries once to take the lease with SET NX PX. The deadline counts
// from the moment before the request was sent, never from the answer, so a
// slow answer only shortens the term. A key that still holds this lease's
// own token (a term that ended at its local deadline while Redis kept the
// key) is taken back at once instead of after its expiry.
func (l *Lease) Acquire(ctx context.Context) (bool, time.Time, error) {
	sent := l.clock.Now()
	ms := l.ttl.Milliseconds()
	reply, err := l.pool.do(ctx, "SET", l.key, l.token, "NX", "PX", ms)
	if err != nil {
		return false, time.Time{}, fmt.Errorf("acquiring leader lease %s: %w", l.key, err)
	}
	if reply != nil {
		return true, l.deadline(sent), nil
	}
	n, err := redigo.Int(l.pool.script(ctx, renewScript, l.key, l.token, ms))
	if err != nil {
		return false, time.Time{}, fmt.Errorf("acquiring leader lease %s: %w", l.key, err)
	}
	if n == 1 {
		return true, l.deadline(sent), nil
	}
	return false, time.Time{}, nil
}

// Expiry returns the time left on the key (PTTL), zero when there is none.
func (l *Lease) Expiry(ctx context.Context) (time.Duration, error) {
	ms, err := redigo.Int64(l.pool.do(ctx, "PTTL", l.key))
	if err != nil {
		return 0, fmt.Errorf("reading leader lease %s expiry: %w", l.key, err)
	}
	if ms < 0 { // -2: no key; -1: no expiry, which tock never sets
		return 0, nil
	}
	return time.Duration(ms) * time.Millisecond, nil
}

// Renew extends the lease if Redis still holds this lease's token and
// returns the new local deadline. storage.ErrLeaseLost means another
// holder has it (or it expired): step down at once. Any other error leaves
// the old deadline in force.
func (l *Lease) Renew(ctx context.Context) (time.Time, error) {
	sent := l.clock.Now()
	n, err := redigo.Int(l.pool.script(ctx, renewScript, l.key, l.token, l.ttl.Milliseconds()))
	if err != nil {
		return time.Time{}, fmt.Errorf("renewing leader lease %s: %w", l.key, err)
	}
	if n != 1 {
		return time.Time{}, fmt.Errorf("renewing leader lease %s: %w", l.key, storage.ErrLeaseLost)
	}
	return l.deadline(sent), nil
}

// Release deletes the key if it still holds this lease's token and, in the
// same script, publishes the release so standbys try at once. Releasing a
// lease held by someone else (or by no one) changes nothing.
func (l *Lease) Release(ctx context.Context) error {
	if _, err := redigo.Int(l.pool.script(ctx, releaseScript, l.key, l.token, l.channel)); err != nil {
		return fmt.Errorf("releasing leader lease %s: %w", l.key, err)
	}
	return nil
}

// Released subscribes to lease releases and returns a channel that
// receives (coalesced, never blocking the subscriber) after each one. The
// subscription runs on its own connection in a goroutine that reconnects
// with backoff after errors and ends when ctx is done or the lease is
// closed; releases during an outage are missed, so callers keep polling
// Acquire as well.
func (l *Lease) Released(ctx context.Context) <-chan struct{} {
	ch := make(chan struct{}, 1)
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return ch
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(l.closeCtx, cancel)
	l.wg.Add(1)
	go func() {
		defer l.wg.Done()
		defer cancel()
		defer stop()
		l.subscribe(ctx, ch)
	}()
	return ch
}

// subscribe keeps one subscription alive until ctx is done.
func (l *Lease) subscribe(ctx context.Context, ch chan<- struct{}) {
	b := backoff{min: subBackoffMin, max: subBackoffMax}
	down := false
	for {
		err := l.listen(ctx, ch, func() {
			b.reset()
			if down {
				down = false
				l.log.Info("lease release subscription restored")
			}
		})
		if ctx.Err() != nil {
			return
		}
		if !down {
			down = true
			l.log.Warn("lease release subscription lost; retrying", slog.Any("error", err))
		}
		t := l.clock.NewTimer(b.next())
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
	}
}

// listen runs one subscription connection until it fails or ctx is done.
// A pinger keeps it honest: a connection that answers nothing within
// subPingEvery + ioTimeout is dropped and replaced.
func (l *Lease) listen(ctx context.Context, ch chan<- struct{}, subscribed func()) error {
	c, err := l.pool.dial(ctx, 0, redigo.DialClientName(l.subName))
	if err != nil {
		return err
	}
	defer c.Close()
	stopClose := context.AfterFunc(ctx, func() { c.Close() })
	defer stopClose()

	psc := redigo.PubSubConn{Conn: c}
	if err := psc.Subscribe(l.channel); err != nil {
		return fmt.Errorf("subscribing to %s: %w", l.channel, err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(subPingEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				if psc.Ping("") != nil {
					return // the reader sees the broken connection too
				}
			}
		}
	}()
	defer func() {
		close(done)
		wg.Wait()
	}()

	for {
		switch v := psc.ReceiveWithTimeout(subPingEvery + ioTimeout).(type) {
		case redigo.Message:
			select {
			case ch <- struct{}{}:
			default:
			}
		case redigo.Subscription:
			if v.Kind == "subscribe" && v.Channel == l.channel {
				subscribed()
				if l.onSubscribed != nil {
					l.onSubscribed()
				}
			}
		case redigo.Pong:
		case error:
			if err := ctx.Err(); err != nil {
				return err
			}
			return fmt.Errorf("receiving from %s: %w", l.channel, v)
		}
	}
}

// Holder returns the token of the current holder and the key's remaining
// time to live; an empty token means no one holds the lease.
func (l *Lease) Holder(ctx context.Context) (token string, ttl time.Duration, err error) {
	vals, err := redigo.Values(l.pool.script(ctx, holderScript, l.key))
	if errors.Is(err, redigo.ErrNil) {
		return "", 0, nil
	}
	if err == nil && len(vals) != 2 {
		err = fmt.Errorf("unexpected reply of %d values", len(vals))
	}
	if err == nil {
		token, err = redigo.String(vals[0], nil)
	}
	var ms int64
	if err == nil {
		ms, err = redigo.Int64(vals[1], nil)
	}
	if err != nil {
		return "", 0, fmt.Errorf("reading leader lease %s: %w", l.key, err)
	}
	return token, time.Duration(ms) * time.Millisecond, nil
}

// Token returns this lease's own token, to compare with Holder.
func (l *Lease) Token() string { return l.token }

// TTL returns the key's time to live.
func (l *Lease) TTL() time.Duration { return l.ttl }

// Margin returns the safety margin subtracted from TTL for the deadline.
func (l *Lease) Margin() time.Duration { return l.margin }

// Close ends every Released subscription and waits for their goroutines.
// It does not release the lease; later Released calls return a channel
// that never receives. Idempotent.
func (l *Lease) Close() error {
	l.mu.Lock()
	l.closed = true
	l.mu.Unlock()
	l.closeFn()
	l.wg.Wait()
	return nil
}
