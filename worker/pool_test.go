package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/internal/clock"
	"github.com/tock-sched/tock/internal/tockexec/tockexectest"
	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
	"github.com/tock-sched/tock/storage/memory"
	"github.com/tock-sched/tock/storage/sqlite/sqlitetest"
)

func TestMain(m *testing.M) { tockexectest.VerifyTestMain(m) }

var t0 = time.Date(2026, 11, 29, 12, 0, 0, 0, time.UTC)

const testConfig = `
defaults: {concurrency: allow, retry_backoff: 10s}
jobs:
  - {name: ok, schedule: "* * * * *", command: ["true"]}
  - {name: flaky, schedule: "* * * * *", command: ["false"], retries: 1}
  - {name: slow, schedule: "* * * * *", command: ["sleep", "60"]}
  - {name: one, schedule: "* * * * *", command: ["sleep", "60"], max_concurrency: 1}
`

type rig struct {
	t        *testing.T
	clk      *clock.Fake
	store    storage.Store
	queue    *memory.Queue
	cfg      *jobs.Config
	pool     *Pool
	epoch    int64
	finished chan jobs.Run
	started  chan jobs.Run
}

// exec is a fake executor: jobs named slow/one block until canceled; flaky
// fails; the rest succeed.
func fakeExec(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result {
	// As executor.Execute: nothing starts before the gate says so.
	if o.StartGate != nil {
		if err := o.StartGate(); err != nil {
			return executor.Result{Status: jobs.StatusCanceled, Error: "not started: " + err.Error(), NotStarted: true}
		}
	}
	switch j.Name {
	case "slow", "one":
		<-ctx.Done()
		return executor.Result{Status: jobs.StatusCanceled, Error: "canceled: " + context.Cause(ctx).Error()}
	case "flaky":
		code := 1
		return executor.Result{Status: jobs.StatusFailed, ExitCode: &code, Error: "exit status 1"}
	}
	code := 0
	return executor.Result{Status: jobs.StatusSucceeded, ExitCode: &code, Output: "hello\n"}
}

func newRig(t *testing.T, workers int) *rig {
	t.Helper()
	return newRigWith(t, testConfig, Options{Workers: workers, Exec: fakeExec})
}

// newRigWith starts a pool running the jobs of yaml with o, its store,
// queue, clock and events filled in by the rig.
func newRigWith(t *testing.T, yaml string, o Options) *rig {
	t.Helper()
	r := newIdleRig(t, yaml)
	r.start(o)
	return r
}

// newIdleRig returns a rig with its store, queue and config but no pool
// yet, so that a test can queue runs before the pool first looks.
func newIdleRig(t *testing.T, yaml string) *rig {
	t.Helper()
	ctx := context.Background()
	st := sqlitetest.NewStore(t)
	epoch, err := st.BumpEpoch(ctx, "leader")
	if err != nil {
		t.Fatal(err)
	}
	q, err := memory.NewQueue(memory.QueueOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := jobfile.Parse("test.yaml", []byte(yaml))
	if err != nil {
		t.Fatal(err)
	}
	return &rig{t: t, clk: clock.NewFake(t0), store: st, queue: q, cfg: cfg, epoch: epoch,
		finished: make(chan jobs.Run, 1000), started: make(chan jobs.Run, 1000)}
}

// start starts the rig's pool with o; o.Store defaults to the rig's store
// (a test passes a wrapper of it).
func (r *rig) start(o Options) {
	r.t.Helper()
	if o.Store == nil {
		o.Store = r.store
	}
	o.Node, o.Queue, o.Clock = "w1", r.queue, r.clk
	o.AttemptLease, o.HeartbeatInterval = 30*time.Second, 5*time.Second
	o.Events.Started = func(run jobs.Run, _ time.Duration) { r.started <- run }
	o.Events.Finished = func(run jobs.Run, _ executor.Result) { r.finished <- run }
	r.pool = New(r.cfg, o)
	if err := r.pool.Start(context.Background()); err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(r.pool.Stop)
}

// dispatch inserts a queued run of job and rings its doorbell.
func (r *rig) dispatch(job string, at time.Time) jobs.Run {
	r.t.Helper()
	run := r.queueRow(job, at)
	if err := r.queue.Push(context.Background(), storage.QueueItem{RunID: run.ID, Job: job, Digest: run.Digest}); err != nil {
		r.t.Fatal(err)
	}
	return run
}

func (r *rig) wait(ch chan jobs.Run, what string) jobs.Run {
	r.t.Helper()
	select {
	case run := <-ch:
		return run
	case <-time.After(10 * time.Second):
		r.t.Fatalf("no %s event", what)
	}
	return jobs.Run{}
}

func (r *rig) get(id int64) (jobs.Run, []jobs.Attempt) {
	r.t.Helper()
	run, atts, err := r.store.GetRun(context.Background(), id)
	if err != nil {
		r.t.Fatal(err)
	}
	return run, atts
}

func TestRunSucceeds(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	run := r.dispatch("ok", t0)
	r.wait(r.finished, "finished")
	got, atts := r.get(run.ID)
	if got.Status != jobs.StatusSucceeded || got.Node != "w1" || got.Attempt != 1 || got.FinishedAt == nil {
		t.Fatalf("run = %+v", got)
	}
	if len(atts) != 1 || atts[0].Status != jobs.StatusSucceeded || atts[0].Output != "hello\n" || *atts[0].ExitCode != 0 {
		t.Fatalf("attempts = %+v", atts)
	}
}

func TestFailedAttemptIsRetriedAfterBackoff(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	run := r.dispatch("flaky", t0)
	r.wait(r.finished, "finished")
	got, atts := r.get(run.ID)
	if got.Status != jobs.StatusQueued || !got.NotBefore.Equal(t0.Add(10*time.Second)) {
		t.Fatalf("after attempt 1: status %s not_before %v, want queued at +10s", got.Status, got.NotBefore)
	}
	if len(atts) != 1 || atts[0].Status != jobs.StatusFailed {
		t.Fatalf("attempts = %+v", atts)
	}
	// Not due yet: a doorbell now claims nothing.
	r.queue.Push(context.Background(), storage.QueueItem{RunID: run.ID, Job: "flaky", Digest: got.Digest})
	r.clk.Advance(10 * time.Second)
	r.queue.Push(context.Background(), storage.QueueItem{RunID: run.ID, Job: "flaky", Digest: got.Digest})
	r.wait(r.finished, "finished")
	got, atts = r.get(run.ID)
	if got.Status != jobs.StatusFailed || got.Attempt != 2 || len(atts) != 2 {
		t.Fatalf("after attempt 2: %+v, %d attempts", got, len(atts))
	}
}

func TestForeignDoorbellsRunNothing(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	run := r.dispatch("slow", t0)
	r.wait(r.started, "started")
	ok := r.dispatch("ok", t0)
	// Forged: unknown job, wrong digest, real run under another job's name.
	ctx := context.Background()
	r.queue.Push(ctx,
		storage.QueueItem{RunID: 999, Job: "rm-rf", Digest: "x"},
		storage.QueueItem{RunID: ok.ID, Job: "ok", Digest: "wrong"},
		storage.QueueItem{RunID: run.ID, Job: "ok", Digest: r.cfg.Job("ok").Digest},
	)
	r.wait(r.finished, "finished") // the genuine "ok" run
	// One more genuine run proves the forged items were consumed and skipped.
	ok2 := r.dispatch("ok", t0.Add(time.Minute))
	if got := r.wait(r.finished, "finished"); got.ID != ok2.ID {
		t.Fatalf("finished run %d, want %d", got.ID, ok2.ID)
	}
	if got, atts := r.get(run.ID); got.Attempt != 1 || len(atts) != 1 {
		t.Fatalf("slow run claimed again through a forged doorbell: %+v", got)
	}
}

func TestPoolBoundsAndMaxConcurrency(t *testing.T) {
	t.Parallel()
	r := newRig(t, 3)
	r.dispatch("one", t0)
	b := r.dispatch("one", t0.Add(time.Minute))
	r.wait(r.started, "started")
	for i := 0; i < 4; i++ {
		r.dispatch("slow", t0.Add(time.Duration(i)*time.Minute))
	}
	r.wait(r.started, "started")
	r.wait(r.started, "started")
	if busy := r.pool.Busy(); busy != 3 {
		t.Fatalf("busy = %d, want 3 (the pool size)", busy)
	}
	// max_concurrency 1: b stays queued while a runs.
	if got, _ := r.get(b.ID); got.Status != jobs.StatusQueued {
		t.Fatalf("second run of a max_concurrency=1 job is %s", got.Status)
	}
}

func TestCancelRequestStopsAttempt(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	run := r.dispatch("slow", t0)
	r.wait(r.started, "started")
	if _, err := r.store.RequestCancel(context.Background(), run.ID, r.clk.Now()); err != nil {
		t.Fatal(err)
	}
	<-r.clk.BlockUntil(1)
	r.clk.Advance(5 * time.Second) // next heartbeat sees the request
	r.wait(r.finished, "finished")
	got, atts := r.get(run.ID)
	if got.Status != jobs.StatusCanceled || atts[0].Status != jobs.StatusCanceled {
		t.Fatalf("run %s attempt %s, want canceled", got.Status, atts[0].Status)
	}
}

func TestReapedAttemptStopsWithoutWriting(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	run := r.dispatch("slow", t0)
	r.wait(r.started, "started")
	// The reaper (on the leader) decides the attempt's lease expired.
	if _, err := r.store.ReapExpired(context.Background(), storage.ReapParams{Epoch: r.epoch, Now: t0.Add(time.Hour),
		Backoff: func(jobs.Run) time.Duration { return 0 }}); err != nil {
		t.Fatal(err)
	}
	<-r.clk.BlockUntil(1)
	r.clk.Advance(5 * time.Second) // heartbeat → lease lost → attempt canceled
	r.pool.Stop()
	got, atts := r.get(run.ID)
	if atts[0].Status != jobs.StatusLost {
		t.Fatalf("attempt = %s, want lost (the worker must not overwrite it)", atts[0].Status)
	}
	if got.Status == jobs.StatusRunning {
		t.Fatalf("run still running")
	}
}

func TestShutdownCancelsAfterGraceAndRecords(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	run := r.dispatch("slow", t0)
	r.wait(r.started, "started")
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // grace already over
	r.pool.Shutdown(ctx)
	got, atts := r.get(run.ID)
	if got.Status != jobs.StatusCanceled || len(atts) != 1 || atts[0].Status != jobs.StatusCanceled {
		t.Fatalf("after shutdown: run %s, attempts %+v", got.Status, atts)
	}
	if !strings.Contains(atts[0].Error, ErrShutdown.Error()) {
		t.Fatalf("canceled attempt error %q does not name the shutdown", atts[0].Error)
	}
}

// flakyStore fails the first failMany FinishMany calls and the first
// failOne Finish calls as an unreachable store would, and records the
// size of every ClaimMany and FinishMany call and the results a failed
// FinishMany left to Finish.
type flakyStore struct {
	storage.Store
	failMany, failOne int

	mu          sync.Mutex
	manyCalls   int
	oneCalls    int
	claimSizes  []int
	finishSizes []int
	failedItems int
}

var errStoreDown = errors.New("dial tcp 127.0.0.1:3306: connect: connection refused")

func (f *flakyStore) ClaimMany(ctx context.Context, ps []storage.ClaimParams) ([]jobs.Run, error) {
	f.mu.Lock()
	f.claimSizes = append(f.claimSizes, len(ps))
	f.mu.Unlock()
	return f.Store.ClaimMany(ctx, ps)
}

func (f *flakyStore) FinishMany(ctx context.Context, ps []storage.FinishParams) ([]storage.FinishResult, error) {
	f.mu.Lock()
	f.manyCalls++
	f.finishSizes = append(f.finishSizes, len(ps))
	fail := f.manyCalls <= f.failMany
	if fail {
		f.failedItems += len(ps)
	}
	f.mu.Unlock()
	if fail {
		return nil, errStoreDown
	}
	return f.Store.FinishMany(ctx, ps)
}

func (f *flakyStore) Finish(ctx context.Context, p storage.FinishParams) (jobs.Run, error) {
	f.mu.Lock()
	f.oneCalls++
	fail := f.oneCalls <= f.failOne
	f.mu.Unlock()
	if fail {
		return jobs.Run{}, errStoreDown
	}
	return f.Store.Finish(ctx, p)
}

// stepUntil advances the clock through the pool's backoff timers until n
// runs finished, and returns them.
func (r *rig) stepUntil(n int) []jobs.Run {
	r.t.Helper()
	var out []jobs.Run
	for len(out) < n {
		select {
		case run := <-r.finished:
			out = append(out, run)
		case <-r.clk.BlockUntil(1):
			r.clk.Advance(time.Second)
		case <-time.After(10 * time.Second):
			r.t.Fatalf("%d of %d results recorded", len(out), n)
		}
	}
	return out
}

// With the store down when an attempt ends, the worker retries the result
// write with backoff and records it once the store is back: no finished
// result is lost.
func TestFinishRetriedWhileStoreDown(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	flaky := &flakyStore{Store: r.store, failMany: 1, failOne: 3}
	r.start(Options{Store: flaky, Workers: 1, Exec: fakeExec})
	run := r.dispatch("ok", t0)
	r.stepUntil(1)
	got, atts := r.get(run.ID)
	if got.Status != jobs.StatusSucceeded || len(atts) != 1 || atts[0].Output != "hello\n" {
		t.Fatalf("after the store came back: %+v %+v", got, atts)
	}
	if flaky.manyCalls != 1 || flaky.oneCalls != 4 {
		t.Fatalf("FinishMany called %d times, Finish %d times; want 1 failed batch, then 3 failed retries and a success",
			flaky.manyCalls, flaky.oneCalls)
	}
}

// A batch the store fails as a whole is recorded result by result, and
// later batches go through FinishMany again.
func TestFinisherFallsBackWhenBatchFails(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	var runs []jobs.Run
	for i := range 12 {
		runs = append(runs, r.dispatch("ok", t0.Add(time.Duration(i)*time.Minute)))
	}
	flaky := &flakyStore{Store: r.store, failMany: 2}
	r.start(Options{Store: flaky, Workers: 4, Exec: fakeExec})
	finished := r.stepUntil(len(runs))
	for _, f := range finished {
		if f.Status != jobs.StatusSucceeded {
			t.Fatalf("run %d finished %s, want succeeded", f.ID, f.Status)
		}
	}
	for _, run := range runs {
		if got, atts := r.get(run.ID); got.Status != jobs.StatusSucceeded || len(atts) != 1 || atts[0].Status != jobs.StatusSucceeded {
			t.Fatalf("run %d: %s with attempts %+v, want succeeded", run.ID, got.Status, atts)
		}
	}
	flaky.mu.Lock()
	defer flaky.mu.Unlock()
	if flaky.oneCalls != flaky.failedItems {
		t.Fatalf("Finish called %d times for %d results of failed batches, want once each", flaky.oneCalls, flaky.failedItems)
	}
	inBatches := 0
	for _, n := range flaky.finishSizes[min(2, len(flaky.finishSizes)):] {
		inBatches += n
	}
	if flaky.manyCalls < 2 || flaky.failedItems+inBatches != len(runs) {
		t.Fatalf("FinishMany calls %v (first 2 failing), Finish %d: want every result recorded once", flaky.finishSizes, flaky.oneCalls)
	}
}

// More queued runs than one claim batch holds are all claimed, in batches
// of at most ClaimBatch, and all recorded.
func TestClaimsInBatches(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	const n, batch = 50, 4
	want := map[int64]bool{}
	for i := range n {
		want[r.dispatch("ok", t0.Add(time.Duration(i)*time.Minute)).ID] = true
	}
	counting := &flakyStore{Store: r.store}
	r.start(Options{Store: counting, Workers: 8, ClaimBatch: batch, FinishBatch: 5, Exec: fakeExec})
	for range n {
		run := r.wait(r.finished, "finished")
		if !want[run.ID] || run.Status != jobs.StatusSucceeded {
			t.Fatalf("finished run %d (%s): not one of the queued runs, or not succeeded", run.ID, run.Status)
		}
		delete(want, run.ID)
	}
	counting.mu.Lock()
	defer counting.mu.Unlock()
	claimed := 0
	for _, c := range counting.claimSizes {
		if c > batch {
			t.Fatalf("ClaimMany of %d runs, more than ClaimBatch %d: %v", c, batch, counting.claimSizes)
		}
		claimed += c
	}
	// The runs were queued before the pool started: its first pop filled
	// a whole batch.
	if claimed != n || counting.claimSizes[0] != batch {
		t.Fatalf("ClaimMany sizes %v: want %d runs in all, the first call a full batch of %d", counting.claimSizes, n, batch)
	}
	for _, f := range counting.finishSizes {
		if f > 5 {
			t.Fatalf("FinishMany of %d results, more than FinishBatch 5", f)
		}
	}
}

// A doorbell that names the job and digest this replica has, for a run
// whose row holds another digest, claims nothing (I7: the store checks the
// row); the runs of its batch that are genuine run, and every slot comes
// back.
func TestForgedDoorbellInBatchClaimsNothing(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	ctx := context.Background()
	ok := r.cfg.Job("ok")
	stale, err := r.store.Dispatch(ctx, storage.DispatchParams{Epoch: r.epoch, Now: t0, Runs: []storage.NewRun{{
		Job: "ok", Digest: "sha256:other-definition", ScheduledAt: t0.Add(time.Hour), Trigger: jobs.TriggerSchedule,
		Status: jobs.StatusQueued, MaxAttempts: 1, NotBefore: t0, Concurrency: jobs.ConcurrencyAllow,
	}}})
	if err != nil || len(stale) != 1 {
		t.Fatalf("dispatch: %v %v", stale, err)
	}
	r.queue.Push(ctx, storage.QueueItem{RunID: stale[0].ID, Job: "ok", Digest: ok.Digest})
	genuine := r.dispatch("ok", t0)
	r.start(Options{Workers: 2, Exec: fakeExec})
	if got := r.wait(r.finished, "finished"); got.ID != genuine.ID {
		t.Fatalf("finished run %d, want %d", got.ID, genuine.ID)
	}
	if got, atts := r.get(stale[0].ID); got.Status != jobs.StatusQueued || got.Attempt != 0 || len(atts) != 0 {
		t.Fatalf("run with another digest: %s at attempt %d with %d attempts, want queued and untouched", got.Status, got.Attempt, len(atts))
	}
	// Both slots are free again: two long runs start side by side.
	r.dispatch("slow", t0)
	r.dispatch("slow", t0.Add(time.Minute))
	r.wait(r.started, "started")
	r.wait(r.started, "started")
	r.wait(r.started, "started")
	if busy := r.pool.Busy(); busy != 2 {
		t.Fatalf("busy = %d, want 2", busy)
	}
}

// A doorbell rung ahead (the leader's lookahead) is claimed at once, and the
// attempt starts when the run is due, not before; the history says so.
func TestClaimAheadStartsAtNotBefore(t *testing.T) {
	t.Parallel()
	r := newRig(t, 2)
	due := t0.Add(2 * time.Second)
	j := r.cfg.Job("ok")
	runs, err := r.store.Dispatch(context.Background(), storage.DispatchParams{Epoch: r.epoch, Now: r.clk.Now(), Runs: []storage.NewRun{{
		Job: j.Name, Digest: j.Digest, ScheduledAt: due, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
		MaxAttempts: j.MaxAttempts(), NotBefore: due, Concurrency: j.Concurrency,
	}}})
	if err != nil || len(runs) != 1 {
		t.Fatalf("dispatch: %v %v", runs, err)
	}
	if err := r.queue.Push(context.Background(), storage.QueueItem{RunID: runs[0].ID, Job: j.Name, Digest: j.Digest, NotBefore: due}); err != nil {
		t.Fatal(err)
	}
	// Claimed ahead: running, its attempt starting at the tick.
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, atts := r.get(runs[0].ID)
		if got.Status == jobs.StatusRunning {
			if got.StartedAt == nil || !got.StartedAt.Equal(due) || len(atts) != 1 || !atts[0].StartedAt.Equal(due) {
				t.Fatalf("claimed ahead: run %+v attempts %+v, want started at %s", got, atts, due)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("not claimed ahead: %+v", got)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case run := <-r.started:
		t.Fatalf("run %d started at %s, before it is due at %s", run.ID, r.clk.Now(), due)
	case <-time.After(100 * time.Millisecond):
	}
	r.clk.Advance(2 * time.Second)
	r.wait(r.started, "started")
	if run := r.wait(r.finished, "finished"); run.Status != jobs.StatusSucceeded {
		t.Fatalf("finished %+v", run)
	}
	// A doorbell for a run further ahead than the pool claims is left alone.
	far := r.clk.Now().Add(2 * maxClaimAhead)
	runs, err = r.store.Dispatch(context.Background(), storage.DispatchParams{Epoch: r.epoch, Now: r.clk.Now(), Runs: []storage.NewRun{{
		Job: j.Name, Digest: j.Digest, ScheduledAt: far, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
		MaxAttempts: j.MaxAttempts(), NotBefore: far, Concurrency: j.Concurrency,
	}}})
	if err != nil || len(runs) != 1 {
		t.Fatalf("dispatch: %v %v", runs, err)
	}
	if err := r.queue.Push(context.Background(), storage.QueueItem{RunID: runs[0].ID, Job: j.Name, Digest: j.Digest, NotBefore: far}); err != nil {
		t.Fatal(err)
	}
	for {
		if n, _ := r.queue.Len(context.Background()); n == 0 {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	if got, _ := r.get(runs[0].ID); got.Status != jobs.StatusQueued {
		t.Fatalf("run %s ahead was claimed: %+v", far.Sub(r.clk.Now()), got)
	}
}
