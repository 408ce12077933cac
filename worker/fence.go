package worker

import (
	"errors"
	"fmt"
	"sync"
	"time"
)

// ErrStartFenced: the attempt's lease deadline passed before it could
// start, e.g. because this replica was frozen (I10). The attempt is not
// started; its run is retried when attempts remain.
var ErrStartFenced = errors.New("attempt lease deadline passed before the start")

// leaseFence is an attempt's lease as this replica knows it (I10): the
// deadline, on the pool's clock, by which the attempt must have started
// and after which it must not run on. It is the time the claim (or the
// last successful heartbeat) was sent, plus the attempt lease, minus the
// start margin. The store may think the lease lasts longer, never shorter:
// the deadline is taken before the request the store's lease_until is
// computed from, and the pool's clock is the store's clock (I9).
type leaseFence struct {
	lease, margin time.Duration

	mu       sync.Mutex
	deadline time.Time
}

func newLeaseFence(sent time.Time, lease, margin time.Duration) *leaseFence {
	return &leaseFence{lease: lease, margin: margin, deadline: sent.Add(lease - margin)}
}

// renewed moves the deadline after a heartbeat sent at sent succeeded.
func (f *leaseFence) renewed(sent time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if d := sent.Add(f.lease - f.margin); d.After(f.deadline) {
		f.deadline = d
	}
}

// until returns the deadline.
func (f *leaseFence) until() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.deadline
}

// check returns ErrStartFenced (wrapped with the overrun) once now is at or
// past the deadline.
func (f *leaseFence) check(now time.Time) error {
	if d := f.until(); !now.Before(d) {
		return fmt.Errorf("%w (%s past the deadline)", ErrStartFenced, now.Sub(d).Round(time.Millisecond))
	}
	return nil
}
