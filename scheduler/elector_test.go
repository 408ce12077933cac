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

// downStore is a store that cannot be reached: every epoch bump fails.
type downStore struct {
	storage.Store
	bumps atomic.Int64
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
}

func (l *notifyingLease) Acquire(context.Context) (bool, time.Time, error) {
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

// While the store is down, a replica that wins the lease but cannot fence
// its term must wait out its retry interval. It used to answer the release
// notification of its own release at once, so during a MariaDB outage the
// replicas spun through acquire, bump, release thousands of times a second
// (seen in a chaos run: 7,369 failed bumps in a 3.6s outage).
func TestFenceFailureWaitsRetryInterval(t *testing.T) {
	clk := clock.NewFake(t0)
	st := &downStore{}
	failed := make(chan struct{}, 1)
	s := New(mustConfig(t, everyMinute), Options{
		Node: "n1", Store: st, Lease: &notifyingLease{clk: clk, released: make(chan struct{}, 1)}, Clock: clk,
		RetryInterval: time.Second, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
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
	waitSignal(t, clk.BlockUntil(1), "the elector waiting on its retry timer")
	// The fake clock stands still, so a correct elector does nothing more;
	// a spinning one shows itself within this much real time many times
	// over.
	time.Sleep(200 * time.Millisecond)
	if n := st.bumps.Load(); n != 1 {
		t.Fatalf("%d epoch bumps while the clock stood still; want 1 until the retry interval passes", n)
	}
	clk.Advance(time.Second)
	waitSignal(t, failed, "a retry after the retry interval")
	if n := st.bumps.Load(); n != 2 {
		t.Fatalf("%d epoch bumps after one retry interval; want 2", n)
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
