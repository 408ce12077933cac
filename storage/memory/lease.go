package memory

import (
	"context"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

// LeaseTTL is the in-process lease's time to live: a century, so the local
// deadline never passes and renewals are a formality.
const LeaseTTL = 100 * 365 * 24 * time.Hour

// Lease is the leader lease of a single process: it is always won. It
// implements storage.Lease and is safe for concurrent use.
type Lease struct {
	clock clock.Clock
	never chan struct{}
}

var _ storage.Lease = (*Lease)(nil)

// NewLease returns an in-process lease whose deadlines are read from c
// (pass the scheduler's clock); nil means clock.Real.
func NewLease(c clock.Clock) *Lease {
	if c == nil {
		c = clock.Real{}
	}
	return &Lease{clock: c, never: make(chan struct{})}
}

// Acquire always wins, with a deadline LeaseTTL from now.
func (l *Lease) Acquire(ctx context.Context) (bool, time.Time, error) {
	if err := ctx.Err(); err != nil {
		return false, time.Time{}, err
	}
	return true, l.clock.Now().Add(LeaseTTL), nil
}

// Renew always succeeds, with a deadline LeaseTTL from now.
func (l *Lease) Renew(ctx context.Context) (time.Time, error) {
	if err := ctx.Err(); err != nil {
		return time.Time{}, err
	}
	return l.clock.Now().Add(LeaseTTL), nil
}

// Release does nothing: no one else is waiting.
func (l *Lease) Release(context.Context) error { return nil }

// Released returns a channel that never receives: there is no other
// process to hand over to. It starts nothing, so ctx needs no watching.
func (l *Lease) Released(context.Context) <-chan struct{} { return l.never }

// TTL returns LeaseTTL.
func (l *Lease) TTL() time.Duration { return LeaseTTL }
