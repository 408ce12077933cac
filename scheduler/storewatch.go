package scheduler

import (
	"context"
	"fmt"
	"log/slog"

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
	t := s.opts.Clock.NewTimer(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		if err := s.opts.Healthy(); err != nil {
			endTerm(fmt.Errorf("%w: %w", errUnhealthy, err))
			return
		}
		sent := s.opts.Clock.Now()
		left := lastOK.Add(s.opts.StoreBound).Sub(sent)
		if left <= 0 {
			endTerm(errStoreUnreachable)
			return
		}
		cctx, cancel := context.WithTimeout(ctx, left)
		_, stored, err := s.opts.Store.Leader(cctx)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err == nil && stored != epoch:
			endTerm(fmt.Errorf("%w: the store names epoch %d, this term is %d", storage.ErrFenced, stored, epoch))
			return
		case err == nil:
			lastOK = sent
		default:
			s.storeError("leader_check", err)
			if !s.opts.Clock.Now().Before(lastOK.Add(s.opts.StoreBound)) {
				endTerm(fmt.Errorf("%w: %w", errStoreUnreachable, err))
				return
			}
			s.log.Warn("leader store check failed", slog.Any("error", err))
		}
		t.Reset(every)
	}
}
