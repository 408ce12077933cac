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
