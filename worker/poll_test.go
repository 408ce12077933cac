package worker

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/storage"
)

var errQueueDown = errors.New("dial tcp 127.0.0.1:6379: connect: connection refused")

// downQueue is a queue that stops answering while down is set.
type downQueue struct {
	storage.Queue
	down atomic.Bool
}

func (q *downQueue) PopMany(ctx context.Context, n int, routes ...string) ([]storage.QueueItem, error) {
	if q.down.Load() {
		return nil, errQueueDown
	}
	return q.Queue.PopMany(ctx, n, routes...)
}

func (q *downQueue) Len(ctx context.Context) (int64, error) {
	if q.down.Load() {
		return 0, errQueueDown
	}
	return q.Queue.Len(ctx)
}

// queueRow inserts a queued run of job without ringing its doorbell, as a
// leader does while Redis is down.
func (r *rig) queueRow(job string, at time.Time) jobs.Run {
	r.t.Helper()
	j := r.cfg.Job(job)
	runs, err := r.store.Dispatch(context.Background(), storage.DispatchParams{Epoch: r.epoch, Now: r.clk.Now(), Runs: []storage.NewRun{{
		Job: j.Name, Digest: j.Digest, ScheduledAt: at, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
		MaxAttempts: j.MaxAttempts(), NotBefore: r.clk.Now(), Concurrency: j.Concurrency,
	}}})
	if err != nil || len(runs) != 1 {
		r.t.Fatalf("dispatch: %v %v", runs, err)
	}
	return runs[0]
}

// TestPollWhileQueueDown: with the queue unreachable the pool claims due
// runs from the store and runs each once; when the queue answers again it
// goes back to doorbells, after one more poll for the runs queued while no
// doorbell could ring.
func TestPollWhileQueueDown(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	q := &downQueue{Queue: r.queue}
	q.down.Store(true)
	polling := make(chan bool, 10)
	o := Options{Workers: 4, Exec: fakeExec, PollInterval: 500 * time.Millisecond}
	o.Events.Polling = func(on bool) { polling <- on }
	o.Store, o.Node, o.Queue, o.Clock = r.store, "w1", q, r.clk
	o.AttemptLease, o.HeartbeatInterval = 30*time.Second, 5*time.Second
	o.Events.Started = func(run jobs.Run, _ time.Duration) { r.started <- run }
	o.Events.Finished = func(run jobs.Run, _ executor.Result) { r.finished <- run }

	first := []jobs.Run{r.queueRow("ok", t0), r.queueRow("ok", t0.Add(time.Second)), r.queueRow("flaky", t0)}
	r.pool = New(r.cfg, o)
	if err := r.pool.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.pool.Stop)
	if on := waitBool(t, polling); !on {
		t.Fatal("first Polling event: false, want true")
	}
	// flaky fails and is queued again for its retry (no doorbell either):
	// four results in all.
	got := r.stepUntil(4)
	ids := map[int64]int{}
	for _, run := range got {
		ids[run.ID]++
	}
	for _, run := range first {
		want := 1
		if run.Job == "flaky" {
			want = 2
		}
		if ids[run.ID] != want {
			t.Errorf("run %d of %s: %d results while polling, want %d", run.ID, run.Job, ids[run.ID], want)
		}
		if stored, atts := r.get(run.ID); !stored.Status.Terminal() || len(atts) != want {
			t.Errorf("run %d of %s stored %s with %d attempts", run.ID, run.Job, stored.Status, len(atts))
		}
	}

	// The queue is back; a run queued meanwhile without a doorbell is
	// taken by the one poll after the switch, and doorbells work again.
	quiet := r.queueRow("ok", t0.Add(2*time.Second))
	q.down.Store(false)
	var back bool
	for deadline := time.Now().Add(10 * time.Second); !back && time.Now().Before(deadline); {
		select {
		case on := <-polling:
			back = !on
		case <-r.clk.BlockUntil(1):
			r.clk.Advance(250 * time.Millisecond)
		case <-time.After(100 * time.Millisecond):
		}
	}
	if !back {
		t.Fatal("the pool never went back to doorbells")
	}
	if run := r.stepUntil(1)[0]; run.ID != quiet.ID {
		t.Errorf("after the switch: result of run %d, want the run queued without a doorbell (%d)", run.ID, quiet.ID)
	}
	rung := r.dispatch("ok", t0.Add(3*time.Second))
	if run := r.stepUntil(1)[0]; run.ID != rung.ID {
		t.Errorf("doorbell run: result of %d, want %d", run.ID, rung.ID)
	}
}

func waitBool(t *testing.T, ch <-chan bool) bool {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no Polling event")
	}
	return false
}
