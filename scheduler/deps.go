package scheduler

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/tock-sched/tock/internal/storecall"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

// resolveDeps creates the dependent runs of ended upstream runs (after:)
// in the store's fenced ResolveDeps and rings their doorbells. With no
// job declaring after it calls the store once per term or reload, to
// resolve runs left pending by an earlier config, and then not at all:
// clusters without dependencies pay no query per poll.
func (t *term) resolveDeps(ctx context.Context) error {
	if !t.cfg.HasDeps() {
		if t.depsDrained == t.cfg {
			return nil
		}
	}
	s := t.s
	for {
		paused := func(name string) bool {
			if t.storePaused[name] {
				return true
			}
			j := t.cfg.Job(name)
			return j != nil && j.Paused
		}
		queued, err := storecall.Do(ctx, s.opts.StoreTimeout, func(ctx context.Context) ([]jobs.Run, error) {
			return s.opts.Store.ResolveDeps(ctx, storage.DepsParams{Epoch: t.epoch, Now: s.opts.Clock.Now(),
				Dependents: t.cfg.Dependents, Job: t.cfg.Job, Paused: paused, Limit: depsBatch})
		})
		if err != nil {
			return fmt.Errorf("resolving dependent runs: %w", err)
		}
		if len(queued) > 0 {
			t.log.Info("dependent runs queued", slog.Int("runs", len(queued)))
			if s.opts.Events.DependentsQueued != nil {
				s.opts.Events.DependentsQueued(queued)
			}
		}
		s.push(ctx, queued)
		if !t.cfg.HasDeps() {
			// Only runs of jobs without dependents were pending: one
			// call resolved a batch of them; the next term or reload
			// goes on if more were left.
			t.depsDrained = t.cfg
		}
		if len(queued) < depsBatch {
			return nil
		}
	}
}

// depsBatch bounds the upstream runs one ResolveDeps call reads.
const depsBatch = 500
