package clock

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// Defaults of SyncedOptions.
const (
	DefaultSyncInterval = 10 * time.Second
	DefaultSyncSamples  = 5
	DefaultMaxRTT       = 500 * time.Millisecond
	DefaultWarnOffset   = time.Second
	DefaultMaxOffset    = 10 * time.Second
	DefaultMaxSyncAge   = 2 * time.Minute
)

// ErrNotSynced means the clock has no usable measurement of the store's
// clock: none yet, or the last one is older than MaxSyncAge.
var ErrNotSynced = errors.New("clock: store clock offset not measured")

// SyncedOptions configure a Synced clock.
type SyncedOptions struct {
	// Read asks the time authority for its time (Store.Now). Required.
	Read func(ctx context.Context) (time.Time, error)
	// Local is the clock whose readings are corrected; its monotonic
	// reading carries the time between samples. Default Real.
	Local Clock
	// Interval is how often Run samples the authority. Default 10s.
	Interval time.Duration
	// Samples is how many round trips one Sync makes; the one with the
	// shortest round trip is kept. Default 5.
	Samples int
	// MaxRTT rejects samples whose round trip exceeds it: their
	// uncertainty (half the round trip) is too large. Default 500ms.
	MaxRTT time.Duration
	// WarnOffset is the |offset| above which Healthy reports a warning
	// (the clock still works). Default 1s.
	WarnOffset time.Duration
	// MaxOffset is the |offset| above which Healthy fails: the replica
	// neither leads nor claims (I9). Default 10s.
	MaxOffset time.Duration
	// MaxSyncAge is how long one measurement is trusted without a newer
	// one. Default 2m.
	MaxSyncAge time.Duration
}

// Synced is the store's clock as seen from this replica (I9): a local
// monotonic reading carried forward from the last measurement of the
// authority's clock. Its Now is store time, so every replica compares and
// waits in one time whatever its own wall clock says; its timers are
// local durations, which store time and local time share.
type Synced struct {
	o SyncedOptions

	mu sync.RWMutex
	// anchorLocal (local clock, monotonic) and anchorStore are one
	// instant: the middle of the best sample's round trip.
	anchorLocal time.Time
	anchorStore time.Time
	offset      time.Duration
	rtt         time.Duration
	synced      bool
}

// NewSynced returns a Synced clock; it reads the local clock until the
// first Sync succeeds.
func NewSynced(o SyncedOptions) *Synced {
	if o.Local == nil {
		o.Local = Real{}
	}
	if o.Interval <= 0 {
		o.Interval = DefaultSyncInterval
	}
	if o.Samples <= 0 {
		o.Samples = DefaultSyncSamples
	}
	if o.MaxRTT <= 0 {
		o.MaxRTT = DefaultMaxRTT
	}
	if o.WarnOffset <= 0 {
		o.WarnOffset = DefaultWarnOffset
	}
	if o.MaxOffset <= 0 {
		o.MaxOffset = DefaultMaxOffset
	}
	if o.MaxSyncAge <= 0 {
		o.MaxSyncAge = DefaultMaxSyncAge
	}
	return &Synced{o: o}
}

// Now returns the store's time now.
func (c *Synced) Now() time.Time {
	c.mu.RLock()
	synced, al, as := c.synced, c.anchorLocal, c.anchorStore
	c.mu.RUnlock()
	now := c.o.Local.Now()
	if !synced {
		return now
	}
	return as.Add(now.Sub(al))
}

// NewTimer returns a local timer: a duration is the same in store time.
func (c *Synced) NewTimer(d time.Duration) Timer { return c.o.Local.NewTimer(d) }

// Offset returns the last measured offset (store minus local) and the round
// trip of its sample; ok is false before the first measurement.
func (c *Synced) Offset() (offset, rtt time.Duration, ok bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.offset, c.rtt, c.synced
}

// Sync measures the authority's clock: Samples round trips, the shortest
// kept, its answer taken as the time at the middle of the round trip (so
// the error is at most half the round trip). It fails when every sample
// failed or took longer than MaxRTT, and then keeps the previous
// measurement.
func (c *Synced) Sync(ctx context.Context) error {
	var (
		best                time.Duration = -1
		bestLocal, bestAuth time.Time
		lastErr             error
	)
	for range c.o.Samples {
		sent := c.o.Local.Now()
		auth, err := c.o.Read(ctx)
		got := c.o.Local.Now()
		if err != nil {
			lastErr = err
			if ctx.Err() != nil {
				break
			}
			continue
		}
		rtt := got.Sub(sent)
		if rtt > c.o.MaxRTT {
			lastErr = fmt.Errorf("round trip %s above %s", rtt, c.o.MaxRTT)
			continue
		}
		if best < 0 || rtt < best {
			best, bestLocal, bestAuth = rtt, sent.Add(rtt/2), auth
		}
	}
	if best < 0 {
		return fmt.Errorf("measuring the store clock: %w", lastErr)
	}
	c.mu.Lock()
	c.anchorLocal, c.anchorStore = bestLocal, bestAuth
	c.offset = bestAuth.Sub(bestLocal.Round(0))
	c.rtt = best
	c.synced = true
	c.mu.Unlock()
	return nil
}

// Healthy reports whether this replica may lead and claim by its clock:
// ErrNotSynced without a recent measurement, an error when |offset|
// exceeds MaxOffset. warn is set when |offset| exceeds WarnOffset.
func (c *Synced) Healthy() (warn bool, err error) {
	c.mu.RLock()
	synced, al, off := c.synced, c.anchorLocal, c.offset
	c.mu.RUnlock()
	if !synced {
		return false, ErrNotSynced
	}
	if age := c.o.Local.Now().Sub(al); age > c.o.MaxSyncAge {
		return false, fmt.Errorf("%w: last measurement %s old", ErrNotSynced, age.Round(time.Millisecond))
	}
	abs := off.Abs()
	if abs > c.o.MaxOffset {
		return true, fmt.Errorf("clock: local clock is %s off the store's, above the limit of %s", off.Round(time.Millisecond), c.o.MaxOffset)
	}
	return abs > c.o.WarnOffset, nil
}

// Run measures the authority every Interval until ctx ends; failures are
// passed to failed (the previous measurement stays in force, and Healthy
// fails once it is older than MaxSyncAge), and measured, when not nil, is
// called after each success.
func (c *Synced) Run(ctx context.Context, failed func(error), measured func()) {
	Loop(ctx, c.o.Local, c.o.Interval, func(ctx context.Context) (time.Duration, bool) {
		switch err := c.Sync(ctx); {
		case err == nil && measured != nil:
			measured()
		case err != nil && ctx.Err() == nil && failed != nil:
			failed(err)
		}
		return c.o.Interval, false
	})
}
