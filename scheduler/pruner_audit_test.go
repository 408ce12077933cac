package scheduler

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/sqlite/sqlitetest"
)

// auditPruneSpy records the PruneAudit calls of the store it wraps.
type auditPruneSpy struct {
	storage.Store
	mu    sync.Mutex
	calls []storage.AuditPruneParams
}

func (s *auditPruneSpy) PruneAudit(ctx context.Context, p storage.AuditPruneParams) (int64, error) {
	s.mu.Lock()
	s.calls = append(s.calls, p)
	s.mu.Unlock()
	return s.Store.PruneAudit(ctx, p)
}

// TestPruneRoundPrunesAudit: every prune round bounds the audit trail, by
// history.keep's age when set, and by count alone when history is kept
// forever.
func TestPruneRoundPrunesAudit(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, yaml string
		before     time.Time
	}{
		{"keep", pruneConfig, t0.Add(-24 * time.Hour)},
		{"forever", "jobs:\n  - name: a\n    schedule: \"0 0 1 1 *\"\n    command: [\"true\"]\n", time.Time{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			spy := &auditPruneSpy{Store: sqlitetest.NewStore(t)}
			r := newRigOn(t, tc.yaml, spy, clock.NewFake(t0))
			r.s.opts.PruneBatch = pruneBatch
			if _, err := r.s.pruneRound(context.Background()); err != nil {
				t.Fatal(err)
			}
			spy.mu.Lock()
			defer spy.mu.Unlock()
			if len(spy.calls) != 1 || !spy.calls[0].Before.Equal(tc.before) || spy.calls[0].Batch != pruneBatch {
				t.Fatalf("PruneAudit calls %+v, want one with Before %s, batch %d", spy.calls, tc.before, pruneBatch)
			}
		})
	}
}
