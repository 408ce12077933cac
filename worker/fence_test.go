package worker

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/storage"
)

// claimAhead dispatches a run of job due at due and rings its doorbell
// ahead, as a leader with a lookahead does.
func (r *rig) claimAhead(job string, due time.Time) jobs.Run {
	r.t.Helper()
	j := r.cfg.Job(job)
	runs, err := r.store.Dispatch(context.Background(), storage.DispatchParams{Epoch: r.epoch, Now: r.clk.Now(), Runs: []storage.NewRun{{
		Job: j.Name, Digest: j.Digest, ScheduledAt: due, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
		MaxAttempts: j.MaxAttempts(), NotBefore: due, Concurrency: j.Concurrency,
	}}})
	if err != nil || len(runs) != 1 {
		r.t.Fatalf("dispatch: %v %v", runs, err)
	}
	if err := r.queue.Push(context.Background(), storage.QueueItem{RunID: runs[0].ID, Job: j.Name, Digest: j.Digest, NotBefore: due}); err != nil {
		r.t.Fatal(err)
	}
	r.waitStatus(runs[0].ID, jobs.StatusRunning)
	return runs[0]
}

func (r *rig) waitStatus(id int64, want jobs.RunStatus) jobs.Run {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got, _ := r.get(id)
		if got.Status == want {
			return got
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("run %d is %s, want %s", id, got.Status, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// I10: a replica frozen (SIGSTOP) past the lease of a run it claimed ahead
// must not start the attempt when it thaws: the reaper may have handed the
// tick to another replica meanwhile. One jump of the fake clock past the
// deadline is what a thawed process sees: every timer overdue at once.
func TestFrozenWorkerDoesNotStartAttempt(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name   string
		freeze time.Duration
		starts bool
	}{
		{"thawed before the deadline", 20 * time.Second, true},
		{"thawed past the deadline", 40 * time.Second, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var execs atomic.Int64
			r := newIdleRig(t, testConfig)
			notStarted := make(chan jobs.Run, 1)
			r.start(Options{Workers: 2, Exec: func(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result {
				res := fakeExec(ctx, j, o)
				if !res.NotStarted {
					execs.Add(1)
				}
				return res
			}, Events: Events{NotStarted: func(run jobs.Run) { notStarted <- run }}})
			due := t0.Add(tc.freeze)
			// flaky has a retry left: the tick is retried, not lost.
			run := r.claimAhead("flaky", due)
			// Frozen: nothing ran (no heartbeat) until every timer is overdue.
			<-r.clk.BlockUntil(2) // the wait for the tick and the heartbeat
			r.clk.Advance(tc.freeze)
			if tc.starts {
				<-notStartedOrFinished(t, r, notStarted)
				if n := execs.Load(); n != 1 {
					t.Fatalf("%d executions, want 1", n)
				}
				return
			}
			got := r.waitStatus(run.ID, jobs.StatusQueued)
			_, atts := r.get(run.ID)
			if n := execs.Load(); n != 0 {
				t.Fatalf("the attempt was started %d times after its lease deadline", n)
			}
			if len(atts) != 1 || atts[0].Status != jobs.StatusCanceled || !strings.HasPrefix(atts[0].Error, "not started: ") {
				t.Fatalf("attempts = %+v, want one canceled, not started", atts)
			}
			if got.Attempt != 1 {
				t.Fatalf("run = %+v", got)
			}
		})
	}
}

// notStartedOrFinished fails the test if the attempt was refused its start,
// and returns once it finished.
func notStartedOrFinished(t *testing.T, r *rig, notStarted chan jobs.Run) <-chan struct{} {
	t.Helper()
	select {
	case <-r.finished:
	case run := <-notStarted:
		t.Fatalf("run %d not started although thawed before its lease deadline", run.ID)
	case <-time.After(10 * time.Second):
		t.Fatal("no finish")
	}
	done := make(chan struct{})
	close(done)
	return done
}

// I10: a running attempt whose heartbeats cannot reach the store is stopped
// at its local lease deadline, before the reaper can hand it out.
func TestAttemptStoppedAtLeaseDeadline(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	st := &hbFailStore{Store: r.store}
	r.start(Options{Store: st, Workers: 1, Exec: fakeExec})
	run := r.dispatch("slow", t0)
	r.wait(r.started, "started")
	st.fail.Store(true)
	// The lease is 30s with a 3s margin: stopped at 27s, not later.
	for r.clk.Now().Sub(t0) < 27*time.Second {
		select {
		case <-r.finished:
			t.Fatalf("stopped at %s, before the deadline", r.clk.Now().Sub(t0))
		case <-r.clk.BlockUntil(1):
			r.clk.Advance(500 * time.Millisecond)
		}
	}
	st.fail.Store(false)
	r.wait(r.finished, "finished")
	_, atts := r.get(run.ID)
	if len(atts) != 1 || atts[0].Status != jobs.StatusCanceled || !strings.Contains(atts[0].Error, ErrLeaseExpired.Error()) {
		t.Fatalf("attempts = %+v, want canceled for an expired lease", atts)
	}
}

type hbFailStore struct {
	storage.Store
	fail atomic.Bool
}

func (s *hbFailStore) Heartbeat(ctx context.Context, p storage.HeartbeatParams) (bool, error) {
	if s.fail.Load() {
		return false, errStoreDown
	}
	return s.Store.Heartbeat(ctx, p)
}

// claimFailStore fails claims and its clock while down, as a replica cut off
// from MySQL but not from Redis sees it.
type claimFailStore struct {
	storage.Store
	mu     sync.Mutex
	down   bool
	claims int
	nows   int
}

func (s *claimFailStore) set(down bool) { s.mu.Lock(); s.down = down; s.mu.Unlock() }

func (s *claimFailStore) ClaimMany(ctx context.Context, ps []storage.ClaimParams) ([]jobs.Run, error) {
	s.mu.Lock()
	s.claims++
	down := s.down
	s.mu.Unlock()
	if down {
		return nil, errStoreDown
	}
	return s.Store.ClaimMany(ctx, ps)
}

func (s *claimFailStore) Now(ctx context.Context) (time.Time, error) {
	s.mu.Lock()
	s.nows++
	down := s.down
	s.mu.Unlock()
	if down {
		return time.Time{}, errStoreDown
	}
	return s.Store.Now(ctx)
}

// A replica that reaches the queue but not the store hands popped doorbells
// back at once and takes no more until the store answers, instead of
// swallowing them until the leader's RequeueAfter.
func TestClaimFailureHandsDoorbellsBack(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	st := &claimFailStore{Store: r.store, down: true}
	r.start(Options{Store: st, Workers: 2, Exec: fakeExec})
	run := r.dispatch("ok", t0)
	// The doorbell comes back, and stays there while the store is down.
	deadline := time.Now().Add(10 * time.Second)
	for {
		st.mu.Lock()
		claims := st.claims
		st.mu.Unlock()
		if n, _ := r.queue.Len(context.Background()); n == 1 && claims == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("doorbell not handed back: %d claims", claims)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 3 {
		<-r.clk.BlockUntil(1)
		r.clk.Advance(claimErrorPause)
	}
	st.mu.Lock()
	claims, nows := st.claims, st.nows
	st.mu.Unlock()
	if claims != 1 || nows < 2 {
		t.Fatalf("while the store was down: %d claims (want 1), %d store checks (want ≥ 2)", claims, nows)
	}
	if n, _ := r.queue.Len(context.Background()); n != 1 {
		t.Fatalf("queue holds %d doorbells while the store is down, want 1", n)
	}
	st.set(false)
	<-r.clk.BlockUntil(1)
	r.clk.Advance(claimErrorPause)
	if got := r.wait(r.finished, "finished"); got.ID != run.ID || got.Status != jobs.StatusSucceeded {
		t.Fatalf("finished %+v", got)
	}
}

func TestLeaseFence(t *testing.T) {
	t.Parallel()
	f := newLeaseFence(t0, 3*time.Second, 300*time.Millisecond)
	if err := f.check(t0.Add(2699 * time.Millisecond)); err != nil {
		t.Fatalf("before the deadline: %v", err)
	}
	if err := f.check(t0.Add(2700 * time.Millisecond)); !errors.Is(err, ErrStartFenced) {
		t.Fatalf("at the deadline: %v", err)
	}
	f.renewed(t0.Add(time.Second))
	if err := f.check(t0.Add(3 * time.Second)); err != nil {
		t.Fatalf("after a renewal: %v", err)
	}
	f.renewed(t0) // an older renewal never moves it back
	if !f.until().Equal(t0.Add(3700 * time.Millisecond)) {
		t.Fatalf("deadline %s", f.until())
	}
}

// The executor gets the attempt's fencing token and a start gate that
// answers the lease deadline, so that it can check it at the last instant
// before spawning or sending (I10).
func TestExecGetsFenceAndStartGate(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	got := make(chan executor.Options, 1)
	r.start(Options{Workers: 1, Exec: func(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result {
		got <- o
		if o.StartGate == nil {
			return executor.Result{Status: jobs.StatusFailed, Error: "no start gate"}
		}
		return fakeExec(ctx, j, o)
	}})
	run := r.dispatch("ok", t0)
	o := <-got
	if o.Fence.RunID != run.ID || o.Fence.Attempt != 1 || o.Fence.Epoch != r.epoch || !o.ScheduledAt.Equal(t0) {
		t.Fatalf("fence %+v scheduled %s; want run %d attempt 1 epoch %d at %s", o.Fence, o.ScheduledAt, run.ID, r.epoch, t0)
	}
	if fin := r.wait(r.finished, "finished"); fin.Status != jobs.StatusSucceeded {
		t.Fatalf("finished %+v", fin)
	}
}

// slowClaimStore holds every ClaimMany until release is closed.
type slowClaimStore struct {
	storage.Store
	entered chan struct{}
	release chan struct{}
}

func (s *slowClaimStore) ClaimMany(ctx context.Context, ps []storage.ClaimParams) ([]jobs.Run, error) {
	s.entered <- struct{}{}
	<-s.release
	return s.Store.ClaimMany(ctx, ps)
}

// A claim slower than ClaimTimeout gives its doorbells back so that another
// replica can run the runs, and what it claims when it does answer still
// runs: nothing it committed is abandoned.
func TestSlowClaimHandsBackAndStillRuns(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	st := &slowClaimStore{Store: r.store, entered: make(chan struct{}, 10), release: make(chan struct{})}
	r.start(Options{Store: st, Workers: 1, Exec: fakeExec, ClaimTimeout: time.Second})
	run := r.dispatch("ok", t0)
	r.wait(chanOf(st.entered), "claim")
	<-r.clk.BlockUntil(1) // the claim's timer
	r.clk.Advance(time.Second)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if n, _ := r.queue.Len(context.Background()); n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("doorbell of a slow claim not handed back")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(st.release)
	if got := r.wait(r.finished, "finished"); got.ID != run.ID || got.Status != jobs.StatusSucceeded {
		t.Fatalf("finished %+v, want the run the slow claim won", got)
	}
}

func chanOf(c chan struct{}) chan jobs.Run {
	out := make(chan jobs.Run, 1)
	go func() {
		<-c
		out <- jobs.Run{}
	}()
	return out
}
