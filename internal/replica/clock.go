package replica

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tock-sched/tock/internal/clock"
)

// initialSyncFor bounds the first measurement of the store clock at start.
const initialSyncFor = 15 * time.Second

// syncClock makes the store's clock this replica's time (I9): it measures
// the offset once, retrying while the store is slow to answer, and keeps
// it for the scheduler, the pool and the lease.
func (r *Replica) syncClock(ctx context.Context) error {
	r.synced = clock.NewSynced(clock.SyncedOptions{
		Read:       r.store.Now,
		WarnOffset: r.opts.ClockWarnOffset,
		MaxOffset:  r.opts.MaxClockOffset,
	})
	r.clock = r.synced
	ctx, cancel := context.WithTimeout(ctx, initialSyncFor)
	defer cancel()
	for {
		err := r.synced.Sync(ctx)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("measuring the store clock: %w", err)
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
	r.logClock(false)
	return nil
}

// runClock re-measures the store clock until ctx ends (embedded: nothing to
// measure).
func (r *Replica) runClock(ctx context.Context) {
	if r.synced == nil {
		return
	}
	var warned bool
	r.synced.Run(ctx, func(err error) {
		r.log.Warn("measuring the store clock; the last measurement stays in force", slog.Any("error", err))
	}, func() { warned = r.logClock(warned) })
}

// logClock logs the offset when it crosses the warning threshold (either
// way), and returns whether it is above it now.
func (r *Replica) logClock(warned bool) bool {
	off, rtt, _ := r.synced.Offset()
	warn, err := r.synced.Healthy()
	attrs := []any{slog.Duration("offset", off), slog.Duration("rtt", rtt), slog.Duration("warn_above", r.opts.ClockWarnOffset),
		slog.Duration("max", r.opts.MaxClockOffset)}
	switch {
	case err != nil:
		r.log.Error("clock too far from the store's: not leading or claiming", append(attrs, slog.Any("error", err))...)
	case warn && !warned:
		r.log.Warn("clock far from the store's; times are corrected to the store's", attrs...)
	case !warn && warned:
		r.log.Info("clock back near the store's", attrs...)
	case !warned && !warn:
		r.log.Debug("store clock measured", attrs...)
	}
	return warn || err != nil
}

// clockHealthy is the scheduler's and pool's Healthy: the clock offset is
// measured and within MaxClockOffset (I9).
func (r *Replica) clockHealthy() error {
	if r.synced == nil {
		return nil
	}
	_, err := r.synced.Healthy()
	return err
}

// ClockOffset returns the measured offset of the store's clock to this
// replica's (store minus local) and its sample's round trip; ok is false
// when embedded (the process clock is the store's).
func (r *Replica) ClockOffset() (offset, rtt time.Duration, ok bool) {
	if r.synced == nil {
		return 0, 0, false
	}
	return r.synced.Offset()
}
