package scheduler

import (
	"context"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/sqlite/sqlitetest"
	"github.com/tock-sched/tock/storage/storetest"
)

const chain = `
defaults: {concurrency: allow}
jobs:
  - name: a
    schedule: "* * * * *"
    command: ["true"]
  - name: b
    after: [a]
    command: ["true"]
  - name: c
    after: [{job: b, on: failure}]
    command: ["true"]
`

// TestDependentsFollowUpstream: the leader queues a dependent run when its
// upstream run ends (and rings its doorbell), once; a job without a
// schedule is never dispatched by the heap; the chain goes on from b.
func TestDependentsFollowUpstream(t *testing.T) {
	r := newRig(t, chain)
	r.start()
	ctx := context.Background()
	r.step(time.Minute)
	r.waitQueued(1)
	items := r.drain()
	if len(items) != 1 || items[0].Job != "a" {
		t.Fatalf("doorbells %+v, want a's run", items)
	}
	aID := items[0].RunID
	finishItem(t, r.store, items[0], jobs.StatusSucceeded, r.clk.Now())
	r.step(2 * time.Second)
	items = r.drain()
	if len(items) != 1 || items[0].Job != "b" {
		t.Fatalf("doorbells after a ended: %+v, want b's run", items)
	}
	b, _, err := r.store.GetRun(ctx, items[0].RunID)
	if err != nil || b.Trigger != jobs.TriggerDependency || !slices.Equal(b.UpstreamRuns, []int64{aID}) {
		t.Fatalf("b's run %+v, %v", b, err)
	}
	finishItem(t, r.store, items[0], jobs.StatusFailed, r.clk.Now())
	r.step(2 * time.Second)
	items = r.drain()
	if len(items) != 1 || items[0].Job != "c" {
		t.Fatalf("doorbells after b failed: %+v, want c's run", items)
	}
	// Minutes pass: a ticks (and its runs stay queued), b and c have no
	// schedule rows and no further runs.
	r.step(3 * time.Minute)
	for _, job := range []string{"b", "c"} {
		runs, err := r.store.ListRuns(ctx, storage.RunFilter{Job: job, Limit: 100})
		if err != nil || len(runs) != 1 {
			t.Fatalf("runs of %s: %d (%v), want 1", job, len(runs), err)
		}
	}
}

// finishItem claims the run of a doorbell and ends it with st.
func finishItem(t *testing.T, s storage.Store, it storage.QueueItem, st jobs.RunStatus, now time.Time) {
	t.Helper()
	run, err := storetest.ClaimOne(context.Background(), s, storage.ClaimParams{RunID: it.RunID, Job: it.Job, Digest: it.Digest,
		Node: "w", Now: now, LeaseUntil: now.Add(time.Minute)})
	if err != nil {
		t.Fatalf("claiming run %d: %v", it.RunID, err)
	}
	if _, err := s.Finish(context.Background(), storage.FinishParams{RunID: run.ID, Attempt: run.Attempt, Node: "w",
		Status: st, FinishedAt: now}); err != nil {
		t.Fatalf("finishing run %d: %v", it.RunID, err)
	}
}

// countingDeps counts ResolveDeps calls.
type countingDeps struct {
	storage.Store
	calls atomic.Int64
}

func (c *countingDeps) ResolveDeps(ctx context.Context, p storage.DepsParams) ([]jobs.Run, error) {
	c.calls.Add(1)
	return c.Store.ResolveDeps(ctx, p)
}

// TestNoDependencyQueriesWithoutAfter: a config without after costs one
// ResolveDeps per term (to settle what an earlier config left pending),
// not one per poll; a reload that adds after makes every poll resolve.
func TestNoDependencyQueriesWithoutAfter(t *testing.T) {
	st := &countingDeps{Store: sqlitetest.NewStore(t)}
	r := newRigOn(t, everyMinute, st, clock.NewFake(t0))
	r.start()
	r.step(10 * time.Second)
	if n := st.calls.Load(); n != 1 {
		t.Fatalf("ResolveDeps called %d times in 10 polls without after, want 1", n)
	}
	r.s.SetConfig(mustConfig(t, chain))
	r.step(10 * time.Second)
	if n := st.calls.Load(); n < 9 {
		t.Fatalf("ResolveDeps called %d times in all after a reload added after, want one per poll", n)
	}
}
