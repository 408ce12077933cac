package alerting

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/sqlite/sqlitetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 29, 12, 0, 30, 0, time.UTC)

// watcherTimers is how many timers a Watcher arms while idle: its check
// loop's (the notifier arms one only while it waits to retry).
const watcherTimers = 1

// rig is a Watcher on a fake clock reading a real SQLite store, run for
// one leadership term the way the scheduler's Options.Term runs it. The
// test plays the leader and the workers: it writes and moves the runs.
type rig struct {
	t     *testing.T
	clk   *clock.Fake
	store storage.Store
	cfg   atomic.Pointer[jobs.Config]
	w     *Watcher
	stop  func()
}

func newRig(t *testing.T, yaml string) *rig {
	t.Helper()
	return newRigOn(t, yaml, sqlitetest.NewStore(t), clock.NewFake(t0))
}

func newRigOn(t *testing.T, yaml string, st storage.Store, clk *clock.Fake) *rig {
	t.Helper()
	r := &rig{t: t, clk: clk, store: st}
	r.cfg.Store(mustConfig(t, yaml))
	r.w = New(Options{Node: "n1", Store: st, Config: r.cfg.Load, Clock: clk})
	return r
}

func mustConfig(t *testing.T, yaml string) *jobs.Config {
	t.Helper()
	cfg, err := jobfile.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// start fences a new term in the store and runs the Watcher for it until
// stop (or the test's end); it returns the term's epoch.
func (r *rig) start() int64 {
	r.t.Helper()
	epoch, err := r.store.BumpEpoch(context.Background(), "n1")
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.w.Run(ctx, epoch)
	}()
	r.stop = func() { cancel(); <-done }
	r.t.Cleanup(r.stop)
	return epoch
}

// step advances the fake clock by d in one-second steps, each once the
// Watcher waits on its timer.
func (r *rig) step(d time.Duration) {
	for i := time.Duration(0); i < d; i += time.Second {
		<-r.clk.BlockUntil(watcherTimers)
		r.clk.Advance(time.Second)
	}
}

// fire writes a queued run of each job, due now, as the leader does at a
// tick.
func (r *rig) fire(epoch int64, names ...string) {
	r.t.Helper()
	now := r.clk.Now()
	var runs []storage.NewRun
	for _, name := range names {
		j := r.cfg.Load().Job(name)
		runs = append(runs, storage.NewRun{Job: name, Digest: j.Digest, ScheduledAt: now, NotBefore: now,
			Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued, MaxAttempts: 1, Concurrency: j.Concurrency})
	}
	if _, err := r.store.Dispatch(context.Background(), storage.DispatchParams{Epoch: epoch, Now: now, Runs: runs}); err != nil {
		r.t.Fatal(err)
	}
}
