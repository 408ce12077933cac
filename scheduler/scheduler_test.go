package scheduler

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/memory"
	"github.com/tock-sched/tock/storage/sqlite"
	"github.com/tock-sched/tock/storage/sqlite/sqlitetest"
	"github.com/tock-sched/tock/storage/storetest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 29, 12, 0, 30, 0, time.UTC)

// rig is a scheduler on a fake clock with a real SQLite store and an
// in-process queue; events arrive on channels so tests wait on signals.
type rig struct {
	t       *testing.T
	clk     *clock.Fake
	store   storage.Store
	queue   *memory.Queue
	s       *Scheduler
	elected chan int64
	down    chan error
	batches chan [2]int
	loaded  chan int
	// starts receives, per term, the ticks a warm start planned again,
	// or -1 for a cold start.
	starts chan int
}

func newRig(t *testing.T, yaml string) *rig {
	t.Helper()
	return newRigOn(t, yaml, sqlitetest.NewStore(t), clock.NewFake(t0))
}

func newRigOn(t *testing.T, yaml string, st storage.Store, clk *clock.Fake) *rig {
	t.Helper()
	return newRigWith(t, yaml, st, clk, "n1", memory.NewLease(clk))
}

// newRigWith is newRigOn for replica node competing for lease.
func newRigWith(t *testing.T, yaml string, st storage.Store, clk *clock.Fake, node string, lease storage.Lease) *rig {
	t.Helper()
	q, err := memory.NewQueue(memory.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, clk: clk, store: st, queue: q,
		elected: make(chan int64, 10), down: make(chan error, 10), batches: make(chan [2]int, 1000), loaded: make(chan int, 10), starts: make(chan int, 10)}
	r.s = New(mustConfig(t, yaml), Options{
		Node: node, Store: st, Queue: q, Lease: lease, Clock: clk,
		Jitter: func(*jobs.Job) time.Duration { return 0 },
		// Tests count doorbells: no re-ringing of runs nobody works on.
		RequeueAfter: 24 * time.Hour,
		Events: Events{
			Elected:     func(e int64) { r.elected <- e },
			SteppedDown: func(_ int64, err error) { r.down <- err },
			Dispatched:  func(rows []storage.NewRun, queued int) { r.batches <- [2]int{len(rows), queued} },
			Loaded:      func(n int) { r.loaded <- n },
			TermStart: func(warm bool, ticks int) {
				if !warm {
					ticks = -1
				}
				r.starts <- ticks
			},
		},
	})
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

func (r *rig) start() int64 {
	r.t.Helper()
	if err := r.s.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.s.Stop)
	select {
	case e := <-r.elected:
		return e
	case <-time.After(10 * time.Second):
		r.t.Fatal("not elected")
	}
	return 0
}

// waitQueued waits for dispatch events until n runs were queued in all.
func (r *rig) waitQueued(n int) { r.t.Helper(); r.wait(1, n) }

// waitRows waits for dispatch events until n rows were written in all.
func (r *rig) waitRows(n int) { r.t.Helper(); r.wait(0, n) }

func (r *rig) wait(k, n int) {
	r.t.Helper()
	got := 0
	for got < n {
		select {
		case b := <-r.batches:
			got += b[k]
		case <-time.After(10 * time.Second):
			r.t.Fatalf("dispatched %d, want %d", got, n)
		}
	}
	if got != n {
		r.t.Fatalf("dispatched %d, want %d", got, n)
	}
}

// leaderTimers is how many timers a leader's loops arm while idle: lease
// deadline and renewal, store watch, reaper, pruner, dispatch wait and
// poll (the rig sets no Options.Term).
const leaderTimers = 7

// step advances the fake clock by d in one-second steps, each once every
// loop of the leader waits on its timers.
func (r *rig) step(d time.Duration) {
	for i := time.Duration(0); i < d; i += time.Second {
		<-r.clk.BlockUntil(leaderTimers)
		r.clk.Advance(time.Second)
	}
}

func (r *rig) runs(f storage.RunFilter) []jobs.Run {
	r.t.Helper()
	f.Limit = 1000
	runs, err := r.store.ListRuns(context.Background(), f)
	if err != nil {
		r.t.Fatal(err)
	}
	return runs
}

func (r *rig) drain() []storage.QueueItem {
	var items []storage.QueueItem
	for {
		l, _ := r.queue.Len(context.Background())
		if l == 0 {
			return items
		}
		it, err := storetest.PopOne(context.Background(), r.queue)
		if err != nil {
			r.t.Fatal(err)
		}
		items = append(items, it)
	}
}

const everyMinute = `
defaults: {concurrency: allow}
jobs:
  - name: a
    schedule: "* * * * *"
    command: ["true"]
  - name: b
    schedule: "*/2 * * * *"
    command: ["true"]
`

func TestDispatchEveryTickOnce(t *testing.T) {
	t.Parallel()
	r := newRig(t, everyMinute)
	r.start()
	r.step(5 * time.Minute) // 12:00:30 → 12:05:30: a fires 5×, b at :02 and :04
	r.waitQueued(7)
	items := r.drain()
	if len(items) != 7 {
		t.Fatalf("queue has %d doorbells, want 7", len(items))
	}
	a := r.runs(storage.RunFilter{Job: "a"})
	if len(a) != 5 {
		t.Fatalf("job a has %d runs, want 5", len(a))
	}
	seen := map[time.Time]bool{}
	for _, run := range a {
		if run.Trigger != jobs.TriggerSchedule || run.Status != jobs.StatusQueued {
			t.Errorf("run %d: %s/%s, want schedule/queued", run.ID, run.Trigger, run.Status)
		}
		if run.ScheduledAt.Second() != 0 || seen[run.ScheduledAt] {
			t.Errorf("run %d: scheduled_at %v not a unique minute", run.ID, run.ScheduledAt)
		}
		seen[run.ScheduledAt] = true
	}
}

func TestCatchUpAfterDowntime(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	st, err := sqlite.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "tock.db"), sqlite.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const cfg = `
defaults: {concurrency: allow}
jobs:
  - {name: once, schedule: "* * * * *", command: ["true"], misfire: run_once}
  - {name: all, schedule: "* * * * *", command: ["true"], misfire: run_all}
  - {name: skip, schedule: "* * * * *", command: ["true"], misfire: skip}
  - {name: window, schedule: "* * * * *", command: ["true"], misfire: run_all, catchup_window: 3m}
`
	clk := clock.NewFake(t0)
	r1 := newRigOn(t, cfg, st, clk)
	r1.start()
	r1.step(2 * time.Minute)
	r1.waitQueued(8)
	r1.s.Stop()

	// Down for ten minutes: ticks 12:03 … 12:12 pass with no leader.
	clk.Advance(10 * time.Minute)
	r2 := newRigOn(t, cfg, st, clk)
	r2.start()
	r2.waitQueued(1 + 10 + 0 + 3)
	rows := func(job string, trig jobs.Trigger, status jobs.RunStatus) int {
		return len(r2.runs(storage.RunFilter{Job: job, Trigger: trig, Status: status}))
	}
	for _, c := range []struct {
		job             string
		catchup, missed int
	}{{"once", 1, 9}, {"all", 10, 0}, {"skip", 0, 10}, {"window", 3, 7}} {
		if got := rows(c.job, jobs.TriggerCatchup, jobs.StatusQueued); got != c.catchup {
			t.Errorf("%s: %d catch-up runs, want %d", c.job, got, c.catchup)
		}
		if got := rows(c.job, "", jobs.StatusMissed); got != c.missed {
			t.Errorf("%s: %d missed rows, want %d", c.job, got, c.missed)
		}
		if got := len(r2.runs(storage.RunFilter{Job: c.job})); got != 12 {
			t.Errorf("%s: %d rows, want one per tick (12)", c.job, got)
		}
	}
}

func TestFencedLeaderStepsDown(t *testing.T) {
	t.Parallel()
	r := newRig(t, everyMinute)
	epoch := r.start()
	// Another leader fences this one out.
	if _, err := r.store.BumpEpoch(context.Background(), "n2"); err != nil {
		t.Fatal(err)
	}
	// The next fenced write (a poll, a reap or a dispatch) ends the term.
	r.s.Wake()
	select {
	case err := <-r.down:
		if !errors.Is(err, storage.ErrFenced) {
			t.Fatalf("stepped down with %v, want ErrFenced", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("fenced leader did not step down")
	}
	if n := len(r.runs(storage.RunFilter{})); n != 0 {
		t.Fatalf("fenced leader wrote %d runs (epoch %d)", n, epoch)
	}
}

func TestPauseTriggerReload(t *testing.T) {
	t.Parallel()
	r := newRig(t, everyMinute)
	ctx := context.Background()
	if err := r.store.SetPaused(ctx, "a", true); err != nil {
		t.Fatal(err)
	}
	r.start()
	r.step(2 * time.Minute) // a paused: nothing; b fires at 12:02
	r.waitQueued(1)
	if n := len(r.runs(storage.RunFilter{Job: "a"})); n != 0 {
		t.Fatalf("paused job has %d runs", n)
	}

	run, err := r.store.Trigger(ctx, "a", r.clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	r.s.Wake()
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, _, err := r.store.GetRun(ctx, run.ID)
		if err != nil {
			t.Fatal(err)
		}
		got := r.runs(storage.RunFilter{Job: "a", Trigger: jobs.TriggerManual})
		if len(got) == 1 && got[0].Status == jobs.StatusQueued {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("manual trigger not promoted: %+v", got)
		}
		time.Sleep(10 * time.Millisecond) // waiting on another goroutine's store write, not on time
	}

	// Reload: drop b, add c.
	if err := r.store.SetPaused(ctx, "a", false); err != nil {
		t.Fatal(err)
	}
	<-r.loaded // the term's first load
	r.s.SetConfig(mustConfig(t, `
defaults: {concurrency: allow}
jobs:
  - {name: a, schedule: "* * * * *", command: ["true"], paused: false}
  - {name: c, schedule: "* * * * *", command: ["true"]}
`))
	if n := <-r.loaded; n != 2 {
		t.Fatalf("reload scheduled %d jobs, want 2", n)
	}
	r.step(2 * time.Minute)
	r.waitRows(4) // a and c, twice each
	if n := len(r.runs(storage.RunFilter{Job: "c"})); n != 2 {
		t.Fatalf("reloaded job c never dispatched")
	}
	if n := len(r.runs(storage.RunFilter{Job: "b"})); n != 1 {
		t.Fatalf("removed job b has %d runs, want the 1 from before the reload", n)
	}
}

func TestForbidRecordsSkipped(t *testing.T) {
	t.Parallel()
	r := newRig(t, `
jobs:
  - {name: f, schedule: "* * * * *", command: ["true"], concurrency: forbid}
`)
	r.start()
	r.step(3 * time.Minute) // nobody works: the first run stays queued
	r.waitRows(3)
	runs := r.runs(storage.RunFilter{Job: "f"})
	if len(runs) != 3 {
		t.Fatalf("%d rows, want 3", len(runs))
	}
	skipped := r.runs(storage.RunFilter{Job: "f", Status: jobs.StatusSkipped})
	if len(skipped) != 2 {
		t.Fatalf("%d skipped rows, want 2", len(skipped))
	}
	for _, s := range skipped {
		if s.Error == "" {
			t.Errorf("skipped row %d has no reason", s.ID)
		}
	}
}

// With a lookahead the leader writes a tick's run early and rings its
// doorbell at once, with the run's not_before, for a worker to claim it
// ahead and start it at the tick.
func TestLookaheadWritesAndRingsEarly(t *testing.T) {
	t.Parallel()
	r := newRig(t, "jobs:\n  - name: a\n    schedule: \"*/10 * * * * *\"\n    concurrency: allow\n    shell: \"true\"\n")
	r.s.opts.Lookahead = 3 * time.Second
	r.start()
	<-r.loaded
	ctx := context.Background()
	tick := t0.Truncate(10 * time.Second).Add(10 * time.Second) // 12:00:40
	r.step(tick.Sub(t0) - 4*time.Second)                        // to 12:00:36
	if got := r.runs(storage.RunFilter{Job: "a"}); len(got) != 0 {
		t.Fatalf("run written %s before its tick, lookahead 3s: %+v", tick.Sub(r.clk.Now()), got)
	}
	r.step(time.Second) // 12:00:37
	r.waitRows(1)
	runs := r.runs(storage.RunFilter{Job: "a"})
	if len(runs) != 1 || !runs[0].ScheduledAt.Equal(tick) || !runs[0].NotBefore.Equal(tick) || runs[0].Status != jobs.StatusQueued {
		t.Fatalf("after the lookahead: %+v, want one queued run for %s not before it", runs, tick)
	}
	if !runs[0].CreatedAt.Before(tick) {
		t.Errorf("run written at %s, want before its tick %s", runs[0].CreatedAt, tick)
	}
	pop, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	item, err := storetest.PopOne(pop, r.queue)
	if err != nil || item.RunID != runs[0].ID || !item.NotBefore.Equal(tick) {
		t.Fatalf("doorbell = %+v, %v; want run %d not before %s", item, err, runs[0].ID, tick)
	}
	// The next tick is written and rung once, 3s ahead too.
	r.step(10 * time.Second) // 12:00:47
	r.waitRows(1)
	if got := len(r.runs(storage.RunFilter{Job: "a"})); got != 2 {
		t.Errorf("%d runs at %s, want 2", got, r.clk.Now())
	}
	item, err = storetest.PopOne(pop, r.queue)
	if err != nil || !item.NotBefore.Equal(tick.Add(10*time.Second)) {
		t.Fatalf("second doorbell = %+v, %v", item, err)
	}
	if n, _ := r.queue.Len(ctx); n != 0 {
		t.Errorf("%d more doorbells, want none", n)
	}
}

// Jobs that must not overlap (concurrency forbid, replace) are dispatched at
// their tick whatever the lookahead: the overlap check looks at the runs in
// flight when the tick comes.
func TestLookaheadNotForNonOverlappingJobs(t *testing.T) {
	t.Parallel()
	r := newRig(t, "jobs:\n  - name: b\n    schedule: \"*/10 * * * * *\"\n    concurrency: forbid\n    shell: \"true\"\n")
	r.s.opts.Lookahead = 3 * time.Second
	r.start()
	<-r.loaded
	tick := t0.Truncate(10 * time.Second).Add(10 * time.Second) // 12:00:40
	r.step(tick.Sub(t0) - time.Second)                          // to 12:00:39
	if got := r.runs(storage.RunFilter{Job: "b"}); len(got) != 0 {
		t.Fatalf("forbid job dispatched %s before its tick: %+v", tick.Sub(r.clk.Now()), got)
	}
	r.step(time.Second) // 12:00:40
	r.waitRows(1)
	if got := r.runs(storage.RunFilter{Job: "b"}); len(got) != 1 || !got[0].CreatedAt.Equal(tick) {
		t.Fatalf("at the tick: %+v, want one run written at %s", got, tick)
	}
}
