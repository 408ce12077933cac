package scheduler

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

// flakyLease is a lease whose renewals the test controls: ok, an error
// (Redis unreachable), or lost (answered 0).
type flakyLease struct {
	clk clock.Clock
	mu  sync.Mutex
	err error
}

const flakyTTL = 6 * time.Second

func (l *flakyLease) setRenew(err error) { l.mu.Lock(); l.err = err; l.mu.Unlock() }

func (l *flakyLease) Acquire(context.Context) (bool, time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return false, time.Time{}, l.err
	}
	return true, l.clk.Now().Add(flakyTTL - time.Second), nil
}

func (l *flakyLease) Renew(context.Context) (time.Time, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err != nil {
		return time.Time{}, l.err
	}
	return l.clk.Now().Add(flakyTTL - time.Second), nil
}

func (l *flakyLease) Release(context.Context) error            { return nil }
func (l *flakyLease) Released(context.Context) <-chan struct{} { return nil }
func (l *flakyLease) TTL() time.Duration                       { return flakyTTL }

// I3: with Redis unreachable the leader stops at its local deadline (sent
// time + TTL − margin), not later, even though nobody told it the lease is
// gone; a renewal answered 0 steps it down at once.
func TestLeaseDeadlineAndLoss(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		renewErr error
		want     error
		// maxDown is how long after the failure the term may still run.
		maxDown time.Duration
	}{
		{"redis unreachable: step down at the deadline", errors.New("dial tcp: connection refused"), errLeaseDeadline, flakyTTL},
		{"renewal answered 0: step down at once", storage.ErrLeaseLost, errLeaseLost, flakyTTL / 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, everyMinute)
			lease := &flakyLease{clk: r.clk}
			r.s.opts.Lease = lease
			r.start()
			lease.setRenew(tc.renewErr)
			failedAt := r.clk.Now()
			for {
				select {
				case err := <-r.down:
					if !errors.Is(err, tc.want) {
						t.Fatalf("stepped down with %v, want %v", err, tc.want)
					}
					if late := r.clk.Now().Sub(failedAt); late > tc.maxDown {
						t.Fatalf("led %s after the lease failed, want ≤ %s", late, tc.maxDown)
					}
					if r.s.IsLeader() {
						t.Fatal("still reports leader")
					}
					return
				case <-r.clk.BlockUntil(leaderTimers):
					// Every loop of the term waits: step the clock.
					if r.clk.Now().Sub(failedAt) > 2*flakyTTL {
						t.Fatal("never stepped down")
					}
					r.clk.Advance(100 * time.Millisecond)
				}
			}
		})
	}
}

// cutStore fails every store call of the leader's store watch once cut,
// as a MySQL link refusing connections does.
type cutStore struct {
	storage.Store
	mu  sync.Mutex
	cut bool
}

func (c *cutStore) setCut(v bool) { c.mu.Lock(); c.cut = v; c.mu.Unlock() }

func (c *cutStore) Leader(ctx context.Context) (string, int64, error) {
	c.mu.Lock()
	cut := c.cut
	c.mu.Unlock()
	if cut {
		return "", 0, errors.New("dial tcp 127.0.0.1:3306: connection refused")
	}
	return c.Store.Leader(ctx)
}

// I11: a leader that cannot complete a store round trip steps down within
// StoreBound although its lease (Redis) is fine, and a store naming another
// epoch fences it at the next check.
func TestLeaderStepsDownWithoutStore(t *testing.T) {
	t.Parallel()
	r := newRig(t, everyMinute)
	cs := &cutStore{Store: r.store}
	r.s.opts.Store = cs
	r.s.opts.StoreBound = 2 * time.Second
	r.start()
	r.step(3 * time.Second)
	if !r.s.IsLeader() {
		t.Fatal("stepped down with the store answering")
	}
	cs.setCut(true)
	cutAt := r.clk.Now()
	for {
		select {
		case err := <-r.down:
			if !errors.Is(err, errStoreUnreachable) {
				t.Fatalf("stepped down with %v, want %v", err, errStoreUnreachable)
			}
			// The watch checks every StoreBound/3: the term may outlive
			// the bound by one check.
			if late := r.clk.Now().Sub(cutAt); late > r.s.opts.StoreBound+r.s.opts.StoreBound/3 {
				t.Fatalf("led %s after the store stopped answering, want ≤ %s", late, r.s.opts.StoreBound*4/3)
			}
			return
		case <-r.clk.BlockUntil(leaderTimers):
			if r.clk.Now().Sub(cutAt) > 4*r.s.opts.StoreBound {
				t.Fatal("never stepped down")
			}
			r.clk.Advance(100 * time.Millisecond)
		}
	}
}

func TestLeaderFencedByStoreCheck(t *testing.T) {
	t.Parallel()
	r := newRig(t, everyMinute)
	r.s.opts.StoreBound = 3 * time.Second
	r.start()
	// Another replica fences a newer term.
	if _, err := r.store.BumpEpoch(context.Background(), "n2"); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case err := <-r.down:
			if !errors.Is(err, storage.ErrFenced) {
				t.Fatalf("stepped down with %v, want %v", err, storage.ErrFenced)
			}
			return
		case <-r.clk.BlockUntil(leaderTimers):
			r.clk.Advance(100 * time.Millisecond)
		}
	}
}
