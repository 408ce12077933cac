package scheduler

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/tock-sched/tock/jobs"
	"github.com/tock-sched/tock/storage"
)

const placementYAML = `
defaults: {concurrency: allow}
jobs:
  - {name: bc, schedule: "* * * * *", command: ["true"], run_on: {broadcast: true, labels: {zone: a}}}
  - {name: za, schedule: "* * * * *", command: ["true"], run_on: {labels: {zone: a}}}
`

// popRoutes takes every doorbell waiting on the routes (and the general
// queue) and returns each run's route, by run id.
func (r *rig) popRoutes(routes ...string) map[int64]string {
	r.t.Helper()
	out := map[int64]string{}
	for {
		if n, _ := r.queue.Len(context.Background()); n == 0 {
			return out
		}
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		items, err := r.queue.PopMany(ctx, 100, routes...)
		cancel()
		if err != nil {
			return out // the rest waits on other routes
		}
		for _, it := range items {
			out[it.RunID] = it.Route
		}
	}
}

// TestBroadcastAndPinnedDoorbells: the leader splits a broadcast tick over
// the live matching nodes and rings each shard on its node's route, a
// label-pinned run on its labels' route; when a node stops heartbeating,
// later ticks leave it out and its queued shard is released to the labels'
// route.
func TestBroadcastAndPinnedDoorbells(t *testing.T) {
	t.Parallel()
	r := newRig(t, placementYAML)
	ctx := context.Background()
	beat := func(id string, labels jobs.Labels, at time.Time) {
		if err := r.store.UpsertNode(ctx, storage.Node{ID: id, Role: "all", Labels: labels, StartedAt: t0, Heartbeat: at}); err != nil {
			t.Fatal(err)
		}
	}
	zoneA := jobs.Labels{"zone": "a"}
	// Heartbeats as of the end of the first minute (12:01:30).
	beat("n1", zoneA, t0.Add(time.Minute))
	beat("n2", zoneA, t0.Add(time.Minute))
	beat("n3", jobs.Labels{"zone": "b"}, t0.Add(time.Minute))
	r.start()
	r.step(time.Minute) // the 12:01 tick
	r.waitQueued(2)     // ticks, not rows
	got := r.popRoutes("node:n1", "node:n2", "node:n3", "labels:zone=a")
	bc := r.runs(storage.RunFilter{Job: "bc"})
	za := r.runs(storage.RunFilter{Job: "za"})
	if len(bc) != 2 || len(za) != 1 {
		t.Fatalf("bc %d rows, za %d rows; want 2 shards and 1 run", len(bc), len(za))
	}
	want := map[int64]string{za[0].ID: "labels:zone=a"}
	var n2Shard jobs.Run
	for _, s := range bc {
		want[s.ID] = "node:" + s.PinnedNode
		if s.PinnedNode == "n2" {
			n2Shard = s
		}
	}
	if len(got) != 3 || got[za[0].ID] != want[za[0].ID] || got[bc[0].ID] != want[bc[0].ID] || got[bc[1].ID] != want[bc[1].ID] {
		t.Fatalf("doorbells by run %v, want %v", got, want)
	}
	if n2Shard.ID == 0 {
		t.Fatalf("no shard pinned to n2: %+v", bc)
	}

	// n2 stops heartbeating; n1 goes on.
	beat("n1", zoneA, t0.Add(2*time.Minute))
	r.step(time.Minute) // the 12:02 tick
	r.waitQueued(2)
	got = r.popRoutes("node:n1", "node:n2", "labels:zone=a")
	bc = r.runs(storage.RunFilter{Job: "bc"})
	var tick2 []jobs.Run
	for _, s := range bc {
		if s.ScheduledAt.Equal(t0.Add(90 * time.Second)) {
			tick2 = append(tick2, s)
		}
	}
	if len(tick2) != 1 || tick2[0].PinnedNode != "n1" || tick2[0].ShardTotal != 1 {
		t.Fatalf("12:02 shards %+v, want one, pinned to n1", tick2)
	}
	released, _, err := r.store.GetRun(ctx, n2Shard.ID)
	if err != nil {
		t.Fatal(err)
	}
	if released.PinnedNode != "" || got[n2Shard.ID] != "labels:zone=a" {
		t.Fatalf("n2's queued shard: pinned to %q, rung on %q; want released to labels:zone=a", released.PinnedNode, got[n2Shard.ID])
	}
	routes := make([]string, 0, len(got))
	for _, r := range got {
		routes = append(routes, r)
	}
	slices.Sort(routes)
	t.Logf("second minute's doorbells: %v", routes)
}
