package worker

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/jobs/executor"
	"github.com/tock-sched/tock/jobs/jobfile"
	"github.com/tock-sched/tock/storage"
)

const placementConfig = `
defaults: {concurrency: allow}
jobs:
  - {name: ok, schedule: "* * * * *", command: ["true"]}
  - {name: za, schedule: "* * * * *", command: ["true"], run_on: {labels: {zone: a}}}
  - {name: za2, schedule: "@daily", command: ["true"], run_on: {labels: {zone: a}}}
  - {name: gpu, schedule: "* * * * *", command: ["true"], run_on: {labels: {zone: a, gpu: "true"}}}
  - {name: all, schedule: "* * * * *", command: ["true"], run_on: {broadcast: true}}
`

func TestRoutes(t *testing.T) {
	t.Parallel()
	cfg, err := jobfile.Parse("t.yaml", []byte(placementConfig))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		labels jobs.Labels
		want   []string
	}{
		{nil, []string{"node:w1"}},
		{jobs.Labels{"zone": "b"}, []string{"node:w1"}},
		{jobs.Labels{"zone": "a"}, []string{"node:w1", "labels:zone=a"}},
		{jobs.Labels{"zone": "a", "gpu": "true"}, []string{"node:w1", "labels:gpu=true,zone=a", "labels:zone=a"}},
	} {
		if got := Routes(cfg, "w1", tc.labels); !slices.Equal(got, tc.want) {
			t.Errorf("Routes(%v) = %v, want %v", tc.labels, got, tc.want)
		}
	}
}

// dispatchPlaced queues a run of job as the leader would (labels and
// broadcast from the job) and rings its doorbells on its route and on the
// general queue (a leader with another config, or a forged item).
func (r *rig) dispatchPlaced(job string, at time.Time) []jobs.Run {
	r.t.Helper()
	j := r.cfg.Job(job)
	runs, err := r.store.Dispatch(context.Background(), storage.DispatchParams{Epoch: r.epoch, Now: r.clk.Now(),
		LiveSince: r.clk.Now().Add(-time.Minute), Runs: []storage.NewRun{{
			Job: j.Name, Digest: j.Digest, ScheduledAt: at, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
			MaxAttempts: j.MaxAttempts(), NotBefore: r.clk.Now(), Concurrency: j.Concurrency,
			RunOnLabels: j.RequiredLabels(), Broadcast: j.Broadcast(),
		}}})
	if err != nil || len(runs) == 0 {
		r.t.Fatalf("dispatch: %v %v", runs, err)
	}
	for _, run := range runs {
		if err := r.queue.Push(context.Background(),
			storage.QueueItem{RunID: run.ID, Job: job, Digest: j.Digest, Route: run.Route()},
			storage.QueueItem{RunID: run.ID, Job: job, Digest: j.Digest}); err != nil {
			r.t.Fatal(err)
		}
	}
	return runs
}

// TestNonMatchingWorkerNeverClaims: a replica without a job's run_on
// labels claims none of its runs, even from a doorbell on the general
// queue, and leaves the labelled doorbell for the replicas that match.
func TestNonMatchingWorkerNeverClaims(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, placementConfig)
	r.start(Options{Workers: 4, Exec: fakeExec, Labels: jobs.Labels{"zone": "b", "gpu": "true"}})
	za := r.dispatchPlaced("za", t0)[0]
	gpu := r.dispatchPlaced("gpu", t0)[0]
	// A genuine run proves the pool went past the doorbells above.
	ok := r.dispatch("ok", t0)
	for range 10 {
		if got := r.wait(r.finished, "finished"); got.ID == ok.ID {
			break
		}
		t.Fatal("a run other than ok finished")
	}
	for _, run := range []jobs.Run{za, gpu} {
		if got, atts := r.get(run.ID); got.Status != jobs.StatusQueued || got.Attempt != 0 || len(atts) != 0 {
			t.Fatalf("run %d of %s on a zone=b replica: %+v", run.ID, run.Job, got)
		}
	}
	// The labelled doorbells are still in their queues for a zone=a replica.
	got, err := r.queue.PopMany(t.Context(), 10, "labels:zone=a", "labels:gpu=true,zone=a")
	if err != nil || len(got) != 2 {
		t.Fatalf("doorbells left on the label routes: %v, %v; want 2", got, err)
	}
}

// TestMatchingWorkerRunsPinnedShard: a broadcast tick over two live nodes;
// the pool of one runs its own shard with TOCK_SHARD_INDEX/TOTAL, never the
// other node's.
func TestMatchingWorkerRunsPinnedShard(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, placementConfig)
	for _, n := range []string{"w0", "w1"} {
		if err := r.store.UpsertNode(t.Context(), storage.Node{ID: n, Role: "all", StartedAt: t0, Heartbeat: t0}); err != nil {
			t.Fatal(err)
		}
	}
	var mu sync.Mutex
	var seen []executor.Options
	exec := func(ctx context.Context, j *jobs.Job, o executor.Options) executor.Result {
		mu.Lock()
		seen = append(seen, o)
		mu.Unlock()
		return fakeExec(ctx, j, o)
	}
	r.start(Options{Workers: 4, Exec: exec})
	shards := r.dispatchPlaced("all", t0)
	if len(shards) != 2 || shards[0].PinnedNode != "w0" || shards[1].PinnedNode != "w1" {
		t.Fatalf("shards %+v, want one pinned to each of w0, w1", shards)
	}
	done := r.wait(r.finished, "finished")
	if done.ID != shards[1].ID || done.Status != jobs.StatusSucceeded {
		t.Fatalf("finished %+v, want w1's shard %d", done, shards[1].ID)
	}
	ok := r.dispatch("ok", t0)
	if got := r.wait(r.finished, "finished"); got.ID != ok.ID {
		t.Fatalf("finished run %d, want ok's %d (w0's shard must not run here)", got.ID, ok.ID)
	}
	if got, _ := r.get(shards[0].ID); got.Status != jobs.StatusQueued {
		t.Fatalf("w0's shard on w1: %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 2 || seen[0].Shard != 1 || seen[0].ShardTotal != 2 || seen[1].ShardTotal != 0 {
		t.Fatalf("executor saw %+v, want shard 1 of 2 then an ordinary run", seen)
	}
}

// TestReloadListensOnNewRoutes: a reload that adds a job this replica's
// labels match makes a pop already waiting listen on its route.
func TestReloadListensOnNewRoutes(t *testing.T) {
	t.Parallel()
	r := newIdleRig(t, testConfig)
	r.start(Options{Workers: 2, Exec: fakeExec, Labels: jobs.Labels{"zone": "a"}})
	// Let the pool block in its pop with the old routes.
	time.Sleep(50 * time.Millisecond)
	cfg, err := jobfile.Parse("t.yaml", []byte(placementConfig))
	if err != nil {
		t.Fatal(err)
	}
	r.cfg = cfg
	r.pool.SetConfig(cfg)
	j := cfg.Job("za")
	runs, err := r.store.Dispatch(t.Context(), storage.DispatchParams{Epoch: r.epoch, Now: r.clk.Now(), Runs: []storage.NewRun{{
		Job: j.Name, Digest: j.Digest, ScheduledAt: t0, Trigger: jobs.TriggerSchedule, Status: jobs.StatusQueued,
		MaxAttempts: 1, NotBefore: r.clk.Now(), RunOnLabels: j.RequiredLabels()}}})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.queue.Push(t.Context(), storage.QueueItem{RunID: runs[0].ID, Job: j.Name, Digest: j.Digest, Route: runs[0].Route()}); err != nil {
		t.Fatal(err)
	}
	if got := r.wait(r.finished, "finished"); got.ID != runs[0].ID || got.Status != jobs.StatusSucceeded {
		t.Fatalf("finished %+v, want run %d succeeded", got, runs[0].ID)
	}
}
