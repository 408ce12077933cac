package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// prunePause is the breather between two full prune batches, so that a
// large backlog is deleted in short transactions that let dispatch and
// workers write in between (SQLite has a single writer).
const prunePause = 100 * time.Millisecond

// pruneLoop runs on the leader: every PruneInterval it deletes history the
// config's history block no longer keeps, one batch per rule at a time,
// pausing briefly between full batches until a round finds less than a
// batch to delete.
//
// Prune is not fenced (I2) and does not need to be: it deletes only
// terminal runs, which nothing changes any more, so an ex-leader that
// prunes on for a moment deletes only what the new leader would. Its errors
// therefore never end the term.
func (s *Scheduler) pruneLoop(ctx context.Context) {
	clock.Loop(ctx, s.opts.Clock, s.opts.PruneInterval, func(ctx context.Context) (time.Duration, bool) {
		more, err := s.pruneRound(ctx)
		if err != nil && ctx.Err() == nil {
			s.storeError("prune", err)
			s.log.Warn("pruning history", slog.Any("error", err))
		}
		if more && err == nil {
			return prunePause, false
		}
		return s.opts.PruneInterval, false
	})
}

// pruneRound deletes at most one batch for each retention rule of the
// config in force and reports whether a rule filled its batch, so that
// more may be due.
//
// The rules are independent, as the config documents them: a finished run
// goes once it is older than history.keep, and once it is not among the
// newest history.keep_per_job runs of its job, whichever comes first.
func (s *Scheduler) pruneRound(ctx context.Context) (more bool, err error) {
	for _, p := range pruneRules(s.cfg.Load().History, s.opts.Clock.Now()) {
		p.Batch, p.Limit = s.opts.PruneBatch, s.opts.PruneBatch
		n, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) (int64, error) {
			return s.opts.Store.Prune(ctx, p)
		})
		if n > 0 {
			s.log.Debug("pruned history", slog.Int64("runs", n), slog.Time("before", p.Before), slog.Int("keep_per_job", p.KeepPerJob))
			if s.opts.Events.Pruned != nil {
				s.opts.Events.Pruned(n)
			}
		}
		if err != nil {
			return false, fmt.Errorf("pruning runs finished before %s (keeping %d per job): %w",
				p.Before.Format(time.RFC3339), p.KeepPerJob, err)
		}
		if n >= int64(p.Limit) {
			more = true
		}
	}
	// The audit trail: as old as history.keep allows, and never more than
	// storage.AuditKeep rows (docs/design.md, audit trail).
	ap := storage.AuditPruneParams{Batch: s.opts.PruneBatch}
	if h := s.cfg.Load().History; h.Keep > 0 {
		ap.Before = s.opts.Clock.Now().Add(-h.Keep)
	}
	if _, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) (int64, error) {
		return s.opts.Store.PruneAudit(ctx, ap)
	}); err != nil {
		return false, fmt.Errorf("pruning the audit trail: %w", err)
	}
	return more, nil
}

// pruneRules turns the history block into Prune calls; none when history
// is kept forever.
func pruneRules(h jobs.HistoryConfig, now time.Time) []storage.PruneParams {
	var rules []storage.PruneParams
	if h.Keep > 0 {
		rules = append(rules, storage.PruneParams{Before: now.Add(-h.Keep)})
	}
	if h.KeepPerJob > 0 {
		rules = append(rules, storage.PruneParams{Before: now, KeepPerJob: h.KeepPerJob})
	}
	return rules
}
