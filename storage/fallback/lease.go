// Package fallback is the leader lease of a distributed replica: the Redis
// lease, backed by a lease row in the store that the leader holds as well,
// and the lease row alone while Redis is unreachable. Redis stays the fast
// path (standbys compete there, releases are announced there); the row is
// the authority, so that a replica cut off from Redis can take over only
// from a leader that stopped renewing, never beside one. Whatever the
// backend, every term still bumps the leader epoch and every dispatch
// checks it (I2), so two replicas believing they lead can never both
// write.
package fallback

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

// Backends a lease is held on.
const (
	// BackendRedis: the Redis lease and the row.
	BackendRedis = "redis"
	// BackendStore: the row alone, while Redis is unreachable.
	BackendStore = "mysql"
)

// RedisLease is the Redis lease the fallback wraps (storage/redis.Lease).
type RedisLease interface {
	storage.Lease
	storage.LeaseExpiry
	// Token is the holder's token, also used for the row.
	Token() string
	// Margin is what the local deadline keeps short of the TTL.
	Margin() time.Duration
}

// RowStore is the store's lease row.
type RowStore interface {
	ClaimLease(ctx context.Context, claim storage.LeaseClaim) (storage.LeaseRow, error)
	ReleaseLease(ctx context.Context, token string) error
	LeaseRow(ctx context.Context) (storage.LeaseRow, error)
}

// DefaultAfter is how long Redis must have been unreachable before
// standbys compete for the row alone.
const DefaultAfter = 3 * time.Second

// Options configure a Lease.
type Options struct {
	// Redis is the Redis lease. Required.
	Redis RedisLease
	// Store holds the lease row. Required.
	Store RowStore
	// Node is recorded on the row. Required.
	Node string
	// After is how long Redis must have failed every call before a standby
	// competes for the row alone. Default DefaultAfter.
	After time.Duration
	// Clock measures deadlines and outages; pass the scheduler's. Default
	// clock.Real.
	Clock clock.Clock
	// Logger receives a line at every switch of backend. Default discards.
	Logger *slog.Logger
	// OnBackend, if set, is called with the backend whenever a term starts
	// or the backend of a term changes, and with "" when this replica stops
	// holding the lease.
	OnBackend func(backend string)
}

// Lease implements storage.Lease and storage.LeaseExpiry.
type Lease struct {
	o Options

	mu sync.Mutex
	// backend is the backend of the term held, "" when none.
	backend string
	// downSince is when Redis started failing every call; zero while it
	// answers.
	downSince time.Time
}

var (
	_ storage.Lease       = (*Lease)(nil)
	_ storage.LeaseExpiry = (*Lease)(nil)
)

// New returns a Lease.
func New(o Options) (*Lease, error) {
	if o.Redis == nil || o.Store == nil || o.Node == "" {
		return nil, errors.New("fallback: New needs Redis, Store and Node")
	}
	if o.After <= 0 {
		o.After = DefaultAfter
	}
	if o.Clock == nil {
		o.Clock = clock.Real{}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	return &Lease{o: o}, nil
}

// TTL is the Redis lease's TTL, also the row's.
func (l *Lease) TTL() time.Duration { return l.o.Redis.TTL() }

// Backend returns the backend of the term held, "" when none.
func (l *Lease) Backend() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.backend
}

// Competing returns the backend standbys compete on now: BackendStore once
// Redis has been unreachable for After, else BackendRedis.
func (l *Lease) Competing() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.redisDownLocked() {
		return BackendStore
	}
	return BackendRedis
}

func (l *Lease) redisDownLocked() bool {
	return !l.downSince.IsZero() && l.o.Clock.Now().Sub(l.downSince) >= l.o.After
}

// redisAnswered and redisFailed track the outage.
func (l *Lease) redisAnswered() {
	l.mu.Lock()
	l.downSince = time.Time{}
	l.mu.Unlock()
}

func (l *Lease) redisFailed() {
	l.mu.Lock()
	if l.downSince.IsZero() {
		l.downSince = l.o.Clock.Now()
	}
	l.mu.Unlock()
}

// setBackend records the term's backend and reports a change.
func (l *Lease) setBackend(b, why string) {
	l.mu.Lock()
	old := l.backend
	l.backend = b
	l.mu.Unlock()
	if old == b {
		return
	}
	if old != "" && b != "" {
		l.o.Logger.Warn("leader lease backend switched", slog.String("from", old), slog.String("to", b), slog.String("reason", why))
	}
	if l.o.OnBackend != nil {
		l.o.OnBackend(b)
	}
}

// claim claims or renews the row; the deadline counts from before the
// request, like the Redis lease's.
func (l *Lease) claim(ctx context.Context, backend string, renew bool) (bool, time.Time, error) {
	sent := l.o.Clock.Now()
	row, err := l.o.Store.ClaimLease(ctx, storage.LeaseClaim{
		Node: l.o.Node, Token: l.o.Redis.Token(), Backend: backend, TTL: l.TTL(), Renew: renew,
	})
	if err != nil {
		return false, time.Time{}, fmt.Errorf("claiming the store's lease row: %w", err)
	}
	if row.Token != l.o.Redis.Token() {
		return false, time.Time{}, nil
	}
	return true, sent.Add(l.TTL() - l.o.Redis.Margin()), nil
}

// redisCall bounds a Redis call within a renewal to half of what ctx
// allows, so that a Redis that does not answer leaves time for the row.
func redisCall(ctx context.Context) (context.Context, context.CancelFunc) {
	if dl, ok := ctx.Deadline(); ok {
		return context.WithTimeout(ctx, time.Until(dl)/2)
	}
	return context.WithCancel(ctx)
}

// Acquire tries the Redis lease and then the row; once Redis has been
// unreachable for After, the row alone. A Redis lease won while another
// holds the row (a leader leading on the row alone) is given back.
func (l *Lease) Acquire(ctx context.Context) (bool, time.Time, error) {
	rctx, cancel := redisCall(ctx)
	won, rdl, err := l.o.Redis.Acquire(rctx)
	cancel()
	if err == nil {
		l.redisAnswered()
		if !won {
			return false, time.Time{}, nil
		}
		ok, dl, err := l.claim(ctx, BackendRedis, false)
		if err != nil || !ok {
			// Not ours to lead: let the row's holder have Redis back.
			if rerr := l.o.Redis.Release(ctx); rerr != nil {
				l.o.Logger.Warn("giving back the Redis lease", slog.Any("error", rerr))
			}
			return false, time.Time{}, err
		}
		l.setBackend(BackendRedis, "")
		return true, earlier(rdl, dl), nil
	}
	l.redisFailed()
	l.mu.Lock()
	down := l.redisDownLocked()
	l.mu.Unlock()
	if !down {
		return false, time.Time{}, err
	}
	ok, dl, cerr := l.claim(ctx, BackendStore, false)
	if cerr != nil || !ok {
		return false, time.Time{}, cerr
	}
	l.o.Logger.Warn("leading on the store's lease row: Redis unreachable", slog.Duration("for_at_least", l.o.After), slog.Any("error", err))
	l.setBackend(BackendStore, "redis unreachable")
	return true, dl, nil
}

// Renew extends the row and, on Redis, the Redis lease. A leader whose
// Redis stops answering goes on leading on the row alone (no other replica
// can take the row meanwhile); a leader on the row takes the Redis lease
// again as soon as Redis answers and nobody holds it. storage.ErrLeaseLost
// when the row is another's, or another replica holds the Redis lease
// while this one leads on Redis.
func (l *Lease) Renew(ctx context.Context) (time.Time, error) {
	backend := l.Backend()
	if backend == "" {
		backend = BackendRedis
	}
	type redisResult struct {
		won bool
		dl  time.Time
		err error
	}
	ch := make(chan redisResult, 1)
	rctx, cancel := redisCall(ctx)
	defer cancel()
	go func() {
		var r redisResult
		if backend == BackendStore {
			r.won, r.dl, r.err = l.o.Redis.Acquire(rctx)
		} else {
			r.dl, r.err = l.o.Redis.Renew(rctx)
			r.won = r.err == nil
		}
		ch <- r
	}()
	ok, dl, err := l.claim(ctx, backend, true)
	r := <-ch
	if r.err == nil || errors.Is(r.err, storage.ErrLeaseLost) {
		l.redisAnswered()
	} else {
		l.redisFailed()
	}
	if err != nil {
		return time.Time{}, err
	}
	if !ok {
		return time.Time{}, fmt.Errorf("the store's lease row is another replica's: %w", storage.ErrLeaseLost)
	}
	switch {
	case backend == BackendRedis && errors.Is(r.err, storage.ErrLeaseLost):
		return time.Time{}, r.err
	case backend == BackendRedis && r.err != nil:
		l.setBackend(BackendStore, "redis unreachable")
		l.o.Logger.Warn("leading on the store's lease row: Redis unreachable", slog.Any("error", r.err))
		return dl, nil
	case backend == BackendRedis:
		return earlier(r.dl, dl), nil
	case r.err == nil && r.won:
		l.setBackend(BackendRedis, "redis answers again")
		return earlier(r.dl, dl), nil
	}
	return dl, nil
}

// Release gives up the Redis lease and the row.
func (l *Lease) Release(ctx context.Context) error {
	l.setBackend("", "")
	rerr := l.o.Redis.Release(ctx)
	if rerr == nil {
		l.redisAnswered()
	}
	return errors.Join(rerr, l.o.Store.ReleaseLease(ctx, l.o.Redis.Token()))
}

// Released is the Redis lease's release announcements; during a Redis
// outage there are none, and standbys find the row free by polling.
func (l *Lease) Released(ctx context.Context) <-chan struct{} { return l.o.Redis.Released(ctx) }

// Expiry returns how long the current holder's claim still lives: the
// later of its Redis key and its row, the row alone while Redis does not
// answer.
func (l *Lease) Expiry(ctx context.Context) (time.Duration, error) {
	row, err := l.o.Store.LeaseRow(ctx)
	if err != nil {
		return 0, err
	}
	var left time.Duration
	if row.Held() {
		left = row.Until.Sub(row.Now)
	}
	if l.Competing() == BackendStore {
		return left, nil
	}
	rleft, err := l.o.Redis.Expiry(ctx)
	if err != nil {
		return left, nil
	}
	return max(left, rleft), nil
}

func earlier(a, b time.Time) time.Time {
	if a.Before(b) {
		return a
	}
	return b
}
