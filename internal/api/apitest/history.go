// Package apitest builds a SQLite store holding a small, known run history
// for the tests of the API, the dashboard and the HTTP server. It is test
// support only: no production code imports it.
package apitest

import (
	"context"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/sqlite/sqlitetest"
	"github.com/tock-sched/tock/storage/storetest"
)

// Now is the history's "now": every time in it is relative to it.
var Now = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

// NowClock returns a fake clock set to Now.
func NowClock() *clock.Fake { return clock.NewFake(Now) }

// ConfigYAML is the config of the history's jobs: backup (every 5 minutes,
// 2 retries), report (daily, Europe/Berlin, shell) and frozen (paused in
// the config).
const ConfigYAML = `
jobs:
  - name: backup
    schedule: "*/5 * * * *"
    command: ["/bin/true"]
    retries: 2
    concurrency: allow
  - name: report
    schedule: "30 2 * * *"
    timezone: Europe/Berlin
    shell: "echo report"
    concurrency: allow
  - name: frozen
    schedule: "@hourly"
    command: ["/bin/true"]
    paused: true
`

// ScriptOutput is the captured output of the succeeded run: HTML that a
// page must escape.
const ScriptOutput = "<script>alert('x')</script>\nbackup done\n"

// History is a store with known runs and nodes.
type History struct {
	Store  storage.Store
	Config *jobs.Config
	// Run ids: backup's succeeded (output ScriptOutput), failed (exit 3)
	// and queued runs; report's running run and missed tick.
	Succeeded, Failed, Queued, Running, Missed int64
}

// MustConfig parses a config or fails the test.
func MustConfig(t testing.TB, src string) *jobs.Config {
	t.Helper()
	cfg, err := jobfile.Parse("tock.yaml", []byte(src))
	if err != nil {
		t.Fatalf("parsing config: %v", err)
	}
	return cfg
}

// OpenStore opens and migrates a SQLite store in a temporary directory,
// closed when the test ends.
func OpenStore(t testing.TB) storage.Store {
	t.Helper()
	return sqlitetest.NewStore(t)
}

// NewHistory builds: backup with a succeeded run (output ScriptOutput), a
// failed run and a queued one; report with a running run and a missed tick
// after it; leader node-a at epoch 1; nodes node-a (the leader's config),
// node-b (alive, another digest) and node-c (gone for two hours).
func NewHistory(t testing.TB) *History {
	t.Helper()
	return NewHistoryIn(t, OpenStore(t))
}

// NewHistoryIn builds NewHistory's history in st, an empty store the
// caller opened and migrated (for tests that need its file name, such as
// the CLI's --store tests).
func NewHistoryIn(t testing.TB, st storage.Store) *History {
	t.Helper()
	ctx := context.Background()
	h := &History{Store: st, Config: MustConfig(t, ConfigYAML)}
	t0 := Now
	backup, report := h.Config.Job("backup"), h.Config.Job("report")
	epoch, err := h.Store.BumpEpoch(ctx, "node-a")
	if err != nil {
		t.Fatalf("bumping epoch: %v", err)
	}
	tick := func(j *jobs.Job, at time.Time, st jobs.RunStatus) storage.NewRun {
		return storage.NewRun{Job: j.Name, Digest: j.Digest, ScheduledAt: at, Trigger: jobs.TriggerSchedule, Status: st,
			MaxAttempts: j.MaxAttempts(), NotBefore: at, Concurrency: jobs.ConcurrencyAllow}
	}
	queued, err := h.Store.Dispatch(ctx, storage.DispatchParams{Epoch: epoch, Now: t0.Add(-time.Hour), Runs: []storage.NewRun{
		tick(backup, t0.Add(-50*time.Minute), jobs.StatusQueued),
		tick(backup, t0.Add(-45*time.Minute), jobs.StatusQueued),
		tick(backup, t0.Add(-40*time.Minute), jobs.StatusQueued),
		tick(report, t0.Add(-35*time.Minute), jobs.StatusQueued),
		{Job: report.Name, Digest: report.Digest, ScheduledAt: t0.Add(-30 * time.Minute), Trigger: jobs.TriggerCatchup,
			Status: jobs.StatusMissed, MaxAttempts: 1, NotBefore: t0.Add(-30 * time.Minute), Error: "outside the catch-up window"},
	}})
	if err != nil {
		t.Fatalf("dispatching: %v", err)
	}
	if len(queued) != 4 {
		t.Fatalf("dispatch queued %d runs, want 4", len(queued))
	}
	h.Succeeded, h.Failed, h.Queued, h.Running = queued[0].ID, queued[1].ID, queued[2].ID, queued[3].ID
	runs, err := h.Store.ListRuns(ctx, storage.RunFilter{Status: jobs.StatusMissed, Limit: 10})
	if err != nil || len(runs) != 1 {
		t.Fatalf("listing missed runs: %v %v", runs, err)
	}
	h.Missed = runs[0].ID

	claim := func(id int64, j *jobs.Job) jobs.Run {
		r, err := storetest.ClaimOne(ctx, h.Store, storage.ClaimParams{RunID: id, Job: j.Name, Digest: j.Digest, Node: "node-a",
			Now: t0.Add(-20 * time.Minute), LeaseUntil: t0.Add(time.Hour)})
		if err != nil {
			t.Fatalf("claiming run %d: %v", id, err)
		}
		return r
	}
	finish := func(r jobs.Run, st jobs.RunStatus, code int, out, why string) {
		_, err := h.Store.Finish(ctx, storage.FinishParams{RunID: r.ID, Attempt: r.Attempt, Node: "node-a", Status: st,
			FinishedAt: t0.Add(-19 * time.Minute), ExitCode: &code, Output: out, Error: why})
		if err != nil {
			t.Fatalf("finishing run %d: %v", r.ID, err)
		}
	}
	finish(claim(h.Succeeded, backup), jobs.StatusSucceeded, 0, ScriptOutput, "")
	finish(claim(h.Failed, backup), jobs.StatusFailed, 3, "disk full\n", "exit status 3")
	claim(h.Running, report)

	for _, n := range []storage.Node{
		{ID: "node-a", Host: "host-a", Role: "all", Version: "test", Digest: h.Config.Digest, StartedAt: t0.Add(-time.Hour), Heartbeat: t0.Add(-2 * time.Second)},
		{ID: "node-b", Host: "host-b", Role: "worker", Version: "test", Digest: "0123456789abcdef", StartedAt: t0.Add(-time.Hour), Heartbeat: t0.Add(-3 * time.Second)},
		{ID: "node-c", Host: "host-c", Role: "worker", Version: "old", Digest: "fedcba9876543210", StartedAt: t0.Add(-5 * time.Hour), Heartbeat: t0.Add(-2 * time.Hour)},
	} {
		if err := h.Store.UpsertNode(ctx, n); err != nil {
			t.Fatalf("upserting node: %v", err)
		}
	}
	return h
}
