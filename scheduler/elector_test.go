package scheduler

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

// downStore is a store whose epoch bumps fail; its clock answers unless
// nowErr is set.
type downStore struct {
	storage.Store
	bumps  atomic.Int64
	nows   atomic.Int64
	nowErr error
}

func (d *downStore) Now(context.Context) (time.Time, error) {
	d.nows.Add(1)
	return t0, d.nowErr
}

func (d *downStore) BumpEpoch(context.Context, string) (int64, error) {
	d.bumps.Add(1)
	return 0, errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")
}

// notifyingLease is always free and, like the Redis lease, notifies every
// subscriber — the releasing replica included — when it is released.
type notifyingLease struct {
	clk      clock.Clock
	released chan struct{}
	acquires atomic.Int64
}

func (l *notifyingLease) Acquire(context.Context) (bool, time.Time, error) {
	l.acquires.Add(1)
	return true, l.clk.Now().Add(l.TTL()), nil
}

func (l *notifyingLease) Renew(context.Context) (time.Time, error) {
	return l.clk.Now().Add(l.TTL()), nil
}

func (l *notifyingLease) Release(context.Context) error {
	select {
	case l.released <- struct{}{}:
	default:
	}
	return nil
}

func (l *notifyingLease) Released(context.Context) <-chan struct{} { return l.released }

func (l *notifyingLease) TTL() time.Duration { return 3 * time.Second }

// A replica that wins the lease but cannot fence its term must release it
// and wait out its fault back-off (I11). It used to answer the release
// notification of its own release at once, so during a MariaDB outage the
// replicas spun through acquire, bump, release thousands of times a second
// (seen in a chaos run: 7,369 failed bumps in a 3.6s outage), and a leader
// whose MySQL link was blackholed took the lease straight back after its
// term and blocked in the bump while holding it.
func TestFenceFailureWaitsFaultBackoff(t *testing.T) {
	clk := clock.NewFake(t0)
	st := &downStore{}
	failed := make(chan struct{}, 1)
	s := New(mustConfig(t, everyMinute), Options{
		Node: "n1", Store: st, Lease: &notifyingLease{clk: clk, released: make(chan struct{}, 1)}, Clock: clk,
		RetryInterval: time.Second, FaultBackoff: 3 * time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Events: Events{StoreError: func(op string, _ error) {
			if op == "bump_epoch" {
				select {
				case failed <- struct{}{}:
				default:
				}
			}
		}},
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	waitSignal(t, failed, "the first failed epoch bump")
	waitSignal(t, clk.BlockUntil(1), "the elector waiting on its back-off timer")
	// The fake clock stands still, so a correct elector does nothing more;
	// a spinning one shows itself within this much real time many times
	// over.
	time.Sleep(200 * time.Millisecond)
	if n := st.bumps.Load(); n != 1 {
		t.Fatalf("%d epoch bumps while the clock stood still; want 1 until the retry interval passes", n)
	}
	clk.Advance(time.Second)
	waitSignal(t, clk.BlockUntil(1), "the elector still backing off")
	time.Sleep(50 * time.Millisecond)
	if n := st.bumps.Load(); n != 1 {
		t.Fatalf("%d epoch bumps one retry interval after a fault; want 1 until the fault back-off passes", n)
	}
	clk.Advance(2 * time.Second)
	waitSignal(t, failed, "a retry after the fault back-off")
	if n := st.bumps.Load(); n != 2 {
		t.Fatalf("%d epoch bumps after the fault back-off; want 2", n)
	}
}

// A replica that cannot complete a store round trip does not compete for
// the lease at all (I11): it would hold the lease while blocked on the
// store.
func TestStoreUnreachableDoesNotCompete(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	st := &downStore{nowErr: errors.New("dial tcp 127.0.0.1:3306: i/o timeout")}
	lease := &notifyingLease{clk: clk, released: make(chan struct{}, 1)}
	s := New(mustConfig(t, everyMinute), Options{
		Node: "n1", Store: st, Lease: lease, Clock: clk,
		RetryInterval: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	for i := range 3 {
		waitSignal(t, clk.BlockUntil(1), "the elector waiting to retry")
		if n := st.nows.Load(); n != int64(i+1) {
			t.Fatalf("%d store checks after %d retry intervals; want %d", n, i, i+1)
		}
		clk.Advance(time.Second)
	}
	if n := lease.acquires.Load(); n != 0 {
		t.Fatalf("%d lease acquisitions with the store unreachable; want 0", n)
	}
}

// A replica whose clock is not healthy (I9) does not compete either.
func TestUnhealthyDoesNotCompete(t *testing.T) {
	t.Parallel()
	clk := clock.NewFake(t0)
	lease := &notifyingLease{clk: clk, released: make(chan struct{}, 1)}
	checked := make(chan struct{}, 10)
	s := New(mustConfig(t, everyMinute), Options{
		Node: "n1", Store: &downStore{}, Lease: lease, Clock: clk, RetryInterval: time.Second,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Healthy: func() error {
			checked <- struct{}{}
			return clock.ErrNotSynced
		},
	})
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	waitSignal(t, checked, "a health check")
	waitSignal(t, clk.BlockUntil(1), "the elector waiting to retry")
	if n := lease.acquires.Load(); n != 0 {
		t.Fatalf("%d lease acquisitions while unhealthy; want 0", n)
	}
}

func waitSignal[T any](t *testing.T, c <-chan T, what string) {
	t.Helper()
	select {
	case <-c:
	case <-time.After(10 * time.Second):
		t.Fatalf("no %s within 10s", what)
	}
}
