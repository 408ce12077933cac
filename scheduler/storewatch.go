package scheduler

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
)

// watchStore ends the term when the leader cannot complete a store round
// trip within StoreBound, when the store names another epoch, or when the
// replica stops being healthy (I9, I11). Redis may still renew the lease
// of a leader cut off from MySQL; without this watch such a leader would
// keep the lease while every dispatch hangs, and the cluster would stall.
// Ending the term cancels the hung store calls with it.
func (s *Scheduler) watchStore(ctx context.Context, endTerm context.CancelCauseFunc, epoch int64) {
	every := s.opts.StoreBound / 3
	lastOK := s.opts.Clock.Now()
	clock.Loop(ctx, s.opts.Clock, every, func(ctx context.Context) (time.Duration, bool) {
		if err := s.opts.Healthy(); err != nil {
			endTerm(fmt.Errorf("%w: %w", errUnhealthy, err))
			return 0, true
		}
		sent := s.opts.Clock.Now()
		left := lastOK.Add(s.opts.StoreBound).Sub(sent)
		if left <= 0 {
			endTerm(errStoreUnreachable)
			return 0, true
		}
		cctx, cancel := context.WithTimeout(ctx, left)
		_, stored, err := s.opts.Store.Leader(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return 0, true
		case err == nil && stored != epoch:
			endTerm(fmt.Errorf("%w: the store names epoch %d, this term is %d", storage.ErrFenced, stored, epoch))
			return 0, true
		case err == nil:
			lastOK = sent
		default:
			s.storeError("leader_check", err)
			if !s.opts.Clock.Now().Before(lastOK.Add(s.opts.StoreBound)) {
				endTerm(fmt.Errorf("%w: %w", errStoreUnreachable, err))
				return 0, true
			}
			s.log.Warn("leader store check failed", slog.Any("error", err))
		}
		return every, false
	})
}
