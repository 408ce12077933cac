package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// requeueLimit caps the runs re-enqueued per reap.
const requeueLimit = 10000

// reapLoop runs on the leader: attempts whose lease expired become lost and
// are retried while attempts remain (I5); queued runs whose doorbell was lost
// are enqueued again (I4); runs no worker could take are failed.
func (s *Scheduler) reapLoop(ctx context.Context, endTerm context.CancelCauseFunc, epoch int64) {
	clock.Loop(ctx, s.opts.Clock, 0, func(ctx context.Context) (time.Duration, bool) {
		if err := s.reap(ctx, epoch); err != nil && ctx.Err() == nil {
			if errors.Is(err, storage.ErrFenced) {
				endTerm(err)
				return 0, true
			}
			s.storeError("reap", err)
			s.log.Warn("reaping", slog.Any("error", err))
		}
		return s.opts.ReapInterval, false
	})
}

// reap does one pass.
func (s *Scheduler) reap(ctx context.Context, epoch int64) error {
	s.retryUnrung(ctx)
	now := s.opts.Clock.Now()
	cfg := s.cfg.Load()
	lost, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
		return s.opts.Store.ReapExpired(ctx, storage.ReapParams{Epoch: epoch, Now: now, Backoff: func(r jobs.Run) time.Duration {
			if j := cfg.Job(r.Job); j != nil {
				return jobs.Backoff(j.RetryBackoff, j.RetryBackoffMax, r.Attempt+1)
			}
			return 0
		}})
	})
	if err != nil {
		return fmt.Errorf("reaping expired attempts: %w", err)
	}
	ring := lost[:0:0]
	for _, r := range lost {
		s.log.Warn("attempt lease expired", slog.String("job", r.Job), slog.Int64("run_id", r.ID),
			slog.Int("attempt", r.Attempt), slog.String("status", string(r.Status)))
		if r.Status == jobs.StatusQueued && !r.NotBefore.After(now.Add(s.opts.Lookahead)) {
			ring = append(ring, r)
		}
	}
	s.reaped("lost", len(lost))
	// The retry of a lost attempt is rung now, not after RequeueAfter.
	s.push(ctx, ring)

	// Shards pinned to a node that stopped heartbeating go to any
	// matching replica.
	released, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
		return s.opts.Store.ReleasePins(ctx, storage.ReleaseParams{Epoch: epoch, Now: now, LiveSince: now.Add(-s.opts.NodeAlive)})
	})
	if err != nil {
		return fmt.Errorf("releasing shards pinned to dead nodes: %w", err)
	}
	for _, r := range released {
		s.log.Warn("shard released: its pinned node is no longer live", slog.String("job", r.Job), slog.Int64("run_id", r.ID),
			slog.Int("shard", r.Shard), slog.Int("shard_total", r.ShardTotal))
	}
	s.push(ctx, released)
	s.reaped("released", len(released))

	due, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
		return s.opts.Store.DueQueued(ctx, now, now.Add(-s.opts.RequeueAfter), requeueLimit)
	})
	if err != nil {
		return fmt.Errorf("listing queued runs to re-enqueue: %w", err)
	}
	s.push(ctx, due)
	s.reaped("requeued", len(due))

	failed, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
		return s.opts.Store.FailUnclaimed(ctx, now.Add(-s.opts.DispatchTimeout), now)
	})
	if err != nil {
		return fmt.Errorf("failing unclaimed runs: %w", err)
	}
	unplaced := 0
	for _, r := range failed {
		s.log.Error("run failed: no worker claimed it", slog.String("job", r.Job), slog.Int64("run_id", r.ID),
			slog.String("digest", r.Digest), slog.String("run_on_labels", r.RunOnLabels),
			slog.Duration("dispatch_timeout", s.opts.DispatchTimeout))
		if r.RunOnLabels != "" {
			unplaced++
		}
	}
	s.reaped("unclaimed", len(failed))
	// Of those, the runs that required labels: no live replica matched.
	s.reaped("unplaced", unplaced)
	return nil
}

func (s *Scheduler) reaped(kind string, n int) {
	if n > 0 && s.opts.Events.Reaped != nil {
		s.opts.Events.Reaped(kind, n)
	}
}
