package alerting

import (
	"context"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

const depsLateConfig = `
jobs:
  - name: up
    schedule: "0 0 1 1 *"
    command: ["true"]
    concurrency: allow
  - name: dep
    after: [up]
    command: ["true"]
    concurrency: allow
    alert_late: 20s
`

// TestAlertLateDependency: a dependency run is due when its upstream run
// ended, so a chain that stalls — here the dependent is created late and
// then nobody starts it — raises the dependent's late alert counted from
// the upstream's end.
func TestAlertLateDependency(t *testing.T) {
	t.Parallel()
	a := newAlertRig(t, newRig(t, depsLateConfig))
	epoch := a.start() // checks every 5s from then on
	ctx := context.Background()
	now := a.clk.Now()
	cfg := a.cfg.Load()
	if _, err := a.store.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: now, Runs: []storage.NewRun{{Job: "up",
		Digest: cfg.Job("up").Digest, ScheduledAt: now, NotBefore: now, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
		MaxAttempts: 1, Concurrency: jobs.ConcurrencyAllow, DepsPending: true}}}); err != nil {
		t.Fatal(err)
	}
	a.finish(a.claim(a.queuedRun("up")), jobs.StatusSucceeded, "")
	a.expect(10 * time.Second)
	// The leader creates the dependent 10s after the upstream ended.
	if _, err := a.store.ResolveDeps(ctx, storage.DepsParams{Epoch: epoch, Now: a.clk.Now(), Dependents: cfg.Dependents, Job: cfg.Job}); err != nil {
		t.Fatal(err)
	}
	dep := a.queuedRun("dep")
	if dep.Trigger != jobs.TriggerDependency {
		t.Fatalf("dependent run %+v", dep)
	}
	// 20s after the upstream ended it is not late yet; at 25s it is.
	a.expect(10 * time.Second)
	a.expect(5*time.Second, Alert{Job: "dep", Kind: AlertLate, Firing: true, RunID: dep.ID, Detail: "(dependency, due"})
}
